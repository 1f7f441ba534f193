"""pix2pix's weight initialisation, shared by the U-Net generator and the PatchGAN discriminator (pure torch)."""
from __future__ import annotations

from torch import Tensor, nn

__all__ = ["INIT_TYPES", "pix2pix_init"]

INIT_TYPES = ("normal", "xavier", "kaiming", "orthogonal")


def _raw_weight(module: nn.Module) -> Tensor:
    """The weight to draw: under a parametrisation (spectral norm) its unconstrained original."""
    if nn.utils.parametrize.is_parametrized(module, "weight"):
        return module.parametrizations.weight.original
    return module.weight


def pix2pix_init(root: nn.Module, kind: str = "normal", gain: float = 0.02) -> None:
    """(Re)initialise ``root`` in place as pix2pix's ``init_weights`` does.

    Conv and linear weights: N(0, gain) (``'normal'``), Xavier normal with ``gain``, Kaiming normal (fan in;
    ``gain`` unused) or orthogonal with ``gain``; their biases zero. Norm layers with affine weights: weight
    N(1, gain), bias zero. A parametrised weight (spectral norm) has its original drawn.

    Raises:
        ValueError: ``kind`` not in :data:`INIT_TYPES`.
    """
    if kind not in INIT_TYPES:
        raise ValueError(f"init type must be one of {INIT_TYPES}, got {kind!r}")
    for module in root.modules():
        if isinstance(module, (nn.modules.conv._ConvNd, nn.Linear)):
            weight = _raw_weight(module)
            if kind == "normal":
                nn.init.normal_(weight, 0.0, gain)
            elif kind == "xavier":
                nn.init.xavier_normal_(weight, gain=gain)
            elif kind == "kaiming":
                nn.init.kaiming_normal_(weight, a=0, mode="fan_in")
            else:
                nn.init.orthogonal_(weight, gain=gain)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.modules.batchnorm._NormBase) and module.weight is not None:
            nn.init.normal_(module.weight, 1.0, gain)
            nn.init.zeros_(module.bias)
