"""Generators, the latent encoder of a stochastic generator, discriminators and the loss-injectable CycleGAN
(``ModularCycleGAN``, imported on first use)."""
from mmac.models.discriminator import HistogramPatchDiscriminator
from mmac.models.latent_encoder import LatentEncoder
from mmac.models.unet import UNetGenerator

__all__ = ["HistogramPatchDiscriminator", "LatentEncoder", "UNetGenerator"]


def __getattr__(name: str):
    if name == "ModularCycleGAN":  # needs mmagic: imported only when asked for
        from mmac.models.modular_cyclegan import ModularCycleGAN

        return ModularCycleGAN
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
