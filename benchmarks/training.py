"""Training benchmarks: mmagic's stock CycleGAN loop against ModularCycleGAN, plain and fast, and run packing.

* :func:`benchmark_training` times training iterations of every variant in one process, one after the
  other, with the same U-Net generators, PatchGAN discriminators and data, so ratios are comparable
  whatever the machine is doing at large.
* :func:`check_fast_equivalence` trains the plain and the fast ModularCycleGAN from the same weights on
  the same batches and reports how far their losses drift apart over the first iterations.
* :func:`benchmark_packing` runs K independent fast trainings at once on one device (one process each, as
  ``tools/cross_validate.py --jobs K`` does) and measures the aggregate iterations per second, from which
  :func:`protocol_hours` estimates the paper's whole cross-validation protocol.
"""
from __future__ import annotations

import contextlib
import multiprocessing as mp
import resource
import signal
import threading
import time
from collections.abc import Callable, Sequence

import torch

_ADAM = dict(lr=1e-4, betas=(0.5, 0.999))
_LC = dict(type='CycleConsistencyLoss', loss_weight=1.0)
_LAC = dict(type='AsymmetricCycleLoss', loss_weight=1.0)

#: name -> model config fields. ``fast_step`` variants run ModularCycleGAN's fast iteration (a CUDA graph
#: on GPUs, eager on CPUs).
VARIANTS = {
    'stock CycleGAN': dict(type='CycleGAN', loss_config=dict(cycle_loss_weight=1.0, id_loss_weight=0.5)),
    'Modular L_C': dict(type='ModularCycleGAN', cycle_loss=_LC),
    'Modular L_AC': dict(type='ModularCycleGAN', cycle_loss=_LAC),
    'fast L_C': dict(type='ModularCycleGAN', cycle_loss=_LC, fast_step=dict()),
    'fast L_AC': dict(type='ModularCycleGAN', cycle_loss=_LAC, fast_step=dict()),
}
#: The paper's protocol: 2 losses x 3 weights x 5 folds x 8 repetitions, 16 epochs each; an epoch of the
#: default cohort at batch size 1 is about 900 iterations (configs/_base_/thigh_cyclegan.py).
PROTOCOL = dict(runs=240, epochs=16, iters_per_epoch=900)


def _device(device: str) -> torch.device:
    if device == 'auto':
        return torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    return torch.device(device)


def amp_dtype_name(device: torch.device) -> str:
    """``'bf16'`` or ``'fp16'``: what ``amp=True`` autocasts to on ``device`` (see ``default_amp_dtype``)."""
    from mmac.training.optim_wrappers import default_amp_dtype

    return {'bfloat16': 'bf16', 'float16': 'fp16'}[default_amp_dtype(device)]


def _sync(device: torch.device) -> None:
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def _peak_mb(device: torch.device) -> float:
    if device.type == 'cuda':
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10


def build_variant(variant: dict, size: int, base_channels: int, num_down: int, device: torch.device,
                  amp: bool = False, channels_last: bool = False, seed: int = 0):
    """Build a variant's model (initialised from ``seed``) and its two optimizer wrappers on ``device``.

    Returns:
        ``(model, optim_wrapper_dict)``.
    """
    from mmengine.optim import OptimWrapper, OptimWrapperDict
    from mmengine.registry import init_default_scope

    from mmac.registry import register_all_modules

    register_all_modules()
    from mmagic.registry import MODELS

    from mmac.training.optim_wrappers import AutocastOptimWrapper

    init_default_scope('mmagic')
    variant = dict(variant)
    if 'fast_step' in variant:
        variant['fast_step'] = dict(variant['fast_step'], channels_last=channels_last)
    cfg = dict(
        variant,
        data_preprocessor=dict(type='DataPreprocessor'),
        generator=dict(type='UNetGenerator', num_down=num_down, base_channels=base_channels),
        discriminator=dict(type='PatchDiscriminator', in_channels=1, base_channels=base_channels, num_conv=3,
                           norm_cfg=dict(type='IN'), init_cfg=dict(type='normal', gain=0.02)),
        default_domain='healthy', reachable_domains=['healthy', 'pathological'],
        related_domains=['healthy', 'pathological'])
    torch.manual_seed(seed)
    model = MODELS.build(cfg)
    if variant['type'] == 'ModularCycleGAN':
        # mmagic's CycleGAN.init_weights fails on PatchDiscriminator (see ModularCycleGAN.init_weights); the
        # stock model keeps its construction-time initialisation, which does not change the timing.
        model.init_weights()
    model = model.to(device)
    wrapper = (lambda opt: AutocastOptimWrapper(opt, dtype='auto')) if amp else OptimWrapper
    optim = OptimWrapperDict(
        generators=wrapper(torch.optim.Adam(model.generators.parameters(), **_ADAM)),
        discriminators=wrapper(torch.optim.Adam(model.discriminators.parameters(), **_ADAM)))
    return model, optim


