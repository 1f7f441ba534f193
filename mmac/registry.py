"""Registration into mmagic's registries that keeps the pure core importable without mmagic.

Modules of the pure core (losses, U-Net, transforms) decorate their classes with :func:`register`; when
mmagic is installed the class is registered into the named mmagic registry at its definition, and when it
is not, the class is left as it is so that plain PyTorch users can still import it.
"""
from __future__ import annotations

from typing import Callable, TypeVar

from mmac._compat import check_stack, has_mmagic

T = TypeVar("T")
_REGISTRIES = ("MODELS", "DATASETS", "TRANSFORMS", "METRICS", "HOOKS")


def get_registry(name: str):
    """Return mmagic's registry called ``name`` (one of MODELS, DATASETS, TRANSFORMS, METRICS, HOOKS)."""
    if name not in _REGISTRIES:
        raise ValueError(f"unknown registry {name!r}; allowed: {', '.join(_REGISTRIES)}")
    check_stack(require_mmagic=True)
    import mmagic.registry

    return getattr(mmagic.registry, name)


def register(registry: str, force: bool = False) -> Callable[[T], T]:
    """Class decorator: register into mmagic's ``registry`` when mmagic is installed, else do nothing.

    Args:
        registry: Name of the mmagic registry, e.g. ``'MODELS'``.
        force: Replace a component of the same name. Defaults to False.
    """
    if registry not in _REGISTRIES:
        raise ValueError(f"unknown registry {registry!r}; allowed: {', '.join(_REGISTRIES)}")

    def decorator(cls: T) -> T:
        if has_mmagic():
            get_registry(registry).register_module(force=force)(cls)
        return cls

    return decorator
