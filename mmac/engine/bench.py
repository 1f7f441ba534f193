"""Training-iteration benchmark: mmagic's stock CycleGAN against ModularCycleGAN with L_C and L_AC.

All three use the same U-Net generators and PatchGAN discriminators and run in one process, one after the
other, so their ratios are comparable whatever the machine is doing at large.
"""
from __future__ import annotations

import resource
import time
from typing import Dict, List, Sequence

import torch

VARIANTS = {
    'stock CycleGAN': dict(type='CycleGAN', loss_config=dict(cycle_loss_weight=1.0, id_loss_weight=0.5)),
    'ModularCycleGAN L_C': dict(type='ModularCycleGAN',
                                cycle_loss=dict(type='CycleConsistencyLoss', loss_weight=1.0)),
    'ModularCycleGAN L_AC': dict(type='ModularCycleGAN',
                                 cycle_loss=dict(type='AsymmetricCycleLoss', loss_weight=1.0)),
}


def _model_cfg(variant: dict, size: int, base_channels: int, num_down: int) -> dict:
    return dict(
        variant,
        data_preprocessor=dict(type='DataPreprocessor'),
        generator=dict(type='UNetGenerator', num_down=num_down, base_channels=base_channels),
        discriminator=dict(type='PatchDiscriminator', in_channels=1, base_channels=base_channels, num_conv=3,
                           norm_cfg=dict(type='IN'), init_cfg=dict(type='normal', gain=0.02)),
        default_domain='healthy', reachable_domains=['healthy', 'pathological'],
        related_domains=['healthy', 'pathological'])


def _sync(device: torch.device) -> None:
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def benchmark_training(size: int = 64, base_channels: int = 16, num_down: int = 6,
                       batch_sizes: Sequence[int] = (1, 4), iters: int = 10, warmup: int = 3,
                       device: str = 'auto', amp: bool = False) -> List[Dict]:
    """Time training iterations of every variant at every batch size.

    Args:
        size: Slice height and width (divisible by ``2**num_down``).
        base_channels: U-Net and PatchGAN base channels (64 is the paper's network).
        num_down: U-Net levels (8 for 256 x 256).
        batch_sizes: Batch sizes to time.
        iters: Timed iterations per variant and batch size.
        warmup: Untimed iterations first.
        device: ``'cuda'``, ``'cpu'`` or ``'auto'``.
        amp: bf16 autocast in both optimizer wrappers.

    Returns:
        One dict per (variant, batch size): ``variant, batch_size, ms_per_iter, iters_per_s, slices_per_s,
        peak_mem_mb`` (GPU: peak allocated; CPU: the process's peak RSS so far).
    """
    from mmengine import MessageHub
    from mmengine.optim import OptimWrapper, OptimWrapperDict
    from mmengine.registry import init_default_scope

    import mmac  # noqa: F401
    from mmagic.registry import MODELS
    from mmagic.structures import DataSample

    from mmac.engine.optim_wrappers import AutocastOptimWrapper

    init_default_scope('mmagic')
    dev = torch.device('cuda' if device == 'auto' and torch.cuda.is_available() else
                       ('cpu' if device == 'auto' else device))
    wrapper = (lambda opt: AutocastOptimWrapper(opt, dtype='bfloat16')) if amp else OptimWrapper
    hub = MessageHub.get_current_instance()
    rows = []
    for batch_size in batch_sizes:
        for name, variant in VARIANTS.items():
            torch.manual_seed(0)
            model = MODELS.build(_model_cfg(variant, size, base_channels, num_down)).to(dev)
            if variant['type'] == 'ModularCycleGAN':
                # mmagic's CycleGAN.init_weights fails on PatchDiscriminator (see ModularCycleGAN.init_weights);
                # the stock model keeps its construction-time initialisation, which does not change the timing.
                model.init_weights()
            optim = OptimWrapperDict(
                generators=wrapper(torch.optim.Adam(model.generators.parameters(), lr=1e-4, betas=(0.5, 0.999))),
                discriminators=wrapper(torch.optim.Adam(model.discriminators.parameters(), lr=1e-4,
                                                        betas=(0.5, 0.999))))
            g = torch.Generator().manual_seed(1)
            data = dict(inputs={k: (torch.rand(batch_size, 1, size, size, generator=g) * 255).to(dev)
                                for k in ('img_healthy', 'img_pathological')},
                        data_samples=[DataSample() for _ in range(batch_size)])
            if dev.type == 'cuda':
                torch.cuda.reset_peak_memory_stats(dev)
            for it in range(warmup):
                hub.update_info('iter', it)
                model.train_step(data, optim)
            _sync(dev)
            start = time.perf_counter()
            for it in range(warmup, warmup + iters):
                hub.update_info('iter', it)
                model.train_step(data, optim)
            _sync(dev)
            seconds = (time.perf_counter() - start) / iters
            peak = (torch.cuda.max_memory_allocated(dev) if dev.type == 'cuda'
                    else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024) / 2**20
            rows.append(dict(variant=name, batch_size=batch_size, ms_per_iter=1000 * seconds,
                             iters_per_s=1 / seconds, slices_per_s=batch_size / seconds, peak_mem_mb=peak,
                             device=str(dev)))
            del model, optim
    hub.update_info('iter', None)
    return rows


def format_rows(rows: List[Dict]) -> str:
    """A table with the ratios against the stock loop and L_AC against L_C at each batch size."""
    lines = [f"{'variant':<22} {'batch':>5} {'ms/iter':>9} {'it/s':>7} {'slices/s':>9} {'peak MB':>8} "
             f"{'vs stock':>9} {'L_AC/L_C':>9}"]
    for bs in sorted({r['batch_size'] for r in rows}):
        at = {r['variant']: r for r in rows if r['batch_size'] == bs}
        stock = at['stock CycleGAN']['ms_per_iter']
        for name, r in at.items():
            speed = f"x{stock / r['ms_per_iter']:.2f}"
            ratio = (f"{r['ms_per_iter'] / at['ModularCycleGAN L_C']['ms_per_iter']:.2f}"
                     if name == 'ModularCycleGAN L_AC' else '')
            lines.append(f"{name:<22} {bs:>5} {r['ms_per_iter']:>9.1f} {r['iters_per_s']:>7.2f} "
                         f"{r['slices_per_s']:>9.1f} {r['peak_mem_mb']:>8.0f} {speed:>9} {ratio:>9}")
    return '\n'.join(lines)
