"""ModularCycleGAN's fast training iteration as its own unit: batched network calls, an on-device image pool
and, on a GPU, the whole iteration captured in one CUDA graph.

PyTorch's CUDA-graph recipe for whole-network capture ("CUDA Graphs", PyTorch documentation; Nguyen et al.,
"Accelerating PyTorch with CUDA Graphs", 2021) applied to a CycleGAN iteration: :class:`FastCycleGANStep`
steps the wrapped torch optimizers directly instead of going through mmengine's optimizer wrappers, keeps the
discriminators' image history on the device (:class:`~mmac.training.image_pool.DeviceImagePool`) and hands the
iteration to :class:`~mmac.training.graphed_step.GraphedStep`. The losses are the model's own expressions
(``forward_cycles``, ``batched_generator_outputs``, ``generator_losses``, ``discriminator_losses``), taken from
the model it is given; the updates follow its ``update_order``.

The config is the model's ``fast_step`` dict (:data:`FAST_STEP_DEFAULTS`, checked by
:func:`check_fast_step_cfg`):

* ``cuda_graph``: True, False or ``'auto'`` (capture when the model is on a GPU, not distributed, has no
  module that syncs with the host and no fp16 loss scaling; a failed capture then warns and goes on eagerly).
* ``channels_last``: convert the model and its inputs to channels_last. Defaults to False.
* ``warmup``: eager iterations before the capture. Defaults to 3.
* ``batch_forwards``: run all inputs of a network in one call (2 generator calls per iteration for L_AC,
  3 for L_C, one per discriminator); ``'auto'`` does so when no layer uses batch statistics
  (:func:`batch_statistics_modules`), where the result is the same up to rounding.
"""
from __future__ import annotations

import contextlib
import warnings
from collections.abc import Mapping

import torch
import torch.distributed as dist
from mmagic.models.utils import set_requires_grad
from mmengine.optim import OptimWrapper

from mmac._validate import check_choice
from mmac.training.graphed_step import GraphedStep
from mmac.training.guards import average_gradients, check_finite
from mmac.training.image_pool import DeviceImagePool
from mmac.training.optim_wrappers import AutocastOptimWrapper

Tensor = torch.Tensor

#: Keys of ``ModularCycleGAN(fast_step=...)`` and their defaults.
FAST_STEP_DEFAULTS = dict(cuda_graph='auto', channels_last=False, warmup=3, batch_forwards='auto')


def batch_statistics_modules(module: torch.nn.Module) -> list[str]:
    """Names of submodules whose results for one sample depend on the others in the batch.

    Batch norms (every ``_BatchNorm``, ``SyncBatchNorm`` included) normalise with batch statistics; an
    instance norm with ``track_running_stats=True`` normalises each sample alone but updates its running
    statistics once per call with the batch mean, so one batched call and several separate ones leave
    different running statistics (what evaluation then uses).
    """
    return [name for name, m in module.named_modules()
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)
            or (isinstance(m, torch.nn.modules.instancenorm._InstanceNorm) and m.track_running_stats)]


def host_sync_modules(module: torch.nn.Module) -> list[str]:
    """Names of submodules whose training forward reads a device value on the host (no graph capture).

    A batch norm with ``momentum=None`` keeps a cumulative average: its factor is
    ``1 / float(num_batches_tracked)``, a host synchronisation at every call.
    """
    return [name for name, m in module.named_modules()
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and m.momentum is None and m.track_running_stats]


def check_fast_step_cfg(fast_step: dict | None, model) -> dict | None:
    """Validate a model's ``fast_step`` dict and fill in its defaults (``batch_forwards='auto'`` resolved).

    Args:
        fast_step: The config, or None (plain training).
        model: The ``ModularCycleGAN`` it configures (its modules and discriminator schedule are checked).

    Returns:
        The complete config, or None.

    Raises:
        ValueError: An unknown key, a value outside the allowed ones, ``batch_forwards=True`` with
            batch-statistics layers, or a discriminator schedule the fast step cannot run.
    """
    if fast_step is None:
        return None
    unknown = sorted(set(fast_step) - set(FAST_STEP_DEFAULTS))
    if unknown:
        raise ValueError(f"fast_step has unknown key(s) {unknown}; allowed: {sorted(FAST_STEP_DEFAULTS)}")
    cfg = dict(FAST_STEP_DEFAULTS, **fast_step)
    for key in ('cuda_graph', 'batch_forwards'):  # check_choice: 1 and 0 are not True and False here
        check_choice(cfg[key], (True, False, 'auto'), f'fast_step.{key}')
    batch_norms = batch_statistics_modules(model)
    if cfg['batch_forwards'] == 'auto':
        cfg['batch_forwards'] = not batch_norms
    elif cfg['batch_forwards'] and batch_norms:
        raise ValueError(f"fast_step.batch_forwards=True would change the maths: {batch_norms[:3]} normalise "
                         "with batch statistics; use instance norm (norm_cfg=dict(type='IN')) or "
                         "batch_forwards=False")
    if not isinstance(cfg['warmup'], int) or cfg['warmup'] < 1:
        raise ValueError(f"fast_step.warmup must be an int >= 1, got {cfg['warmup']!r}")
    if model.discriminator_steps != 1 or model.disc_init_steps != 0:
        raise ValueError(f"fast_step needs discriminator_steps=1 and disc_init_steps=0, got "
                         f"{model.discriminator_steps} and {model.disc_init_steps}")
    return cfg


