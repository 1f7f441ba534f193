"""The public functions of the exact optimal two-threshold Dice: input checks, then the solvers.

See :mod:`mmac.evaluation.threshold_dice` for what is computed, :mod:`.solvers` for how, :mod:`.threads` for
the threading over a batch.
"""
from __future__ import annotations

import numpy as np

from mmac._validate import check_choice, check_int
from mmac.evaluation.threshold_dice.threads import default_workers, solve

METHODS = ("auto", "integer", "binned", "sort")


def check_inputs(images: np.ndarray, masks: np.ndarray, batched: bool) -> tuple[np.ndarray, ...]:
    """Validate and flatten to ``(N, P)`` images and bool masks; also return the per-slice min and max (N,)."""
    images = np.asarray(images)
    masks = np.asarray(masks)
    what = "images" if batched else "image"
    if images.dtype == bool or not (np.issubdtype(images.dtype, np.integer)
                                    or np.issubdtype(images.dtype, np.floating)):
        raise TypeError(f"{what} must have a real integer or float dtype, got {images.dtype}")
    if images.shape != masks.shape:
        raise ValueError(f"{what} and mask(s) must have the same shape, got {images.shape} and {masks.shape}")
    if batched and images.ndim < 2:
        raise ValueError(f"images must have shape (N, ...) with at least 2 dims, got shape {images.shape}")
    if images.size == 0:
        raise ValueError(f"{what} is empty (shape {images.shape})")
    if batched:
        images = images.reshape(images.shape[0], -1)
        masks = masks.reshape(masks.shape[0], -1)
    else:
        images = images.reshape(1, -1)
        masks = masks.reshape(1, -1)
    if masks.dtype != bool:
        if not (np.issubdtype(masks.dtype, np.number)):
            raise TypeError(f"mask must be bool or numeric with values in {{0, 1}}, got dtype {masks.dtype}")
        binary = (masks == 0) | (masks == 1)
        if not binary.all():
            bad = masks[~binary].ravel()[0]
            raise ValueError(f"mask must be binary (values 0 and 1 only), found value {bad!r}")
        masks = masks != 0
    if images.dtype == np.float16:
        images = images.astype(np.float32)
    vmin = images.min(axis=1)  # NaN propagates through min/max, inf shows up in them
    vmax = images.max(axis=1)
    if images.dtype.kind == "f":
        finite = np.isfinite(vmin) & np.isfinite(vmax)
        if not finite.all():
            row = int(np.flatnonzero(~finite)[0])
            raise ValueError(f"{what} contains non-finite values (NaN or inf)"
                             + (f" in slice {row}" if batched else ""))
    counts = np.count_nonzero(masks, axis=1)
    if (counts == 0).any():
        row = int(np.flatnonzero(counts == 0)[0])
        raise ValueError("mask is empty (no foreground pixel); Dice is undefined"
                         + (f" for slice {row}" if batched else ""))
    return images, masks, vmin, vmax


def optimal_threshold_dice_batch(images: np.ndarray, masks: np.ndarray, method: str = "auto",
                                 num_bins: int | None = None,
                                 workers: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Exact optimal two-threshold Dice of every slice of a batch.

    For each slice ``n`` returns ``max over lo <= hi of Dice(masks[n], (images[n] >= lo) & (images[n] <= hi))``
    with ``Dice(A, B) = 2 |A & B| / (|A| + |B|)``, ``lo`` and ``hi`` ranging over the values present in the
    slice. The maximum is exact for every method (integer arithmetic decides optimality); the methods differ
    in speed only.

    Args:
        images: Slices of shape (N, ...), typically (N, H, W); any real integer or float dtype.
        masks: Binary masks of the same shape (bool, or numbers in {0, 1}).
        method: ``'auto'`` (``'integer'`` for integer-valued data with a moderate value range, else
            ``'binned'``), ``'integer'`` (bincount per value; the data must be integer-valued),
            ``'binned'`` (bin, bound, sort only the bins that can hold a threshold) or ``'sort'`` (the plain
            per-slice sort). Defaults to ``'auto'``.
        num_bins: Bins per slice of the ``'binned'`` method, a speed knob that does not change the result.
            ``None`` picks ``min(4096, max(16, P // 32))`` for P pixels per slice. Defaults to None.
        workers: Threads that solve contiguous parts of the batch at once (numpy releases the GIL in the
            heavy passes); the result does not depend on it. ``None`` uses :func:`default_workers` threads
            for batches of at least 64 slices, else 1. Defaults to None.

    Returns:
        ``(dice, lo, hi)``: ``dice`` float64 of shape (N,); ``lo`` and ``hi`` of shape (N,) in the images'
        dtype (float16 images give float32), values present in each slice that reach ``dice``. When several
        pairs reach the maximum, one of them is returned.

    Raises:
        TypeError: If the images are not a real numeric dtype or the masks not bool/numeric, or
            ``num_bins`` / ``workers`` is not an integer.
        ValueError: If the shapes differ or are not (N, ...), a slice is empty, an image holds NaN/inf, a
            mask holds a value other than 0/1, a mask is empty, ``method`` is unknown, ``'integer'`` is
            asked for non-integer data, ``num_bins < 2`` or ``workers < 1``.
    """
    check_choice(method, METHODS, "method")
    if num_bins is not None:
        check_int(num_bins, "num_bins", minimum=2)
    if workers is not None:
        check_int(workers, "workers", minimum=1)
    flat, flat_masks, vmin, vmax = check_inputs(images, masks, batched=True)
    if workers is None:
        workers = default_workers() if flat.shape[0] >= 64 else 1
    p, q, lo, hi = solve(flat, flat_masks, vmin, vmax, method, num_bins, workers)
    return p / q, lo, hi


def optimal_threshold_dice(image: np.ndarray, mask: np.ndarray, method: str = "auto") -> tuple[float, ...]:
    """Exact optimal two-threshold Dice of one image.

    Args:
        image: Image of any shape, typically a (H, W) slice; any real integer or float dtype.
        mask: Binary mask of the same shape (bool, or numbers in {0, 1}).
        method: See :func:`optimal_threshold_dice_batch`. Defaults to ``'auto'``.

    Returns:
        ``(dice, lo, hi)``: the exact maximum Dice as a float and thresholds ``lo <= hi`` (numpy scalars of
        the image dtype, values present in the image) with ``Dice(mask, (image >= lo) & (image <= hi))
        == dice``.

    Raises:
        TypeError: See :func:`optimal_threshold_dice_batch`.
        ValueError: See :func:`optimal_threshold_dice_batch`.
    """
    check_choice(method, METHODS, "method")
    flat, flat_masks, vmin, vmax = check_inputs(image, mask, batched=False)
    p, q, lo, hi = solve(flat, flat_masks, vmin, vmax, method, None)
    return float(p[0] / q[0]), lo[0], hi[0]
