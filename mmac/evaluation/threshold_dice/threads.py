"""Batching of the exact threshold Dice over threads: contiguous parts of a batch solved at once.

numpy releases the GIL in the heavy passes (sorts, bincounts, cumulative sums), so threads scale on the
solvers; the result does not depend on the number of threads.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from mmac._cpu import available_cpus
from mmac.evaluation.threshold_dice.solvers import choose_solver


def default_workers() -> int:
    """Threads for a large batch: ``$OMP_NUM_THREADS`` when set (so that runs packed side by side, which
    split the cores that way, do not oversubscribe them), else the CPUs this process may use; at most 8."""
    value = os.environ.get("OMP_NUM_THREADS", "")
    if value.isdigit() and int(value) > 0:
        return min(8, int(value))
    return min(8, available_cpus())


def solve(images: np.ndarray, masks: np.ndarray, vmin: np.ndarray, vmax: np.ndarray, method: str,
          num_bins: int | None, workers: int = 1) -> tuple[np.ndarray, ...]:
    """Choose the path for the whole batch, then run it on ``workers`` contiguous parts at once.

    Args:
        images: Flattened images (N, P).
        masks: Bool masks (N, P).
        vmin: Per-slice minimum (N,).
        vmax: Per-slice maximum (N,).
        method: ``'auto'``, ``'integer'``, ``'binned'`` or ``'sort'`` (see :func:`choose_solver`).
        num_bins: Bins per slice of the binned path, or None for its default.
        workers: Threads. Defaults to 1.

    Returns:
        ``(p, q, lo, hi)``, each (N,): the exact optimum ``p / q`` and its thresholds.
    """
    solver = choose_solver(images, vmin, vmax, method, num_bins)
    n = images.shape[0]
    workers = max(1, min(workers, n))
    if workers == 1:
        return solver(images, masks, vmin, vmax)
    bounds = np.linspace(0, n, workers + 1).astype(int)
    parts = [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    with ThreadPoolExecutor(workers) as pool:
        results = list(pool.map(lambda s: solver(images[s], masks[s], vmin[s], vmax[s]), parts))
    return tuple(np.concatenate(arrays) for arrays in zip(*results, strict=True))
