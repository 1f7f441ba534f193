"""Voxel fat fraction from a slice and its pseudo-healthy translation (pure numpy, no mmagic).

Used by the metric on the synthetic cohort (against the true fat fraction) and by the NIfTI inference, which writes
fat-fraction maps of real scans.
"""
from __future__ import annotations

import numpy as np

__all__ = ["fat_fraction_estimate"]


def fat_fraction_estimate(original: np.ndarray, pseudo_healthy: np.ndarray, fat_level: float = 1.0) -> np.ndarray:
    """Voxel fat fraction from a slice and its pseudo-healthy translation.

    Infiltrated muscle has intensity ``x = (1 - ff) * m + ff * fat``; with ``m = F(x)`` (muscle without fat)
    this gives ``ff = (x - F(x)) / (fat - F(x))``, clipped to [0, 1].

    Args:
        original: x, shape (H, W), intensities scaled so that fat is ``fat_level``.
        pseudo_healthy: F(x), same shape and scale.
        fat_level: Intensity of pure fat. Defaults to 1.0 (the dataset maps the 99.5th percentile, fat, to 1).

    Returns:
        Fat-fraction map, shape (H, W), in [0, 1].
    """
    denom = np.maximum(fat_level - pseudo_healthy, 1e-3)
    return np.clip((original - pseudo_healthy) / denom, 0.0, 1.0)