def make_batches(n: int, batch_size: int, size: int, device: torch.device, seed: int = 1) -> list[dict]:
    """``n`` random batches of both domains, (batch_size, 1, size, size) in [0, 255], on ``device``."""
    from mmagic.structures import DataSample

    g = torch.Generator().manual_seed(seed)
    return [dict(inputs={k: (torch.rand(batch_size, 1, size, size, generator=g) * 255).to(device)
                         for k in ('img_healthy', 'img_pathological')},
                 data_samples=[DataSample() for _ in range(batch_size)]) for _ in range(n)]


def _train(model, optim, batches: Sequence[dict], start: int = 0) -> list[dict[str, torch.Tensor]]:
    from mmengine import MessageHub

    hub = MessageHub.get_current_instance()
    logs = []
    for i, data in enumerate(batches):
        hub.update_info('iter', start + i)
        logs.append(model.train_step(dict(inputs=dict(data['inputs']), data_samples=data['data_samples']),
                                     optim))
    hub.update_info('iter', None)
    return logs


def benchmark_training(size: int = 64, base_channels: int = 16, num_down: int = 6,
                       batch_sizes: Sequence[int] = (1, 4), iters: int = 10, warmup: int = 5,
                       device: str = 'auto', amp: bool = False, channels_last: bool = False,
                       variants: Sequence[str] | None = None,
                       on_row: Callable[[dict], None] | None = None) -> list[dict]:
    """Time training iterations of every variant at every batch size.

    Args:
        size: Slice height and width (divisible by ``2**num_down``).
        base_channels: U-Net and PatchGAN base channels (64 is the paper's network).
        num_down: U-Net levels (8 for 256 x 256).
        batch_sizes: Batch sizes to time.
        iters: Timed iterations per variant and batch size.
        warmup: Untimed iterations first (the fast variants capture their graph after 3 of them).
        device: ``'cuda'``, ``'cpu'`` or ``'auto'``.
        amp: Autocast in both optimizer wrappers: bf16 where the device supports it, else fp16 with dynamic
            loss scaling (the fast variants then run eagerly).
        channels_last: channels_last memory format in the fast variants.
        variants: Names from :data:`VARIANTS` (default: all).
        on_row: Called with each row as soon as it is measured (a run cut short still reports those).

    Returns:
        One dict per (variant, batch size): ``variant, batch_size, ms_per_iter, iters_per_s, slices_per_s,
        peak_mem_mb`` (GPU: peak allocated; CPU: the process's peak RSS so far), ``device``.
    """
    names = list(VARIANTS) if variants is None else list(variants)
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        raise ValueError(f"unknown benchmark variant(s) {unknown}; choose from {list(VARIANTS)}")
    dev = _device(device)
    if dev.type == 'cuda':
        torch.backends.cudnn.benchmark = True
    rows = []
    for batch_size in batch_sizes:
        batches = make_batches(warmup + iters, batch_size, size, dev)
        for name in names:
            model, optim = build_variant(VARIANTS[name], size, base_channels, num_down, dev, amp, channels_last)
            if dev.type == 'cuda':
                torch.cuda.reset_peak_memory_stats(dev)
            _train(model, optim, batches[:warmup])
            _sync(dev)
            start = time.perf_counter()
            _train(model, optim, batches[warmup:], start=warmup)
            _sync(dev)
            seconds = (time.perf_counter() - start) / iters
            rows.append(dict(variant=name, batch_size=batch_size, ms_per_iter=1000 * seconds,
                             iters_per_s=1 / seconds, slices_per_s=batch_size / seconds,
                             peak_mem_mb=_peak_mb(dev), device=str(dev)))
            if on_row is not None:
                on_row(rows[-1])
            del model, optim
    return rows


