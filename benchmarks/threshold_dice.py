"""Timing of the exact threshold Dice: the batched metric against the plain baseline, on thigh-like slices.

Called by ``tools/benchmark.py dice``; :func:`make_benchmark_slices` also feeds the metric's tests.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial

import numpy as np

from mmac.evaluation.threshold_dice import default_workers, optimal_threshold_dice_batch, threshold_dice_reference


def _smooth_field(rng: np.random.Generator, n: int, size: int, cutoff: float) -> np.ndarray:
    """Smooth random fields of shape (n, size, size), unit variance, by low-pass filtering in Fourier space."""
    noise = rng.standard_normal((n, size, size)).astype(np.float32)
    freq = np.fft.fftfreq(size)
    radius2 = freq[:, None] ** 2 + freq[None, :] ** 2
    spectrum = np.fft.rfft2(noise) * np.exp(-radius2 / (2 * cutoff**2))[:, : size // 2 + 1]
    field = np.fft.irfft2(spectrum, s=(size, size)).astype(np.float32)
    field -= field.mean(axis=(1, 2), keepdims=True)
    field /= field.std(axis=(1, 2), keepdims=True) + 1e-12
    return field


def make_benchmark_slices(n: int, size: int, integer: bool, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Random slices that look like translated thigh MR: muscle blobs, fat, bias field, noise.

    Args:
        n: Number of slices.
        size: Slice height and width.
        integer: ``True`` for uint8 values 0..255 (as an 8-bit translation), ``False`` for float32.
        seed: Random seed. Defaults to 0.

    Returns:
        ``(images, masks)`` of shape (n, size, size): uint8 or float32 images and bool muscle masks.
    """
    rng = np.random.default_rng(seed)
    images = np.empty((n, size, size), np.uint8 if integer else np.float32)
    masks = np.empty((n, size, size), bool)
    for start in range(0, n, 64):  # chunks keep the FFT temporaries small
        k = min(n, start + 64) - start
        mask = _smooth_field(rng, k, size, 0.03) > 0.3
        image = np.where(mask, 0.35, 0.75).astype(np.float32)
        image += 0.15 * _smooth_field(rng, k, size, 0.01)  # bias field
        image += 0.1 * _smooth_field(rng, k, size, 0.2)  # texture
        image += 0.06 * rng.standard_normal(image.shape).astype(np.float32)  # noise
        mask[:, 0, 0] = True  # never an empty mask
        images[start:start + k] = np.clip(np.rint(image * 255), 0, 255) if integer else image
        masks[start:start + k] = mask
    return images, masks


def _best_time(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    """Best wall-clock and best CPU seconds of this process over ``repeat`` calls."""
    wall = cpu = float("inf")
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        wall = min(wall, time.perf_counter() - start)
        cpu = min(cpu, time.process_time() - start_cpu)
    return wall, cpu


def benchmark_threshold_dice(n: int = 1000, size: int = 256, seed: int = 0, repeat: int = 1,
                             baseline_slices: int | None = 50) -> list[dict]:
    """Time the batched exact metric against the plain exact baseline, for integer and float slices.

    Both give the same exact Dice; the function checks this on the slices the baseline runs on.

    Args:
        n: Number of slices for the batched metric.
        size: Slice height and width.
        seed: Random seed. Defaults to 0.
        repeat: Timing repeats; the best is kept. Defaults to 1.
        baseline_slices: Slices timed for the baseline (it is slow; its rate is per slice). ``None`` times
            all ``n``. Defaults to 50.

    Returns:
        One dict per kind (``'uint8'``, ``'float32'``) with keys ``kind``, ``n``, ``size``,
        ``batched_s``, ``batched_slices_per_s``, ``batched_cpu_s``, ``workers`` (threads of the batched
        run), ``baseline_n``, ``baseline_s``,
        ``baseline_slices_per_s``, ``baseline_cpu_s``, ``speedup`` (wall-clock slices/s ratio) and
        ``cpu_speedup`` (the same from process CPU time, steadier on a shared machine).
    """
    results = []
    for integer in (True, False):
        images, masks = make_benchmark_slices(n, size, integer, seed)
        baseline_n = n if baseline_slices is None else min(n, baseline_slices)
        batched_s, batched_cpu = _best_time(partial(optimal_threshold_dice_batch, images, masks), repeat)
        base_s, base_cpu = _best_time(partial(threshold_dice_reference, images[:baseline_n], masks[:baseline_n]),
                                      repeat)
        fast = optimal_threshold_dice_batch(images[:baseline_n], masks[:baseline_n])[0]
        ref = threshold_dice_reference(images[:baseline_n], masks[:baseline_n])[0]
        if not np.array_equal(fast, ref):
            raise RuntimeError("batched and baseline Dice differ; this is a bug")
        results.append({
            "kind": "uint8" if integer else "float32",
            "n": n,
            "size": size,
            "batched_s": batched_s,
            "batched_slices_per_s": n / batched_s,
            "batched_cpu_s": batched_cpu,
            "workers": default_workers() if n >= 64 else 1,
            "baseline_n": baseline_n,
            "baseline_s": base_s,
            "baseline_slices_per_s": baseline_n / base_s,
            "baseline_cpu_s": base_cpu,
            "speedup": (n / batched_s) / (baseline_n / base_s),
            "cpu_speedup": (n / batched_cpu) / (baseline_n / base_cpu),
        })
    return results
