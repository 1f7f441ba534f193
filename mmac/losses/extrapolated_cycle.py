"""Extrapolated healthy cycle: F must also undo G's pathology made stronger than G makes it.

With F: X -> Y (pathological to healthy), G: Y -> X and a healthy slice y, the asymmetric loss of Gadermayr et
al. trains F on real pathology only through the GAN loss, and on G's synthetic pathology ``G(y)`` through the
healthy cycle ``|F(G(y)) - y|_1``. On the synthetic cohort G adds a fat fraction of about 0.25 to healthy muscle
where the severe patients have about 0.5 (docs/results.md), so F never learns on inputs as infiltrated as the
patients it is tested on. This loss runs the healthy cycle once more on G's change scaled by a random factor,

    L_ext = w_ext * E_y E_k |F(clip(y + k * sg(G(y) - y))) - y|_1,     k ~ U[1, max_scale] per sample,

where sg stops the gradient (the term trains F only; G is left to the paper's losses) and clip keeps the image in
its value range. At k = 1 it is the paper's healthy cycle; larger k moves G's pathology along its own direction,
towards more infiltration, while the target stays the healthy slice, so F learns on severe-looking inputs both to
remove more and to leave the tissue outside the infiltration alone. It never compares F(x) with a real
pathological x, so F need keep no trace of the infiltration.

Not in Gadermayr et al.; an option of :class:`~mmac.models.ModularCycleGAN` (``extrapolated_cycle_loss=``), off
by default. The model draws the extrapolated input with :meth:`ExtrapolatedCycleLoss.extrapolate`, runs F on it
(one more forward per iteration) and calls the loss with the result.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from mmac._validate import check_choice, check_real, check_type
from mmac.losses.cycle import check_same_shape, reduce_error
from mmac.registry import register

REDUCTIONS = ("mean", "none")


def extrapolate(start: Tensor, synthetic: Tensor, scale: Tensor,
                value_range: tuple[float, float] = (-1.0, 1.0)) -> Tensor:
    """``clip(start + scale * (synthetic - start))``, with ``synthetic`` detached.

    Args:
        start: The healthy slices y, shape (N, C, H, W) or any shape with the batch first.
        synthetic: G(y), the same shape; detached (no gradient reaches G through this term).
        scale: The factor k per sample, shape (N,).
        value_range: ``(low, high)`` the result is clipped to; the images' range after preprocessing.
            Defaults to (-1, 1).

    Returns:
        The extrapolated slices, the shape of ``start``.

    Raises:
        TypeError: Non-tensor inputs.
        ValueError: Shapes that differ, ``scale`` not of shape (N,), ``value_range`` not ``low < high``.
    """
    check_same_shape(start, synthetic, ("start", "synthetic"))
    check_type(scale, Tensor, "scale", expected="a torch.Tensor")
    if start.ndim < 1 or scale.shape != start.shape[:1]:
        raise ValueError(f"scale must have shape ({start.shape[0] if start.ndim else '?'},), one factor per "
                         f"sample, got {tuple(scale.shape)}")
    low, high = _check_range(value_range)
    k = scale.to(start.dtype).view(-1, *([1] * (start.ndim - 1)))  # (N,) -> (N, 1, ..., 1)
    return (start + k * (synthetic.detach() - start)).clamp(low, high)


def _check_range(value_range: object) -> tuple[float, float]:
    check_type(value_range, Sequence, "value_range", expected="a pair (low, high)")
    if len(value_range) != 2:
        raise ValueError(f"value_range must be a pair (low, high), got {value_range!r}")
    low = check_real(value_range[0], "value_range[0]")
    high = check_real(value_range[1], "value_range[1]")
    if not low < high:
        raise ValueError(f"value_range must have low < high, got {value_range!r}")
    return low, high


@register("MODELS")
class ExtrapolatedCycleLoss(nn.Module):
    """``loss_weight * L1(F(extrapolate(y, G(y), k)), y)``, the healthy cycle on G's pathology scaled by k.

    Args:
        loss_weight: The weight w_ext, >= 0. Defaults to 2.0, the weight of the paper's healthy cycle in L_AC
            at w_c = 1 (``2 * w_c``).
        max_scale: k is drawn uniformly from ``[1, max_scale]`` per sample, ``max_scale >= 1``. Defaults to 2.0:
            G's added fat fraction (about 0.25) doubled reaches the severe patients' (about 0.5).
        domain: The domain where the cycle starts and ends, whose generator must undo the extrapolated
            translation. Defaults to 'healthy' (F undoes G).
        value_range: ``(low, high)`` of the preprocessed images. Defaults to (-1, 1).
        reduction: ``'mean'``, shape (); ``'none'``: mean per sample, shape (N,). Defaults to ``'mean'``.

    Raises:
        TypeError: A weight, scale or range that is not a real number, a domain that is not a string.
        ValueError: Negative weight, ``max_scale < 1``, a bad range or reduction.
    """

    def __init__(self, loss_weight: float = 2.0, max_scale: float = 2.0, domain: str = "healthy",
                 value_range: tuple[float, float] = (-1.0, 1.0), reduction: str = "mean") -> None:
        super().__init__()
        self.loss_weight = check_real(loss_weight, "loss_weight", minimum=0)
        self.max_scale = check_real(max_scale, "max_scale", minimum=1)
        check_type(domain, str, "domain", expected="a domain name such as 'healthy'")
        self.domain = domain
        self.value_range = _check_range(value_range)
        self.reduction = check_choice(reduction, REDUCTIONS, "reduction")

    def sample_scale(self, n: int, device: torch.device | str | None = None) -> Tensor:
        """k ~ U[1, max_scale], shape (n,), from torch's default generator on ``device``."""
        return 1.0 + (self.max_scale - 1.0) * torch.rand(n, device=device)

    def extrapolate(self, start: Tensor, synthetic: Tensor) -> Tensor:
        """The generator's input: ``start`` moved ``k`` times along ``synthetic - start``, k drawn per sample.

        Args:
            start: Real slices of ``domain``, (N, C, H, W).
            synthetic: Their translation into the other domain, the same shape (detached here).
        """
        return extrapolate(start, synthetic, self.sample_scale(start.shape[0], start.device), self.value_range)

    def forward(self, reconstruction: Tensor, start: Tensor) -> Tensor:
        """Compute the loss.

        Args:
            reconstruction: The generator of ``domain`` applied to :meth:`extrapolate`'s output, (N, C, H, W).
            start: The real slices the cycle started from, the same shape.

        Returns:
            Shape () for ``'mean'``, (N,) for ``'none'``.

        Raises:
            TypeError: Non-tensor inputs.
            ValueError: Shapes that differ.
        """
        check_same_shape(reconstruction, start, ("reconstruction", "start"))
        return self.loss_weight * reduce_error((reconstruction - start).abs(), self.reduction)

    def extra_repr(self) -> str:
        return (f"loss_weight={self.loss_weight}, max_scale={self.max_scale}, domain={self.domain!r}, "
                f"value_range={self.value_range}, reduction={self.reduction!r}")
