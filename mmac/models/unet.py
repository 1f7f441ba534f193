"""The skip-connection U-Net generator of pix2pix / CycleGAN, for 2D slices or 3D volumes.

Follows ``UnetGenerator`` of junyanz/pytorch-CycleGAN-and-pix2pix (Isola et al., "Image-to-Image Translation
with Conditional Adversarial Networks", CVPR 2017; Ronneberger et al., MICCAI 2015), which Gadermayr et al.
(ISBI 2021) use for F and G ("unet_256" is ``num_down=8``):

* level i (0 = outermost) goes down by a 4x4 conv of stride 2 from C_{i-1} to C_i = base * min(2**i, 8)
  channels (C_{-1} = in_channels), after LeakyReLU(0.2) and followed by a norm, except that the outermost
  level has neither and the innermost no norm;
* it comes up by ReLU and a 4x4 transposed conv of stride 2 back to C_{i-1} channels (out_channels at
  level 0) followed by a norm, or by Tanh at the outermost level; all but the innermost level take the
  concatenation of the skip and the level below, 2 * C_i channels;
* with ``use_dropout``, Dropout(0.5) follows the up-path norm of every level between C_i = 8 * base and the
  innermost level (3 levels for num_down=8).

Unlike mmagic's ``UnetGenerator``, which builds 5 levels whenever ``num_down < 5``, this one builds exactly
``num_down`` levels and checks the input size. Written as one list of down and one of up blocks rather than
nested blocks: the function is that of the reference (its in-place LeakyReLU also changes the skip tensor,
but the ReLU that follows on the way up makes the result the same), its state dict keys are not.

Norms follow pix2pix: ``'IN'`` is InstanceNorm with ``affine=False, track_running_stats=False`` and convs with
bias; ``'BN'`` is BatchNorm (affine, running statistics) and convs without bias, which the norm makes
redundant. The outermost up conv always has a bias. (With IN the bias of a conv followed by a norm is
cancelled by the mean subtraction too; it is kept so that the parameters are those of pix2pix, 54,403,457 for
the 1-channel unet_256.)
"""
from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn

from mmac._validate import check_choice, check_int, check_type
from mmac.models.init import INIT_TYPES, pix2pix_init
from mmac.registry import register

_CONV = {2: nn.Conv2d, 3: nn.Conv3d}
_CONV_T = {2: nn.ConvTranspose2d, 3: nn.ConvTranspose3d}
_NORM = {("IN", 2): nn.InstanceNorm2d, ("IN", 3): nn.InstanceNorm3d,
         ("BN", 2): nn.BatchNorm2d, ("BN", 3): nn.BatchNorm3d}
_NORM_DEFAULTS = {"IN": dict(affine=False, track_running_stats=False), "BN": dict(affine=True)}
_UPSAMPLING = ("transposed", "bilinear")


class _GatedChange(nn.Module):
    """(N, 2C, *S) -> (N, C, *S): ``tanh(r) * sigmoid(m)`` with r the first C channels and m the last C."""

    def forward(self, x: Tensor) -> Tensor:
        change, gate = x.chunk(2, dim=1)
        return torch.tanh(change) * torch.sigmoid(gate)


