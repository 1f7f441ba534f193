"""The plain exact baseline of the threshold Dice, for tests and the benchmark: a sort per slice, then the scan."""
from __future__ import annotations

import numpy as np

from mmac.evaluation.threshold_dice.api import optimal_threshold_dice_batch


def threshold_dice_reference(images: np.ndarray, masks: np.ndarray) -> tuple[np.ndarray, ...]:
    """The plain exact baseline: per-slice ``np.unique`` (a sort) and the same exact scan, one thread.

    Args:
        images: Slices of shape (N, ...).
        masks: Binary masks of the same shape.

    Returns:
        ``(dice, lo, hi)`` as :func:`~mmac.evaluation.threshold_dice.optimal_threshold_dice_batch`.
    """
    return optimal_threshold_dice_batch(images, masks, method="sort", workers=1)