def graph_enabled(cfg: dict, module: torch.nn.Module, device: torch.device, distributed: bool) -> bool:
    """Whether the fast step captures a CUDA graph, from ``cfg['cuda_graph']``, the device and the modules.

    Raises:
        ValueError: ``cuda_graph=True`` off CUDA, in multi-process training, or with a module that
            synchronises with the host.
    """
    graph = cfg['cuda_graph']
    blocking = host_sync_modules(module)
    if graph == 'auto':
        if device.type == 'cuda' and not distributed and blocking:
            warnings.warn(f"fast_step.cuda_graph='auto': no CUDA graph, {blocking[:3]} are batch norms with "
                          "momentum=None, whose cumulative average reads the batch count on the host; the "
                          "fast step runs eagerly", RuntimeWarning, stacklevel=2)
        return device.type == 'cuda' and not distributed and not blocking
    if graph and device.type != 'cuda':
        raise ValueError(f"fast_step.cuda_graph=True needs the model on a CUDA device, it is on {device}")
    if graph and distributed:
        raise ValueError("fast_step.cuda_graph=True is not supported in multi-process training; use "
                         "cuda_graph='auto' (eager fast step there)")
    if graph and blocking:
        raise ValueError(f"fast_step.cuda_graph=True cannot capture {blocking[:3]}: batch norms with "
                         "momentum=None read their batch count on the host at every call; give them a "
                         "momentum (e.g. 0.1) or set fast_step.cuda_graph='auto' or False")
    return bool(graph)


def graph_with_loss_scaling(cfg: dict, graph: bool, wrappers: Mapping[str, OptimWrapper]) -> bool:
    """``graph``, unless a wrapper scales fp16 losses: its ``GradScaler`` reads its inf check on the host.

    Args:
        cfg: The fast-step config.
        graph: Whether the graph would be captured otherwise.
        wrappers: The optimizer wrappers by name (``'generators'``, ``'discriminators'``).

    Raises:
        ValueError: ``cuda_graph=True`` with a wrapper that scales its loss.
    """
    scaled = [name for name, wrapper in wrappers.items() if getattr(wrapper, 'loss_scaler', None) is not None]
    if not (graph and scaled):
        return graph
    if cfg['cuda_graph'] is True:
        raise ValueError(f"fast_step.cuda_graph=True cannot capture fp16 loss scaling: optim_wrapper.{scaled[0]} "
                         "autocasts to float16 with a GradScaler, whose step reads its inf check on the host; "
                         f"set optim_wrapper.{scaled[0]}.dtype='bfloat16' (or 'auto' on a GPU with bf16), or "
                         "fast_step.cuda_graph='auto' or False to train eagerly")
    warnings.warn(f"fast_step.cuda_graph='auto': no CUDA graph, optim_wrapper.{scaled[0]} scales fp16 losses, "
                  "which needs a host sync per step; the fast step runs eagerly", RuntimeWarning, stacklevel=2)
    return False


def check_wrapper(name: str, wrapper: OptimWrapper) -> None:
    """Refuse a wrapper whose machinery the fast step would skip.

    Raises:
        ValueError: Not an ``OptimWrapper`` / ``AutocastOptimWrapper``, or gradient accumulation or clipping.
    """
    if type(wrapper) not in (OptimWrapper, AutocastOptimWrapper):
        raise ValueError(f"fast_step supports OptimWrapper and AutocastOptimWrapper (--amp), but "
                         f"optim_wrapper.{name} is {type(wrapper).__name__}; remove fast_step from the model "
                         "config to train through it")
    if wrapper._accumulative_counts != 1 or wrapper.clip_grad_kwargs:
        raise ValueError(f"fast_step does not accumulate or clip gradients; optim_wrapper.{name} has "
                         f"accumulative_counts={wrapper._accumulative_counts}, "
                         f"clip_grad={wrapper.clip_grad_kwargs or None}")


def _autocast(wrapper: OptimWrapper, device: torch.device, graph: bool):
    if isinstance(wrapper, AutocastOptimWrapper):
        # Eager, the weight-cast cache is kept as in the plain path, whose gradient rounding it then
        # matches bit for bit; under capture it is off, as PyTorch advises for graphs with autocast.
        return torch.autocast(device_type=device.type, dtype=wrapper.cast_dtype, cache_enabled=not graph)
    return contextlib.nullcontext()


