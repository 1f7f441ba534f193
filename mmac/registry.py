"""Registration into mmagic's registries, done when asked for, never as a side effect of importing the pure core.

OpenMMLab projects register through the configs: ``custom_imports = dict(imports=['mmac.registration'],
allow_failed_imports=False)`` imports :mod:`mmac.registration`, which calls :func:`register_all_modules`
(plain-Python users call it themselves, as with ``mmagic.utils.register_all_modules``).

Modules of the pure core (losses, U-Net, transforms) mark their classes with :func:`register`. The mark only
records the class, so that importing them loads neither mmagic nor mmcv and plain PyTorch users can still use
them; :func:`register_all_modules` checks the stack, imports every module that defines a component and
registers the recorded classes. Modules that need mmagic anyway (``models/modular_cyclegan.py``,
``evaluation/metrics.py``, ...) register with mmagic's decorators at their definition.
"""
from __future__ import annotations

import importlib
import sys
import warnings
from collections.abc import Callable
from typing import TypeVar

from mmac._compat import apply_numpy2_shim, check_stack
from mmac._validate import check_choice

T = TypeVar("T")
REGISTRIES = ("MODELS", "DATASETS", "TRANSFORMS", "METRICS", "HOOKS", "OPTIM_WRAPPERS")
# Every module that defines a registered component; register_all_modules() imports them all.
COMPONENT_MODULES = (
    "mmac.losses.cycle",  # CycleConsistencyLoss, AsymmetricCycleLoss
    "mmac.losses.adversarial",  # LSGANLoss, LogLikelihoodGANLoss
    "mmac.losses.fidelity",  # TranslationFidelityLoss
    "mmac.losses.fixed_point",  # FixedPointLoss
    "mmac.losses.extrapolated_cycle",  # ExtrapolatedCycleLoss
    "mmac.losses.latent_cycle",  # LatentCycleLoss
    "mmac.losses.multiscale",  # MultiScaleL1Loss
    "mmac.models.unet",  # UNetGenerator
    "mmac.models.latent_encoder",  # LatentEncoder
    "mmac.models.discriminator",  # HistogramPatchDiscriminator
    "mmac.models.modular_cyclegan",  # ModularCycleGAN
    "mmac.datasets.transforms",  # RandomRot90, RandomFlip2D
    "mmac.datasets.thigh_mr",  # ThighMRDataset, PackDomainInputs
    "mmac.evaluation.metrics",  # ThresholdDiceMetric
    "mmac.evaluation.hooks",  # ThresholdDiceHook
    "mmac.training.optim_wrappers",  # AutocastOptimWrapper
    "mmac.training.visualization",  # CycleVisualizationHook
    "mmac.training.loss_schedule",  # LossWeightScheduleHook
)

_pending: list[tuple[str, type, bool]] = []  # (registry, class, force) marked but not yet registered


def get_registry(name: str):
    """Return mmagic's registry called ``name`` (one of :data:`REGISTRIES`); imports mmagic."""
    check_choice(name, REGISTRIES, "registry")
    import mmagic.registry

    return getattr(mmagic.registry, name)


def register(registry: str, force: bool = False) -> Callable[[T], T]:
    """Class decorator: mark a class for mmagic's ``registry``; :func:`register_all_modules` registers it.

    The one registration style of mmac's components. Importing a marked module imports nothing of mmagic (the
    pure core stays usable without it); once mmagic's registries are loaded (a module that imports mmagic
    itself, or after :func:`register_all_modules`), a marked class is registered at once, as mmagic's own
    ``@MODELS.register_module()`` would.

    Args:
        registry: Name of the mmagic registry, e.g. ``'MODELS'``.
        force: Replace a component of the same name. Defaults to False.

    Raises:
        ValueError: ``registry`` is not one of :data:`REGISTRIES`.
    """
    check_choice(registry, REGISTRIES, "registry")

    def decorator(cls: T) -> T:
        _pending.append((registry, cls, force))
        if "mmagic.registry" in sys.modules:  # mmagic is loaded (by register_all_modules, too): register now
            _register_pending()
        return cls

    return decorator


def _register_pending() -> None:
    while _pending:
        registry, cls, force = _pending.pop(0)
        target = get_registry(registry)
        if target.module_dict.get(cls.__name__) is not cls:  # registering twice is a no-op, not a KeyError
            target.register_module(force=force)(cls)


def register_all_modules(init_default_scope: bool = False) -> None:
    """Register every mmac component into mmagic's registries (idempotent).

    Checks the installed stack first (:func:`mmac._compat.check_stack`), so that a wrong environment gives
    one message naming the fix instead of a deep import error, and makes mmengine load local checkpoints
    with ``weights_only=True`` (:func:`mmac.checkpoint.install_checkpoint_loader`).

    Args:
        init_default_scope: Also set mmengine's default scope to ``'mmagic'``, so that ``MODELS.build`` finds
            mmagic's own components. Defaults to False.

    Raises:
        mmac._compat.StackError: mmagic, mmcv (with ops) or mmengine missing or of an unsupported version.
    """
    apply_numpy2_shim()  # before anything imports mmagic (see mmac._compat)
    check_stack(require_mmagic=True)
    with warnings.catch_warnings():
        # mmagic imports diffusers/transformers, which warn about torch APIs they use; not ours to fix.
        warnings.filterwarnings("ignore", category=FutureWarning, module=r"(transformers|diffusers)\.")
        for module in COMPONENT_MODULES:
            importlib.import_module(module)
    _register_pending()
    from mmac.checkpoint import install_checkpoint_loader

    install_checkpoint_loader()
    if init_default_scope:
        from mmengine.registry import init_default_scope as set_scope

        set_scope("mmagic")
