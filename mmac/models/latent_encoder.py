"""An encoder from an image to a Gaussian posterior over a coarse latent map, the code of a stochastic generator.

Augmented CycleGAN (Almahairi et al., ICML 2018) makes the many-to-one direction's inverse one-to-many: the
generator G: Y -> X takes a latent code beside the healthy slice, and an encoder infers from a real pathological
slice x the code with which G gives x back. Here the code is a map on a grid
``stride`` times coarser than the image, the grid on which :class:`~mmac.models.unet.UNetGenerator` draws its
noise (``noise_stride``), so that a code inferred from x and a code drawn from the prior enter G the same way.
The encoder returns the mean and log-variance of a diagonal Gaussian (a variational encoder, as BicycleGAN's,
Zhu et al., NeurIPS 2017), which a KL term pulls towards the prior G samples from
(:mod:`mmac.losses.latent_cycle`).

Pure torch; registered in mmagic's ``MODELS`` when mmagic is loaded.
"""
from __future__ import annotations

from torch import Tensor, nn

from mmac._validate import check_int
from mmac.registry import register

#: The log-variance is clamped to this range: exp(10) is far beyond the prior's variance, exp(-10) a point code.
LOGVAR_RANGE = (-10.0, 10.0)


@register("MODELS")
class LatentEncoder(nn.Module):
    """Strided convolutions from (N, in_channels, H, W) to a Gaussian over (N, latent_channels, H/stride, W/stride).

    ``log2(stride)`` blocks of a 4x4 convolution of stride 2 and LeakyReLU(0.2) (widths ``base_channels``,
    doubling up to 4 times as many), then a 3x3 convolution to the mean and log-variance. No normalisation: the
    code must carry how much pathology a slice has, which an instance norm would divide away.

    Args:
        in_channels: Channels of the input slice. Defaults to 1.
        latent_channels: Channels of the code; the generator's ``noise_channels``. Defaults to 2.
        stride: How much coarser the code's grid is than the image, a power of 2 >= 2; the generator's
            ``noise_stride``. Defaults to 8.
        base_channels: Width of the first block. Defaults to 16.

    Raises:
        TypeError: A count that is not an integer.
        ValueError: A count < 1, or ``stride`` not a power of 2 >= 2.
    """

    def __init__(self, in_channels: int = 1, latent_channels: int = 2, stride: int = 8,
                 base_channels: int = 16) -> None:
        super().__init__()
        self.in_channels = check_int(in_channels, "in_channels", minimum=1)
        self.latent_channels = check_int(latent_channels, "latent_channels", minimum=1)
        self.stride = check_int(stride, "stride", minimum=2)
        if self.stride & (self.stride - 1):
            raise ValueError(f"stride must be a power of 2 >= 2 (the generator's noise grid), got {stride}")
        self.base_channels = check_int(base_channels, "base_channels", minimum=1)
        layers, cin = [], self.in_channels
        for level in range(self.stride.bit_length() - 1):
            cout = self.base_channels * min(2 ** level, 4)
            layers += [nn.Conv2d(cin, cout, kernel_size=4, stride=2, padding=1), nn.LeakyReLU(0.2)]
            cin = cout
        self.body = nn.Sequential(*layers)
        self.head = nn.Conv2d(cin, 2 * self.latent_channels, kernel_size=3, padding=1)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Encode ``x``.

        Args:
            x: (N, in_channels, H, W), H and W multiples of ``stride``.

        Returns:
            ``(mean, logvar)``, each (N, latent_channels, H / stride, W / stride); ``logvar`` in
            :data:`LOGVAR_RANGE`.

        Raises:
            ValueError: Wrong channels or a size not divisible by ``stride``.
        """
        if x.ndim != 4 or x.shape[1] != self.in_channels or x.shape[2] % self.stride or x.shape[3] % self.stride:
            raise ValueError(f"LatentEncoder(in_channels={self.in_channels}, stride={self.stride}) expects "
                             f"(N, {self.in_channels}, H, W) with H and W multiples of {self.stride}, got shape "
                             f"{tuple(x.shape)}")
        mean, logvar = self.head(self.body(x)).chunk(2, dim=1)  # (N, 2 * latent, h, w) -> two (N, latent, h, w)
        return mean, logvar.clamp(*LOGVAR_RANGE)

    def extra_repr(self) -> str:
        return (f"in_channels={self.in_channels}, latent_channels={self.latent_channels}, stride={self.stride}, "
                f"base_channels={self.base_channels}")