class FastCycleGANStep:
    """One fast training iteration of a ``ModularCycleGAN``; see the module docstring.

    Building it (at the first fast iteration, when the model's device is known) checks the wrappers, decides
    on the CUDA graph, converts the model to channels_last if asked, replaces the model's image buffers by
    :class:`~mmac.training.image_pool.DeviceImagePool` and builds the :class:`GraphedStep`.

    Args:
        model: The ``ModularCycleGAN``; its networks, losses, ``update_order``, ``buffer_size`` and
            ``check_finite`` are used.
        optim_wrapper: Its wrappers under ``'generators'`` and ``'discriminators'``.
        cfg: The complete fast-step config (:func:`check_fast_step_cfg`).
        device: The device of the model and its inputs.

    Attributes:
        graphed: The :class:`GraphedStep` running the iteration (``graphed.enabled``: capturing a graph).
    """

    def __init__(self, model, optim_wrapper: Mapping[str, OptimWrapper], cfg: dict, device: torch.device):
        self.model = model
        self.cfg = cfg
        wrappers = {name: optim_wrapper[name] for name in ('generators', 'discriminators')}
        for name, wrapper in wrappers.items():
            check_wrapper(name, wrapper)
        distributed = dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1
        graph = graph_with_loss_scaling(cfg, graph_enabled(cfg, model, device, distributed), wrappers)
        if cfg['channels_last']:
            model.to(memory_format=torch.channels_last)
        model.image_buffers = {d: DeviceImagePool(model.buffer_size) for d in model.domains}
        self._gen_wrapper, self._disc_wrapper = wrappers['generators'], wrappers['discriminators']
        self._gen_cast = _autocast(self._gen_wrapper, device, graph)
        self._disc_cast = _autocast(self._disc_wrapper, device, graph)
        self.graphed = GraphedStep(self._body, [w.optimizer for w in wrappers.values()], enabled=graph,
                                   warmup=cfg['warmup'], fallback=cfg['cuda_graph'] == 'auto')

    def _update(self, wrapper: OptimWrapper, losses: dict[str, Tensor], module: torch.nn.Module) -> dict[str, Tensor]:
        """Back-propagate the total loss (scaled with fp16), average gradients over ranks, step; detached
        log values."""
        optimizer, scaler = wrapper.optimizer, getattr(wrapper, 'loss_scaler', None)
        total, log_vars = self.model.parse_losses(losses)
        (total if scaler is None else scaler.scale(total)).backward()
        average_gradients(module.parameters())
        if scaler is None:
            optimizer.step()
        else:  # eager only: the scaler's inf check is read on the host
            scaler.step(optimizer)
            scaler.update(wrapper._scale_update)
        optimizer.zero_grad(set_to_none=True)
        return {k: v.detach() for k, v in log_vars.items()}

    def _body(self, real: dict[str, Tensor]) -> dict[str, Tensor]:
        """The iteration on ``real`` (images per domain, each (N, C, H, W)); returns the logged losses, ``loss_g``
        and ``loss_d``."""
        model = self.model
        gens_first = model.update_order == 'generators_first'

        def generator_losses() -> dict[str, Tensor]:
            set_requires_grad(model.discriminators, False)
            try:
                return model.generator_losses(real, fake, reconstructions, identities)
            finally:
                set_requires_grad(model.discriminators, True)

        with self._gen_cast:
            if self.cfg['batch_forwards']:
                fake, reconstructions, identities = model.batched_generator_outputs(real)
            else:
                (fake, reconstructions), identities = model.forward_cycles(real), None
            if gens_first:
                gen_losses = generator_losses()
        if gens_first:
            gen_log = self._update(self._gen_wrapper, gen_losses, model.generators)
        with self._disc_cast:
            disc_losses = model.discriminator_losses(real, fake, batched=self.cfg['batch_forwards'])
        disc_log = self._update(self._disc_wrapper, disc_losses, model.discriminators)
        if not gens_first:
            with self._gen_cast:
                gen_losses = generator_losses()
            gen_log = self._update(self._gen_wrapper, gen_losses, model.generators)
        return dict(model.name_total(gen_log, 'loss_g'), **model.name_total(disc_log, 'loss_d'))

    def __call__(self, real: dict[str, Tensor], iteration: int | None) -> dict[str, Tensor]:
        """Run one iteration on the preprocessed ``real`` images per domain, each (N, C, H, W).

        Returns:
            Detached copies of the logged values (the graph's outputs are overwritten by the next replay).

        Raises:
            NonFiniteLossError: A logged loss term is NaN/inf (with ``model.check_finite``).
        """
        if self.cfg['channels_last']:
            real = {d: v.contiguous(memory_format=torch.channels_last) if v.dim() == 4 else v
                    for d, v in real.items()}
        log_vars = {k: v.clone() for k, v in self.graphed(real).items()}
        if self.model.check_finite:
            # The whole iteration ran as one unit, so a non-finite loss is caught after its optimizer steps;
            # stopping here still comes before any hook, so no checkpoint holds the poisoned weights.
            check_finite({k: v for k, v in log_vars.items() if k not in ('loss_g', 'loss_d')}, iteration)
        return log_vars