def format_rows(rows: list[dict]) -> str:
    """A table with each variant's speed-up over the stock loop and L_AC's time over L_C's (same family)."""
    lines = [f"{'variant':<16} {'batch':>5} {'ms/iter':>9} {'it/s':>8} {'slices/s':>9} {'peak MB':>8} "
             f"{'vs stock':>9} {'L_AC/L_C':>9}"]
    for bs in sorted({r['batch_size'] for r in rows}):
        at = {r['variant']: r for r in rows if r['batch_size'] == bs}
        stock = at.get('stock CycleGAN')
        for name, r in at.items():
            speed = f"x{stock['ms_per_iter'] / r['ms_per_iter']:.2f}" if stock else ''
            partner = name.replace('L_AC', 'L_C')
            ratio = (f"{r['ms_per_iter'] / at[partner]['ms_per_iter']:.2f}"
                     if name.endswith('L_AC') and partner in at else '')
            lines.append(f"{name:<16} {bs:>5} {r['ms_per_iter']:>9.1f} {r['iters_per_s']:>8.2f} "
                         f"{r['slices_per_s']:>9.1f} {r['peak_mem_mb']:>8.0f} {speed:>9} {ratio:>9}")
    return '\n'.join(lines)


#: Relative size of one rounding of the compute dtype: the perturbation of the rounding reference run.
_ROUNDING = {'fp64': 2.0 ** -52, 'fp32': 2.0 ** -23, 'bf16': 2.0 ** -8, 'fp16': 2.0 ** -10}


@contextlib.contextmanager
def _exact_kernels():
    """cuDNN deterministic and not autotuned, no TF32, while inside: fp32 means fp32, one algorithm per shape."""
    cudnn, matmul = torch.backends.cudnn, torch.backends.cuda.matmul
    saved = cudnn.benchmark, cudnn.deterministic, cudnn.allow_tf32, matmul.allow_tf32
    cudnn.benchmark, cudnn.deterministic, cudnn.allow_tf32, matmul.allow_tf32 = False, True, False, False
    try:
        yield
    finally:
        cudnn.benchmark, cudnn.deterministic, cudnn.allow_tf32, matmul.allow_tf32 = saved


def _rel_diffs(want: list[dict[str, torch.Tensor]], got: list[dict[str, torch.Tensor]]) -> list[tuple]:
    """Per iteration, ``(largest |got - want| / max(|want|, 1e-3) over the logged losses, its loss name)``."""
    out = []
    for w, g in zip(want, got, strict=True):
        rel = {k: float((g[k].double() - w[k].double()).abs() / w[k].double().abs().clamp_min(1e-3)) for k in w}
        worst = max(rel, key=rel.get)
        out.append((rel[worst], worst))
    return out


