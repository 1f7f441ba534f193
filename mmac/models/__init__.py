"""Generators and the loss-injectable CycleGAN (the latter needs mmagic)."""
from mmac._compat import has_mmagic
from mmac.models.unet import UNetGenerator

__all__ = ["UNetGenerator"]

if has_mmagic():
    from mmac.models.modular_cyclegan import ModularCycleGAN  # noqa: F401

    __all__.append("ModularCycleGAN")
