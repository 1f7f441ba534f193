"""Generators and the loss-injectable CycleGAN; ``ModularCycleGAN`` (mmagic) is imported on first use."""
from mmac.models.unet import UNetGenerator

__all__ = ["UNetGenerator"]


def __getattr__(name: str):
    if name == "ModularCycleGAN":  # needs mmagic: imported only when asked for
        from mmac.models.modular_cyclegan import ModularCycleGAN

        return ModularCycleGAN
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