def check_fast_equivalence(size: int = 64, base_channels: int = 16, num_down: int = 6, batch_size: int = 1,
                           iters: int = 8, device: str = 'auto', amp: bool = False, channels_last: bool = False,
                           first_tolerance: float | None = None, drift_factor: float = 10.0,
                           fp64: bool = False) -> dict:
    """Check the fast ModularCycleGAN (L_AC) against the plain one, from the same weights on the same batches.

    Batching the network calls changes only the order of float operations; GAN training with Adam then
    amplifies those roundings over the iterations (Adam divides near-zero gradients, e.g. of a conv bias
    followed by an instance norm, by their own size). Measured on a CPU at 64 x 64, 32 base channels: the
    batched path is 1.2e-7 from the plain one at iteration 0 and 2.5e-2 by iteration 6, two plain runs whose
    weights differ by one float32 rounding drift just as far (3.1e-2 by iteration 7), and in float64 the batched
    and the plain path stay within 3e-15 over 8 iterations. So the check has three parts:

    1. ``exact``: the fast step with ``batch_forwards=False`` and ``cuda_graph=False`` runs the plain path's
       expressions: every logged loss equal bit for bit.
    2. ``first``: the fast step as benchmarked (batched; CUDA graph on a GPU) at iteration 0, before any
       update can amplify a rounding: relative difference <= ``first_tolerance``.
    3. ``drift``: at every later iteration, relative difference <= ``first_tolerance + drift_factor *`` the
       largest drift so far of a rounding reference, a plain run whose starting weights are scaled by
       ``1 + u`` (``u`` one rounding of the compute dtype: 2^-23 fp32, 2^-8 bf16, 2^-52 fp64).

    ``fp64=True`` runs all of it in float64: a difference that is rounding then shrinks by about 2^29, a
    different computation does not.

    The check runs with deterministic cuDNN and TF32 off (restored afterwards); ``iters * batch_size`` stays
    below the image pools' 50 images, so every pool still returns its input and all runs see the same
    discriminator inputs.

    Args:
        size, base_channels, num_down, device, amp, channels_last: As :func:`benchmark_training`.
        batch_size: Images per domain and iteration.
        iters: Iterations compared.
        first_tolerance: Bound of part 2, and the floor of part 3. Defaults to 1e-5 (fp32), 2e-2 (``amp``) or
            1e-12 (``fp64``).
        drift_factor: Factor on the rounding reference in part 3. Defaults to 10.
        fp64: Models and images in float64 (not with ``amp``). Defaults to False.

    Returns:
        ``ok`` (all three parts hold), ``exact_ok``, ``exact_max_abs_diff``, ``first_ok``, ``first_rel_diff``,
        ``first_tolerance``, ``drift_ok``, ``drift`` / ``reference`` / ``bound`` (per iteration; ``bound[0]`` is
        ``first_tolerance``), ``worst`` (iteration and loss name of the largest drift over its bound),
        ``perturbation``, ``iters``, ``graphed`` (whether the benchmarked run replayed a CUDA graph), ``fp64``.

    Raises:
        ValueError: ``iters * batch_size`` >= 50, ``iters`` < 2, or ``fp64`` with ``amp``.
    """
    if iters * batch_size >= 50:
        raise ValueError(f"check_fast_equivalence: iters x batch_size must stay below the image pool size "
                         f"50, got {iters} x {batch_size}")
    if iters < 2:
        raise ValueError(f"check_fast_equivalence: iters must be >= 2 (a first iteration and a later one), "
                         f"got {iters}")
    if fp64 and amp:
        raise ValueError("check_fast_equivalence: fp64 and amp exclude each other")
    dev = _device(device)
    dtype_name = 'fp64' if fp64 else amp_dtype_name(dev) if amp else 'fp32'
    if first_tolerance is None:
        first_tolerance = {'fp64': 1e-12, 'fp32': 1e-5}.get(dtype_name, 2e-2)
    perturbation = _ROUNDING[dtype_name]
    batches = make_batches(iters, batch_size, size, dev, seed=7)
    if fp64:
        for b in batches:
            b['inputs'] = {k: v.double() for k, v in b['inputs'].items()}

    def build(variant: dict, layout: bool):
        model, optim = build_variant(variant, size, base_channels, num_down, dev, amp, layout)
        return (model.double() if fp64 else model), optim

    def train(variant: dict, weights: dict, layout: bool, scale: float = 1.0):
        model, optim = build(variant, layout)
        model.load_state_dict(weights)
        if scale != 1.0:
            with torch.no_grad():
                for p in model.parameters():
                    p.mul_(scale)
        return model, _train(model, optim, batches)

    with _exact_kernels():
        plain, plain_optim = build(VARIANTS['Modular L_AC'], False)
        weights = {k: v.clone() for k, v in plain.state_dict().items()}
        want = _train(plain, plain_optim, batches)
        exact_variant = dict(VARIANTS['fast L_AC'], fast_step=dict(cuda_graph=False, batch_forwards=False))
        _, exact = train(exact_variant, weights, False)
        fast, got = train(VARIANTS['fast L_AC'], weights, channels_last)
        _, reference = train(VARIANTS['Modular L_AC'], weights, False, scale=1.0 + perturbation)
    exact_diff = max(float((e[k].double() - w[k].double()).abs()) for e, w in zip(exact, want, strict=True) for k in w)
    drift, ref = _rel_diffs(want, got), [r for r, _ in _rel_diffs(want, reference)]
    bound = [first_tolerance] + [first_tolerance + drift_factor * max(ref[:i + 1]) for i in range(1, iters)]
    over = [d / b for (d, _), b in zip(drift, bound, strict=True)]
    worst = max(range(iters), key=over.__getitem__)
    first_ok = drift[0][0] <= first_tolerance
    drift_ok = all(d <= b for (d, _), b in zip(drift[1:], bound[1:], strict=True))
    return dict(ok=exact_diff == 0 and first_ok and drift_ok, exact_ok=exact_diff == 0,
                exact_max_abs_diff=exact_diff, first_ok=first_ok, first_rel_diff=drift[0][0],
                first_tolerance=first_tolerance, drift_ok=drift_ok, drift=[d for d, _ in drift], reference=ref,
                bound=bound, worst=(worst, drift[worst][1]), perturbation=perturbation, iters=iters,
                graphed=fast.graphed_step.captured, fp64=fp64)


