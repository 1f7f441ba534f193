"""A PatchGAN discriminator that also sees each image's intensity distribution.

The PatchGAN of pix2pix / CycleGAN (Isola et al., CVPR 2017), as mmagic's ``PatchDiscriminator`` builds it, scores
overlapping patches. Its instance norms remove each feature map's mean over the image, and with it most of a
shift of a whole tissue's intensity: on the thigh phantom a trained D_Y scores healthy slices whose fat is
darkened by 25 grey levels as *more* real (docs/science.md), and F(x) comes out with fat and marrow 19-34 grey
levels too dark. :class:`HistogramPatchDiscriminator` adds a second, global view: a differentiable histogram of
the image's intensities (:func:`soft_histogram`), scored by a small MLP whose output is added to every patch's
score. The tissues of a calibrated MR slice sit at fixed intensities whatever the anatomy, so a shifted tissue
moves a peak of the histogram, which the head sees and the generator is then pushed to put back. The output
keeps the PatchGAN's shape, so any GAN loss and model that take a PatchGAN take it unchanged.

``norm_cfg=None, spectral_norm=True`` gives the other way to let the patches see intensity: a PatchGAN without
instance norms whose layers are held to spectral norm 1 (Miyato et al., ICLR 2018). On the thigh phantom neither
way removed F's darkening (docs/science.md, rows AN, AO and AZ); no shipped config uses them.

Pure torch: importable and usable without mmagic; registered into mmagic's ``MODELS`` by
:func:`mmac.register_all_modules`.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor, nn

from mmac._validate import check_int, check_type
from mmac.models.init import pix2pix_init
from mmac.registry import register

_NORMS = ("IN", "BN")


def soft_histogram(x: Tensor, bins: int, value_range: Sequence[float] = (-1.0, 1.0),
                   bandwidth: float | None = None) -> Tensor:
    """Differentiable histogram of each image's intensities, by Gaussian kernels at the bin centres.

    Pixel value v adds ``exp(-(v - c_k)**2 / (2 * bandwidth**2))`` to bin k (centre ``c_k``, the ``bins`` centres
    evenly spaced with half a bin width to either end of ``value_range``); each histogram is then divided by
    its sum. Values outside ``value_range`` are clipped to it first.

    Args:
        x: Images, shape (N, C, *spatial).
        bins: Number of bins, >= 2.
        value_range: (low, high) of the intensities. Defaults to (-1, 1), the generators' tanh range.
        bandwidth: Standard deviation of the kernels; None means the bin width.

    Returns:
        Histograms, shape (N, C, bins), each summing to 1 over the last dimension.

    Raises:
        ValueError: ``x`` with fewer than 3 dimensions, ``bins`` < 2, ``value_range`` not increasing, or a
            bandwidth that is not positive.
    """
    bins = check_int(bins, "bins", minimum=2)
    if x.ndim < 3:
        raise ValueError(f"soft_histogram expects images of shape (N, C, *spatial), got shape {tuple(x.shape)}")
    low, high = (float(v) for v in value_range)
    if not high > low:
        raise ValueError(f"value_range must be (low, high) with high > low, got {tuple(value_range)!r}")
    width = (high - low) / bins
    bandwidth = width if bandwidth is None else float(bandwidth)
    if not bandwidth > 0:
        raise ValueError(f"bandwidth must be positive, got {bandwidth!r}")
    centres = torch.linspace(low + width / 2, high - width / 2, bins, device=x.device, dtype=x.dtype)
    values = x.clamp(low, high).flatten(2).unsqueeze(-1)  # (N, C, P, 1)
    weights = torch.exp(-0.5 * ((values - centres) / bandwidth) ** 2).sum(dim=2)  # (N, C, bins)
    return weights / weights.sum(dim=-1, keepdim=True)


@register("MODELS")
class HistogramPatchDiscriminator(nn.Module):
    """PatchGAN whose patch scores are shifted by a score of the image's intensity histogram.

    ``D(x) = P(x) + h(log(soft_histogram(x) + eps))``, where P is the PatchGAN (mmagic's ``PatchDiscriminator``
    layout: a 4x4 conv of stride 2 and LeakyReLU(0.2); ``num_conv - 1`` more of stride 2 and one of stride 1,
    each with a norm; a 4x4 conv to one channel) and h an MLP (``bins * in_channels`` -> ``histogram_hidden``
    -> LeakyReLU(0.2) -> 1) whose score is added to every patch. The logarithm lets small tissues (marrow)
    count beside the background. With ``histogram_bins=0`` it is the PatchGAN alone.

    Args:
        in_channels: Channels of the input images.
        base_channels: Channels after the first conv; each later strided conv doubles them, up to 8 times.
            Defaults to 64.
        num_conv: Number of convs after the first, as mmagic's ``num_conv``: receptive field 16 px for 1,
            34 px for 2, 70 px for 3. Defaults to 3.
        norm_cfg: ``dict(type='IN')`` (instance norm without affine parameters, convs with bias, as pix2pix),
            ``dict(type='BN')`` or None (no norm). Defaults to ``dict(type='IN')``.
        init_cfg: ``dict(type='normal', gain=g)``: conv and linear weights N(0, g), biases zero, as mmagic's
            PatchGAN. None means gain 0.02. Defaults to None.
        histogram_bins: Bins of the intensity histogram; 0 turns the histogram head off. Defaults to 32.
        histogram_hidden: Width of the head's hidden layer. Defaults to 64.
        value_range: Intensity range of the images. Defaults to (-1, 1).
        spectral_norm: Hold every conv and linear layer to spectral norm 1 (torch's ``spectral_norm``
            parametrisation, one power iteration per forward in training). Defaults to False.

    Raises:
        TypeError: A channel or bin count that is not an integer, ``norm_cfg`` not a dict, ``spectral_norm`` not
            a bool.
        ValueError: Non-positive channels or ``num_conv``, ``histogram_bins`` of 1 or negative, an unknown norm
            or init type.
    """

    def __init__(self, in_channels: int, base_channels: int = 64, num_conv: int = 3,
                 norm_cfg: Mapping | None = dict(type="IN"), init_cfg: Mapping | None = None,
                 histogram_bins: int = 32, histogram_hidden: int = 64,
                 value_range: Sequence[float] = (-1.0, 1.0), spectral_norm: bool = False) -> None:
        super().__init__()
        self.in_channels = check_int(in_channels, "in_channels", minimum=1)
        base_channels = check_int(base_channels, "base_channels", minimum=1)
        num_conv = check_int(num_conv, "num_conv", minimum=1)
        if norm_cfg is not None:
            check_type(norm_cfg, Mapping, "norm_cfg", expected="a dict like dict(type='IN'), or None")
            if norm_cfg.get("type") not in _NORMS:
                raise ValueError(f"norm_cfg type must be one of {_NORMS} (or norm_cfg=None for no norm), "
                                 f"got norm_cfg={dict(norm_cfg)!r}")
        self.norm_type = None if norm_cfg is None else norm_cfg["type"]
        if init_cfg is not None and (not isinstance(init_cfg, Mapping) or init_cfg.get("type") != "normal"):
            raise ValueError(f"init_cfg type must be 'normal', got init_cfg={init_cfg!r}")
        self.init_gain = 0.02 if init_cfg is None else float(init_cfg.get("gain", 0.02))
        self.histogram_bins = check_int(histogram_bins, "histogram_bins", minimum=0)
        if self.histogram_bins == 1:
            raise ValueError("histogram_bins must be 0 (no histogram head) or >= 2, got 1")
        histogram_hidden = check_int(histogram_hidden, "histogram_hidden", minimum=1)
        self.value_range = tuple(float(v) for v in value_range)
        if len(self.value_range) != 2 or not self.value_range[1] > self.value_range[0]:
            raise ValueError(f"value_range must be (low, high) with high > low, got {tuple(value_range)!r}")

        widths = [base_channels * min(2 ** i, 8) for i in range(num_conv + 1)]
        layers = [nn.Conv2d(self.in_channels, widths[0], 4, stride=2, padding=1), nn.LeakyReLU(0.2)]
        for i in range(1, num_conv + 1):
            stride = 2 if i < num_conv else 1
            layers.append(nn.Conv2d(widths[i - 1], widths[i], 4, stride=stride, padding=1,
                                    bias=self.norm_type != "BN"))
            if self.norm_type == "IN":
                layers.append(nn.InstanceNorm2d(widths[i], affine=False, track_running_stats=False))
            elif self.norm_type == "BN":
                layers.append(nn.BatchNorm2d(widths[i]))
            layers.append(nn.LeakyReLU(0.2))
        layers.append(nn.Conv2d(widths[-1], 1, 4, stride=1, padding=1))
        self.model = nn.Sequential(*layers)
        self.histogram_head = None
        if self.histogram_bins:
            self.histogram_head = nn.Sequential(
                nn.Linear(self.histogram_bins * self.in_channels, histogram_hidden), nn.LeakyReLU(0.2),
                nn.Linear(histogram_hidden, 1))
        check_type(spectral_norm, bool, "spectral_norm", expected="a bool")
        self.spectral_norm = spectral_norm
        self.init_weights()
        if spectral_norm:
            for module in list(self.modules()):
                if isinstance(module, (nn.Conv2d, nn.Linear)):
                    nn.utils.parametrizations.spectral_norm(module)

    def init_weights(self) -> None:
        """(Re)initialise: conv and linear weights N(0, gain), batch-norm weights N(1, gain), biases zero
        (:func:`~mmac.models.init.pix2pix_init`). Under ``spectral_norm`` the unnormalised weight is drawn; the
        layer divides it by its spectral norm."""
        pix2pix_init(self, "normal", self.init_gain)

    def histogram_score(self, x: Tensor) -> Tensor:
        """The head's score of each image's intensity histogram, shape (N, 1); needs ``histogram_bins`` > 0."""
        if self.histogram_head is None:
            raise RuntimeError("histogram_score needs histogram_bins > 0")
        hist = soft_histogram(x, self.histogram_bins, self.value_range)  # (N, C, bins)
        eps = 1.0 / x[0, 0].numel()  # one pixel's worth, so that an empty bin stays finite
        return self.histogram_head(torch.log(hist + eps).flatten(1))

    def forward(self, x: Tensor) -> Tensor:
        """Score images.

        Args:
            x: Images, shape (N, in_channels, H, W).

        Returns:
            Patch scores (logits), shape (N, 1, H', W') as the PatchGAN's, each shifted by its image's histogram
            score.
        """
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"HistogramPatchDiscriminator(in_channels={self.in_channels}) expects (N, C, H, W) "
                             f"with C={self.in_channels}, got shape {tuple(x.shape)}")
        scores = self.model(x)
        if self.histogram_head is None:
            return scores
        return scores + self.histogram_score(x)[:, :, None, None]

    def extra_repr(self) -> str:
        return (f"norm={self.norm_type}, histogram_bins={self.histogram_bins}, value_range={self.value_range}, "
                f"spectral_norm={self.spectral_norm}")
