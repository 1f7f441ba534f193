"""Mixed precision for multi-optimizer GAN configs.

mmagic's ``--amp`` sets ``optim_wrapper.type = 'AmpOptimWrapper'`` on the top-level dict only; a CycleGAN
config holds one wrapper per network group (``generators``, ``discriminators``) without a ``type``, so the
flag silently does nothing. :func:`enable_amp` switches every wrapper of a config, and
:class:`AutocastOptimWrapper` runs bf16 autocast on any device (mmengine's ``AmpOptimWrapper`` refuses CPUs).
"""
from __future__ import annotations

import contextlib

import torch
import torch.nn as nn
from mmengine.optim import OptimWrapper

from mmagic.registry import OPTIM_WRAPPERS

_DTYPES = {'bfloat16': torch.bfloat16, 'float16': torch.float16}


@OPTIM_WRAPPERS.register_module()
class AutocastOptimWrapper(OptimWrapper):
    """An optimizer wrapper whose ``optim_context`` runs the forward pass under ``torch.autocast``.

    bf16 keeps fp32's exponent range, so no loss scaling is needed; on CUDA with ``dtype='float16'`` use
    mmengine's ``AmpOptimWrapper`` (it scales the loss) instead.

    Args:
        dtype: ``'bfloat16'`` (default) or ``'float16'`` (CUDA only, then without loss scaling).
        **kwargs: Passed to :class:`mmengine.optim.OptimWrapper`.
    """

    def __init__(self, *args, dtype: str = 'bfloat16', **kwargs):
        super().__init__(*args, **kwargs)
        if dtype not in _DTYPES:
            raise ValueError(f"AutocastOptimWrapper dtype must be one of {sorted(_DTYPES)}, got {dtype!r}")
        self.cast_dtype = _DTYPES[dtype]

    @contextlib.contextmanager
    def optim_context(self, model: nn.Module):
        device = next((p.device.type for p in model.parameters()), 'cpu')
        with super().optim_context(model), torch.autocast(device_type=device, dtype=self.cast_dtype):
            yield


def _is_wrapper_cfg(cfg) -> bool:
    return isinstance(cfg, dict) and 'optimizer' in cfg


def enable_amp(cfg, dtype: str = 'bfloat16') -> list[str]:
    """Switch every optimizer wrapper of ``cfg.optim_wrapper`` to :class:`AutocastOptimWrapper` (in place).

    Handles a single wrapper (``optim_wrapper=dict(optimizer=...)``) and a dict of wrappers
    (``optim_wrapper=dict(generators=dict(optimizer=...), discriminators=dict(optimizer=...))``).

    Args:
        cfg: An mmengine ``Config``.
        dtype: Autocast dtype. Defaults to ``'bfloat16'``.

    Returns:
        The names of the wrappers switched (``'optim_wrapper'`` for a single one).

    Raises:
        ValueError: ``cfg`` has no optimizer wrapper, or a wrapper already has another type.
    """
    if dtype not in _DTYPES:
        raise ValueError(f"--amp dtype must be one of {sorted(_DTYPES)}, got {dtype!r}")
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
            sub['dtype'] = dtype
    return list(targets)