def _pack_worker(index: int, kwargs: dict, barrier, queue) -> None:
    try:
        dev = _device(kwargs['device'])
        if dev.type == 'cpu':  # split the cores between the jobs, as tools/cross_validate.py does
            from mmac._cpu import threads_per_job

            torch.set_num_threads(threads_per_job(kwargs['jobs']))
        model, optim = build_variant(VARIANTS['fast L_AC'], kwargs['size'], kwargs['base_channels'],
                                     kwargs['num_down'], dev, kwargs['amp'], kwargs['channels_last'],
                                     seed=index)
        batches = make_batches(kwargs['warmup'] + kwargs['iters'], 1, kwargs['size'], dev, seed=100 + index)
        _train(model, optim, batches[:kwargs['warmup']])
        _sync(dev)
        barrier.wait()
        start = time.time()
        _train(model, optim, batches[kwargs['warmup']:], start=kwargs['warmup'])
        _sync(dev)
        queue.put((index, start, time.time(), None))
    except BaseException as exc:  # report, and release the others from the barrier
        barrier.abort()
        queue.put((index, None, None, f"{type(exc).__name__}: {exc}"))


@contextlib.contextmanager
def _terminate_on_sigterm():
    """Turn SIGTERM into SystemExit while inside (main thread only), so that ``finally`` blocks run."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def benchmark_packing(jobs: Sequence[int] = (1, 2, 4), size: int = 64, base_channels: int = 16,
                      num_down: int = 6, iters: int = 20, warmup: int = 5, device: str = 'auto',
                      amp: bool = False, channels_last: bool = False,
                      on_row: Callable[[dict], None] | None = None) -> list[dict]:
    """Aggregate throughput of K batch-size-1 fast L_AC trainings running at once, one process each.

    Every process builds its model and warms up (graph capture included), then all start together; the
    aggregate rate is ``K * iters`` over the time from the common start to the last process's end.

    Returns:
        One dict per K: ``jobs, iters_per_s`` (aggregate), ``per_run_iters_per_s``, ``protocol_hours``
        (:func:`protocol_hours` at that rate). ``on_row`` is called with each as soon as it is measured.
    """
    ctx = mp.get_context('spawn')
    kwargs = dict(size=size, base_channels=base_channels, num_down=num_down, iters=iters, warmup=warmup,
                  device=device, amp=amp, channels_last=channels_last)
    rows = []
    for k in jobs:
        if k < 1:
            raise ValueError(f"jobs must be >= 1, got {k}")
        kwargs['jobs'] = k
        barrier, queue = ctx.Barrier(k), ctx.Queue()
        procs = [ctx.Process(target=_pack_worker, args=(i, kwargs, barrier, queue)) for i in range(k)]
        try:
            with _terminate_on_sigterm():
                for p in procs:
                    p.start()
                results = [queue.get() for _ in procs]
        finally:  # stopped (a time limit's SIGTERM, Ctrl-C) or failed: no job outlives the benchmark
            for p in procs:
                if p.is_alive():
                    p.terminate()
                p.join()
        errors = [f"job {i}: {err}" for i, _, _, err in results if err is not None]
        if errors:
            raise RuntimeError("packing benchmark failed: " + '; '.join(errors))
        elapsed = max(end for _, _, end, _ in results) - min(start for _, start, _, _ in results)
        rate = k * iters / elapsed
        rows.append(dict(jobs=k, iters_per_s=rate, per_run_iters_per_s=rate / k, protocol_hours=protocol_hours(rate)))
        if on_row is not None:
            on_row(rows[-1])
    return rows


def protocol_hours(iters_per_s: float, runs: int = PROTOCOL['runs'], epochs: int = PROTOCOL['epochs'],
                   iters_per_epoch: int = PROTOCOL['iters_per_epoch']) -> float:
    """Hours of training for the protocol at an aggregate rate of ``iters_per_s`` (validation not counted)."""
    if iters_per_s <= 0:
        raise ValueError(f"iters_per_s must be > 0, got {iters_per_s}")
    return runs * epochs * iters_per_epoch / iters_per_s / 3600