@register("MODELS")
class UNetGenerator(nn.Module):
    """pix2pix-style U-Net with ``num_down`` stride-2 levels, tanh output.

    Args:
        in_channels: Channels of the input image. Defaults to 1.
        out_channels: Channels of the output image. Defaults to 1.
        num_down: Number of downsampling levels, >= 2; inputs must have every spatial size divisible by
            ``2**num_down`` (8 levels and 256 x 256 inputs give the 1 x 1 bottleneck of pix2pix's unet_256).
            Defaults to 8.
        base_channels: Channels after the first conv; deeper levels double them up to 8 times as many.
            Defaults to 64.
        norm_cfg: ``dict(type='IN')`` or ``dict(type='BN')``; other keys go to the norm layer, e.g.
            ``dict(type='IN', affine=True)``. Defaults to ``dict(type='IN')``.
        use_dropout: Dropout(0.5) in the inner levels with 8 * base_channels, as pix2pix. Defaults to False.
        dims: 2 for images (N, C, H, W), 3 for volumes (N, C, D, H, W). Defaults to 2.
        init_cfg: ``dict(type=..., gain=...)`` with type 'normal' (N(0, gain) conv weights, N(1, gain) norm
            weights, zero biases), 'xavier', 'kaiming' or 'orthogonal'; None means
            ``dict(type='normal', gain=0.02)``, mmagic's and pix2pix's default. Applied at construction and
            again by :meth:`init_weights`. Defaults to None.
        residual: Return ``x + U(x)`` instead of ``U(x)``: the network learns the change to its input, so it
            starts near the identity and keeps every structure it does not change (fine anatomy, noise).
            pix2pix's U-Net has no full-resolution path and needs thousands of iterations to reproduce a
            slice; with short trainings it returns blurred slices. The output is then in (-2, 2) and not
            clipped (a clip would stop gradients); inference clips to the data range. Needs
            ``in_channels == out_channels``. Defaults to False (the paper's generator).
        full_resolution: Give the network a full-resolution stage, as Ronneberger's U-Net has: the outermost
            up level returns ``base_channels`` features (norm, ReLU) instead of the image, which are
            concatenated with the input and mapped to the output by two 3x3 convolutions (norm and ReLU
            between them). pix2pix's outermost level draws every output pixel from the half-resolution
            features through one 4x4 transposed convolution, so it cannot change one pixel without its
            neighbours (at 64 px the phantom's moth-eaten fat blobs are 1-2 px). Defaults to False.
        upsampling: ``'transposed'`` (pix2pix: 4x4 transposed convolution of stride 2) or ``'bilinear'``
            (bilinear (trilinear) upsampling by 2, then a 3x3 convolution), which cannot make the checkerboard
            pattern of overlapping transposed-convolution kernels (Odena et al., Distill 2016). Defaults to
            ``'transposed'``.
        gated: With ``residual``, return ``x + sigmoid(m) * tanh(r)``: the last layer gives twice the output
            channels, a change r and a gate m per pixel (attention-guided translation, Mejjati et al., NeurIPS
            2018). A closed gate (m far below 0) leaves a pixel exactly as it was, a state the network can
            reach and stay in, where an ungated change must be driven to 0 itself. Defaults to False.
        noise_channels: Channels of standard-normal noise concatenated to the input on every call, so that one
            input maps to many outputs (a stochastic generator, as the one-to-many generator of augmented
            CycleGAN, Almahairi et al., ICML 2018, takes a latent code). Not in the paper: its G can make only
            one pathology per healthy slice. The noise is drawn on a grid ``noise_stride`` times coarser and
            upsampled (bilinear), so each draw is a smooth pattern at the scale of fat patches, from torch's
            generator (seeded runs repeat). Defaults to 0 (deterministic, the paper's generator).
        noise_stride: Spatial stride of the noise grid, >= 1, dividing every input size. Defaults to 8.

    Raises:
        TypeError: ``num_down`` or a channel count not an integer (numpy integers are accepted, bools are
            not), ``norm_cfg`` not a dict, ``residual``, ``full_resolution`` or ``gated`` not a bool.
        ValueError: ``num_down`` < 2, non-positive channels, unknown norm type, ``dims`` not 2 or 3, unknown
            init type, ``residual`` with different input and output channels, ``gated`` without ``residual``.
    """

    def __init__(self, in_channels: int = 1, out_channels: int = 1, num_down: int = 8, base_channels: int = 64,
                 norm_cfg: Mapping | None = None, use_dropout: bool = False, dims: int = 2,
                 init_cfg: Mapping | None = None, residual: bool = False, full_resolution: bool = False,
                 upsampling: str = "transposed", gated: bool = False, noise_channels: int = 0,
                 noise_stride: int = 8) -> None:
        super().__init__()
        self.in_channels = check_int(in_channels, "in_channels", minimum=1)
        self.out_channels = check_int(out_channels, "out_channels", minimum=1)
        self.num_down = check_int(num_down, "num_down", minimum=2)
        self.base_channels = check_int(base_channels, "base_channels", minimum=1)
        if dims not in (2, 3):
            raise ValueError(f"dims must be 2 (images) or 3 (volumes), got {dims!r}")
        self.dims = dims
        if norm_cfg is not None:
            check_type(norm_cfg, Mapping, "norm_cfg", expected="a dict like dict(type='IN')")
        self.norm_cfg = dict(type="IN") if norm_cfg is None else dict(norm_cfg)
        norm_type = self.norm_cfg.get("type")
        if norm_type not in ("IN", "BN"):
            raise ValueError(f"norm_cfg type must be 'IN' or 'BN', got {norm_type!r} in norm_cfg={norm_cfg!r}")
        extra = {key: value for key, value in self.norm_cfg.items() if key != "type"}
        self._norm_kwargs = {**_NORM_DEFAULTS[norm_type], **extra}
        self.use_dropout = bool(use_dropout)
        if init_cfg is not None and (not isinstance(init_cfg, Mapping) or init_cfg.get("type") not in INIT_TYPES):
            raise ValueError(f"init_cfg type must be one of {INIT_TYPES}, got init_cfg={init_cfg!r}")
        self.init_cfg = dict(type="normal", gain=0.02) if init_cfg is None else dict(init_cfg)
        if not isinstance(residual, bool):
            raise TypeError(f"residual must be a bool, got {residual!r}")
        if residual and self.in_channels != self.out_channels:
            raise ValueError(f"residual=True adds the input to the output, so in_channels and out_channels must be "
                             f"equal, got {self.in_channels} and {self.out_channels}")
        self.residual = residual
        if not isinstance(full_resolution, bool):
            raise TypeError(f"full_resolution must be a bool, got {full_resolution!r}")
        self.full_resolution = full_resolution
        self.upsampling = check_choice(upsampling, _UPSAMPLING, "upsampling")
        check_type(gated, bool, "gated", expected="a bool")
        if gated and not residual:
            raise ValueError("gated=True gates the change to the input, so it needs residual=True")
        self.gated = gated
        self.noise_channels = check_int(noise_channels, "noise_channels", minimum=0)
        self.noise_stride = check_int(noise_stride, "noise_stride", minimum=1)

        # channels[i + 1] = C_i, the width of level i; channels[0] is the input (and its noise channels).
        channels = [self.in_channels + self.noise_channels] + [self.base_channels * min(2 ** i, 8)
                                                                for i in range(self.num_down)]
        self.downs = nn.ModuleList(self._down(i, channels[i], channels[i + 1]) for i in range(self.num_down))
        self._last_channels = self.out_channels * (2 if gated else 1)  # the last conv: image, or change and gate
        top = channels[1] if full_resolution else self._last_channels  # what the outermost up level returns
        self.ups = nn.ModuleList(self._up(i, channels[i + 1], top if i == 0 else channels[i])
                                 for i in range(self.num_down))
        self.head = self._head(channels[1]) if full_resolution else None
        self.init_weights()

    def _norm(self, channels: int) -> nn.Module:
        return _NORM[self.norm_cfg["type"], self.dims](channels, **self._norm_kwargs)

    def _down(self, level: int, cin: int, cout: int) -> nn.Sequential:
        bias = self.norm_cfg["type"] == "IN"
        conv = _CONV[self.dims](cin, cout, kernel_size=4, stride=2, padding=1, bias=bias)
        if level == 0:
            return nn.Sequential(conv)
        layers = [nn.LeakyReLU(0.2), conv]
        if level < self.num_down - 1:
            layers.append(self._norm(cout))
        return nn.Sequential(*layers)

    def _up(self, level: int, cin: int, cout: int) -> nn.Sequential:
        innermost = level == self.num_down - 1
        cin = cin if innermost else 2 * cin  # all but the innermost level take [skip, below]
        # A norm follows every up convolution but the outermost one of the plain U-Net (tanh there); batch norm
        # removes a bias (instance norm keeps pix2pix's bias, for the checkpoints' layout).
        bias = (level == 0 and not self.full_resolution) or self.norm_cfg["type"] == "IN"
        if self.upsampling == "transposed":
            up = [_CONV_T[self.dims](cin, cout, kernel_size=4, stride=2, padding=1, bias=bias)]
        else:
            mode = "bilinear" if self.dims == 2 else "trilinear"
            up = [nn.Upsample(scale_factor=2, mode=mode, align_corners=False),
                  _CONV[self.dims](cin, cout, kernel_size=3, padding=1, bias=bias)]
        layers = [nn.ReLU(), *up]
        if level == 0 and not self.full_resolution:
            return nn.Sequential(*layers, self._activation())
        layers.append(self._norm(cout))
        if level == 0:
            return nn.Sequential(*layers, nn.ReLU())
        if self.use_dropout and 4 <= level < self.num_down - 1:
            layers.append(nn.Dropout(0.5))
        return nn.Sequential(*layers)

    def _activation(self) -> nn.Module:
        return _GatedChange() if self.gated else nn.Tanh()

    def _head(self, width: int) -> nn.Sequential:
        """The full-resolution stage: [input, features] (in + width channels) -> out_channels, tanh."""
        conv = _CONV[self.dims]
        bias = self.norm_cfg["type"] == "IN"
        return nn.Sequential(conv(self.in_channels + width, width, kernel_size=3, padding=1, bias=bias),
                             self._norm(width), nn.ReLU(),
                             conv(width, self._last_channels, kernel_size=3, padding=1), self._activation())

    def init_weights(self) -> None:
        """(Re)initialise all weights as ``init_cfg`` says (pix2pix's ``init_weights``, :func:`pix2pix_init`)."""
        pix2pix_init(self, self.init_cfg["type"], float(self.init_cfg.get("gain", 0.02)))

    def _check_input(self, x: Tensor) -> None:
        if x.ndim != self.dims + 2 or x.shape[1] != self.in_channels:
            layout = "(N, C, H, W)" if self.dims == 2 else "(N, C, D, H, W)"
            raise ValueError(f"UNetGenerator(dims={self.dims}, in_channels={self.in_channels}) expects "
                             f"{layout} with C={self.in_channels}, got shape {tuple(x.shape)}")
        self.check_spatial_size(tuple(x.shape[2:]))

    def check_spatial_size(self, spatial: tuple[int, ...]) -> None:
        """Raise unless every spatial size is a multiple of ``2**num_down`` (checked before a run, and per input).

        Args:
            spatial: The input's spatial sizes, e.g. ``(H, W)``.

        Raises:
            ValueError: A size not divisible by ``2**num_down``; the message names the deepest ``num_down`` that fits.
        """
        factor = 2 ** self.num_down
        spatial = tuple(int(size) for size in spatial)
        if any(size % factor for size in spatial):
            fits = min((size & -size).bit_length() - 1 for size in spatial)  # largest k with 2**k | every size
            raise ValueError(f"input spatial size {spatial} is not divisible by 2**num_down = {factor} "
                             f"(num_down={self.num_down}); pad or crop every spatial size to a multiple of {factor}"
                             f", or use num_down <= {fits}")

    def forward(self, x: Tensor, noise: Tensor | None = None) -> Tensor:
        """Translate ``x`` of shape (N, in_channels, *S) to (N, out_channels, *S), values in (-1, 1) (in
        (-2, 2) with ``residual``).

        Args:
            x: The input, (N, in_channels, *S).
            noise: With ``noise_channels``, the code on the coarse grid, (N, noise_channels, *S / noise_stride),
                e.g. one a :class:`~mmac.models.latent_encoder.LatentEncoder` inferred from an image; None draws
                it from the standard normal. Must be None for a deterministic generator.
        """
        self._check_input(x)
        source = x
        if noise is not None and not self.noise_channels:
            raise ValueError("noise was given to a UNetGenerator with noise_channels=0; set noise_channels to the "
                             "code's channels")
        if self.noise_channels:
            x = torch.cat([x, self._noise(x, noise)], dim=1)  # (N, in + noise_channels, *S)
        skips = []
        for down in self.downs:
            skips.append(x)  # skips[i]: input of level i, (N, C_{i-1}, *S / 2**i)
            x = down(x)  # (N, C_i, *S / 2**(i+1))
        for i in reversed(range(self.num_down)):
            x = self.ups[i](x)  # (N, C_{i-1}, *S / 2**i)
            if i > 0:
                x = torch.cat([skips[i], x], dim=1)  # (N, 2 * C_{i-1}, *S / 2**i)
        if self.head is not None:
            x = self.head(torch.cat([source, x], dim=1))  # (N, in + C_0, *S) -> (N, out_channels, *S)
        return source + x if self.residual else x

    def noise_shape(self, x: Tensor) -> tuple[int, ...]:
        """Shape of the coarse code for the input ``x`` (N, C, *S): (N, noise_channels, *S / noise_stride)."""
        return (x.shape[0], self.noise_channels, *(max(size // self.noise_stride, 1) for size in x.shape[2:]))

    def _noise(self, x: Tensor, noise: Tensor | None = None) -> Tensor:
        """The code upsampled to the input's grid, (N, noise_channels, *S): ``noise`` if given (on the coarse
        grid), else smooth standard-normal noise for the input ``x`` (N, C, *S)."""
        shape = self.noise_shape(x)
        if noise is None:
            noise = torch.randn(shape, device=x.device, dtype=x.dtype)
        elif tuple(noise.shape) != shape:
            raise ValueError(f"noise must have shape {shape} (N, noise_channels, *S / noise_stride) for an input "
                             f"of shape {tuple(x.shape)}, got {tuple(noise.shape)}")
        noise = noise.to(x.dtype)
        if self.noise_stride == 1:
            return noise
        mode = "bilinear" if self.dims == 2 else "trilinear"
        return nn.functional.interpolate(noise, size=tuple(x.shape[2:]), mode=mode, align_corners=False)

    def extra_repr(self) -> str:
        return (f"in_channels={self.in_channels}, out_channels={self.out_channels}, num_down={self.num_down}, "
                f"base_channels={self.base_channels}, norm_cfg={self.norm_cfg}, use_dropout={self.use_dropout}, "
                f"dims={self.dims}, residual={self.residual}, gated={self.gated}, "
                f"full_resolution={self.full_resolution}, "
                f"upsampling={self.upsampling!r}, noise_channels={self.noise_channels}")
