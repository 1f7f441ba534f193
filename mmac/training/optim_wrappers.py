"""Mixed precision for multi-optimizer GAN configs.

mmagic's ``--amp`` sets ``optim_wrapper.type = 'AmpOptimWrapper'`` on the top-level dict only; a CycleGAN
config holds one wrapper per network group (``generators``, ``discriminators``) without a ``type``, so the
flag silently does nothing. :func:`enable_amp` switches every wrapper of a config, and
:class:`AutocastOptimWrapper` runs autocast on any device (mmengine's ``AmpOptimWrapper`` refuses CPUs): bf16
where the device computes in it (no loss scaling needed, fp32's exponent range), fp16 with dynamic loss scaling
(``torch.amp.GradScaler``, Micikevicius et al., "Mixed Precision Training", ICLR 2018) elsewhere.
"""
from __future__ import annotations

import contextlib

import torch
import torch.nn as nn
from mmengine.optim import OptimWrapper

from mmac.registry import register

_DTYPES = {'bfloat16': torch.bfloat16, 'float16': torch.float16}
#: Allowed values of ``AutocastOptimWrapper(dtype=...)`` and ``enable_amp(dtype=...)``.
AMP_DTYPES = ('auto', 'bfloat16', 'float16')


def default_amp_dtype(device: torch.device | str) -> str:
    """The autocast dtype ``'auto'`` picks on ``device``: ``'bfloat16'`` where supported, else ``'float16'``.

    CPUs compute in bf16; a CUDA device does when ``torch.cuda.is_bf16_supported()`` (compute capability 8.0
    and newer: A100, H100, ...); older GPUs (V100, T4) get fp16, which needs loss scaling.
    """
    device = torch.device(device)
    if device.type == 'cuda':
        with torch.cuda.device(device):
            return 'bfloat16' if torch.cuda.is_bf16_supported() else 'float16'
    return 'bfloat16'


@register("OPTIM_WRAPPERS")
class AutocastOptimWrapper(OptimWrapper):
    """An optimizer wrapper whose ``optim_context`` runs the forward pass under ``torch.autocast``.

    With fp16 the loss is scaled dynamically (``torch.amp.GradScaler`` on the parameters' device): the
    scaled loss is back-propagated, the step unscales the gradients and skips the update when they hold
    inf/NaN, and the scale follows. Its state is saved beside the optimizer's under ``'loss_scaler'``.

    Args:
        dtype: ``'auto'`` (bf16 where the parameters' device supports it, else fp16; see
            :func:`default_amp_dtype`), ``'bfloat16'`` or ``'float16'``. Defaults to ``'bfloat16'``.
        loss_scale: fp16 only: ``'dynamic'`` (default), a fixed float scale, or a dict of
            ``torch.amp.GradScaler`` arguments. Ignored for bf16.
        **kwargs: Passed to :class:`mmengine.optim.OptimWrapper` (``optimizer`` ...).

    Attributes:
        cast_dtype: The resolved autocast dtype.
        loss_scaler: The ``GradScaler`` (fp16), or None (bf16).

    Raises:
        ValueError: ``dtype`` not in ``AMP_DTYPES``.
        TypeError: ``loss_scale`` of another type.
    """

    def __init__(self, *args, dtype: str = 'bfloat16', loss_scale: str | float | dict = 'dynamic',
                 **kwargs):
        super().__init__(*args, **kwargs)
        if dtype not in AMP_DTYPES:
            raise ValueError(f"AutocastOptimWrapper dtype must be one of {AMP_DTYPES}, got {dtype!r}")
        device = next((p.device for g in self.optimizer.param_groups for p in g['params']), torch.device('cpu'))
        if dtype == 'auto':
            dtype = default_amp_dtype(device)
        self.cast_dtype = _DTYPES[dtype]
        self._scale_update: float | None = None
        self.loss_scaler: torch.amp.GradScaler | None = None
        if self.cast_dtype == torch.float16:
            if loss_scale == 'dynamic':
                self.loss_scaler = torch.amp.GradScaler(device.type)
            elif isinstance(loss_scale, float):
                self._scale_update = loss_scale
                self.loss_scaler = torch.amp.GradScaler(device.type, init_scale=loss_scale)
            elif isinstance(loss_scale, dict):
                self.loss_scaler = torch.amp.GradScaler(device.type, **loss_scale)
            else:
                raise TypeError(f"AutocastOptimWrapper loss_scale must be 'dynamic', a float or a dict, got "
                                f"{loss_scale!r}")

    @contextlib.contextmanager
    def optim_context(self, model: nn.Module):
        device = next((p.device.type for p in model.parameters()), 'cpu')
        with super().optim_context(model), torch.autocast(device_type=device, dtype=self.cast_dtype):
            yield

    def backward(self, loss: torch.Tensor, **kwargs) -> None:
        """Back-propagate ``loss`` (scaled by the loss scaler with fp16)."""
        if self.loss_scaler is not None:
            loss = self.loss_scaler.scale(loss)
        super().backward(loss, **kwargs)

    def step(self, **kwargs) -> None:
        """Step the optimizer; with fp16 through the loss scaler (skipped on inf/NaN gradients), then rescale."""
        if self.loss_scaler is None:
            return super().step(**kwargs)
        if self.clip_grad_kwargs:
            self.loss_scaler.unscale_(self.optimizer)
            self._clip_grad()
        self.loss_scaler.step(self.optimizer, **kwargs)
        self.loss_scaler.update(self._scale_update)

    def state_dict(self) -> dict:
        """The optimizer's state, plus ``'loss_scaler'`` with fp16."""
        state = super().state_dict()
        if self.loss_scaler is not None:
            state['loss_scaler'] = self.loss_scaler.state_dict()
        return state

    def load_state_dict(self, state_dict: dict) -> None:
        """Load the optimizer's state and (fp16, when saved) the loss scaler's."""
        state_dict = dict(state_dict)
        scaler = state_dict.pop('loss_scaler', None)
        if scaler is not None and self.loss_scaler is not None:
            self.loss_scaler.load_state_dict(scaler)
        super().load_state_dict(state_dict)


