"""An L1 loss at several scales: the full-resolution L1 plus the L1 of block means (pure torch).

    L_ms(a, b) = loss_weight * sum_k weights[k] * mean |pool_k(a) - pool_k(b)|,

with ``pool_k`` the mean over non-overlapping ``pools[k]``-pixel blocks (``pools[k] = 1``: the plain L1). A block
mean ignores what averages out within a block (noise, texture, a one-pixel edge) and keeps what does not: a
shift of a whole tissue. As the identity loss of a CycleGAN (``ModularCycleGAN(id_loss=...)``) with
``pools=(1, 8)`` it asks F(y) = y at the paper's weight and, separately, that F keep the calibration of each
8-pixel block of a healthy slice, which the measured F's do not (they darken fat and muscle by 5-30 grey
levels; ``mmac.apis.coverage.healthy_change``). Not in Gadermayr et al.; off unless a config names it.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch.nn.functional as F
from torch import Tensor, nn

from mmac._validate import check_int, check_real
from mmac.registry import register

__all__ = ["multiscale_l1", "MultiScaleL1Loss"]


def _check_scales(pools: Sequence[int], weights: Sequence[float]) -> tuple[tuple[int, ...], tuple[float, ...]]:
    pools, weights = tuple(pools), tuple(weights)
    if not pools or len(pools) != len(weights):
        raise ValueError(f"pools and weights must be non-empty and of one length, got pools={pools!r}, "
                         f"weights={weights!r}")
    pools = tuple(check_int(p, "pools[i]", minimum=1) for p in pools)
    weights = tuple(check_real(w, "weights[i]", minimum=0.0) for w in weights)
    return pools, weights


def multiscale_l1(pred: Tensor, target: Tensor, pools: Sequence[int] = (1, 8),
                  weights: Sequence[float] = (1.0, 1.0)) -> Tensor:
    """Weighted sum over scales of the mean absolute difference of block means.

    Args:
        pred: (N, C, H, W) or (N, C, D, H, W).
        target: Same shape.
        pools: Block sizes in pixels (1 is the plain L1); every spatial size must be divisible by each.
            Defaults to (1, 8).
        weights: Weight of each scale, >= 0. Defaults to (1.0, 1.0).

    Returns:
        The loss, shape ().

    Raises:
        ValueError: Shapes differ or are not 4D/5D, a spatial size is not divisible by a block size, or
            ``pools`` and ``weights`` are empty, of different lengths or out of range.
    """
    pools, weights = _check_scales(pools, weights)
    if pred.shape != target.shape or pred.ndim not in (4, 5):
        raise ValueError(f"multiscale_l1 needs two (N, C, H, W) or (N, C, D, H, W) tensors of one shape, got "
                         f"{tuple(pred.shape)} and {tuple(target.shape)}")
    spatial = tuple(pred.shape[2:])
    pool = F.avg_pool2d if pred.ndim == 4 else F.avg_pool3d
    total = pred.new_zeros(())
    for size, weight in zip(pools, weights, strict=True):
        if any(s % size for s in spatial):
            raise ValueError(f"spatial size {spatial} is not divisible by the block size {size} (pools={pools})")
        diff = pred - target
        if size > 1:
            diff = pool(diff, size)  # the block mean of the difference is the difference of the block means
        total = total + weight * diff.abs().mean()
    return total


@register("MODELS")
class MultiScaleL1Loss(nn.Module):
    """:func:`multiscale_l1` as a loss module, e.g. for ``ModularCycleGAN(id_loss=...)``.

    Args:
        loss_weight: Factor of the whole loss. Defaults to 1.0.
        pools: Block sizes in pixels. Defaults to (1, 8).
        weights: Weight of each scale. Defaults to (0.5, 2.0): the paper's identity weight at full resolution
            and a four times stronger hold on the block means.

    Raises:
        ValueError: See :func:`multiscale_l1`; a negative ``loss_weight``.
    """

    def __init__(self, loss_weight: float = 1.0, pools: Sequence[int] = (1, 8),
                 weights: Sequence[float] = (0.5, 2.0)) -> None:
        super().__init__()
        self.loss_weight = check_real(loss_weight, "loss_weight", minimum=0.0)
        self.pools, self.weights = _check_scales(pools, weights)

    def forward(self, pred: Tensor, target: Tensor, **kwargs) -> Tensor:
        """Loss of ``pred`` against ``target``, both (N, C, H, W) or (N, C, D, H, W); shape ()."""
        return self.loss_weight * multiscale_l1(pred, target, self.pools, self.weights)

    def extra_repr(self) -> str:
        return f"loss_weight={self.loss_weight}, pools={self.pools}, weights={self.weights}"