def _is_wrapper_cfg(cfg) -> bool:
    return isinstance(cfg, dict) and 'optimizer' in cfg


def enable_amp(cfg, dtype: str = 'auto') -> list[str]:
    """Switch every optimizer wrapper of ``cfg.optim_wrapper`` to :class:`AutocastOptimWrapper` (in place).

    Handles a single wrapper (``optim_wrapper=dict(optimizer=...)``) and a dict of wrappers
    (``optim_wrapper=dict(generators=dict(optimizer=...), discriminators=dict(optimizer=...))``). A ``dtype``
    already in a wrapper's config (``--cfg-options optim_wrapper.generators.dtype=float16``) is kept.

    Args:
        cfg: An mmengine ``Config``.
        dtype: Autocast dtype, one of ``AMP_DTYPES``. Defaults to ``'auto'``: bf16 where the device supports
            it, else fp16 with dynamic loss scaling (resolved when the wrapper is built on the model's device).

    Returns:
        The names of the wrappers switched (``'optim_wrapper'`` for a single one).

    Raises:
        ValueError: ``cfg`` has no optimizer wrapper, a wrapper already has another type, or an unknown dtype.
    """
    if dtype not in AMP_DTYPES:
        raise ValueError(f"--amp dtype must be one of {AMP_DTYPES}, got {dtype!r}")
    wrappers = cfg.get('optim_wrapper')
    if not isinstance(wrappers, dict):
        raise ValueError("--amp: the config has no `optim_wrapper` to switch to mixed precision")
    targets = {'optim_wrapper': wrappers} if _is_wrapper_cfg(wrappers) else {
        name: sub for name, sub in wrappers.items() if _is_wrapper_cfg(sub)}
    if not targets:
        raise ValueError("--amp: `optim_wrapper` holds no wrapper with an `optimizer`; nothing to switch")
    for name, sub in targets.items():
        current = sub.get('type', 'OptimWrapper')
        if current not in ('OptimWrapper', 'AutocastOptimWrapper', 'AmpOptimWrapper'):
            raise ValueError(f"--amp: optim_wrapper '{name}' has type {current!r}; only OptimWrapper can be "
                             "switched to mixed precision")
        if current != 'AmpOptimWrapper':
            sub['type'] = 'AutocastOptimWrapper'
            sub['dtype'] = sub.get('dtype', dtype)
            if sub['dtype'] not in AMP_DTYPES:
                raise ValueError(f"--amp: optim_wrapper '{name}' has dtype {sub['dtype']!r}; allowed: {AMP_DTYPES}")
    return list(targets)
