"""MR acquisition artifacts of the synthetic cohort.

* Bias field: a smooth multiplicative receive-coil inhomogeneity, exp of a random quadratic polynomial
  in (x, y, z), scaled to a chosen peak-to-peak amplitude inside the thigh (Sled et al., IEEE TMI 17:87,
  1998, report 10-40 % for body coils; N3/N4 correct fields of this kind).
* Rician noise: the magnitude of the complex signal plus i.i.d. Gaussian noise in both channels
  (Gudbjartsson & Patz, MRM 34:910, 1995); it leaves a Rayleigh-distributed floor in air.
* Partial volume: each slice is the weighted mean of thin sub-slices across its 7 mm profile, and each
  pixel the mean of finer render pixels (see :mod:`mmac.phantom.cohort`).
* Chemical shift: the fat signal is displaced along the frequency-encoding axis by about
  3.5 ppm * B0 / (pixel bandwidth); at 1.5 T and ~220 Hz/pixel that is ~1-2 mm.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage


def sample_bias(rng: np.random.Generator, peak_to_peak: float, radius: float = 90.0,
                z_half: float = 190.0) -> np.ndarray:
    """Coefficients of a quadratic log-bias polynomial scaled to a peak-to-peak amplitude.

    Args:
        rng: Random generator.
        peak_to_peak: ``(max - min) / mean`` of the field inside a cylinder of ``radius`` mm and
            half-height ``z_half`` mm around the origin, e.g. 0.1-0.4.
        radius: Cylinder radius in mm. Defaults to 90.
        z_half: Cylinder half-height in mm. Defaults to 190.

    Returns:
        ``(10,)`` coefficients for :func:`bias_field`.
    """
    coef = rng.normal(0, 1, 10)
    coef[0] = 0.0
    pts = rng.uniform(-1, 1, (4000, 3))
    pts = pts[np.hypot(pts[:, 0], pts[:, 1]) <= 1] * np.array([radius, radius, z_half])
    b = np.exp(_poly(coef, pts[:, 0], pts[:, 1], pts[:, 2]))
    # scale the log-field so that (max - min) / mean hits the target (monotone in the scale: bisection)
    lo, hi = 0.0, 10.0
    log_b = np.log(b)
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        e = np.exp(mid * log_b)
        lo, hi = (mid, hi) if (e.max() - e.min()) / e.mean() < peak_to_peak else (lo, mid)
    coef *= 0.5 * (lo + hi)
    e = np.exp(_poly(coef, pts[:, 0], pts[:, 1], pts[:, 2]))
    coef[0] = -np.log(e.mean())
    return coef


def _poly(c: np.ndarray, x, y, z):
    x, y, z = x / 100.0, y / 100.0, z / 200.0
    return (c[0] + c[1] * x + c[2] * y + c[3] * z + c[4] * x * x + c[5] * y * y + c[6] * z * z
            + c[7] * x * y + c[8] * x * z + c[9] * y * z)


def bias_field(coef: np.ndarray, x: np.ndarray, y: np.ndarray, z_mm: float) -> np.ndarray:
    """The multiplicative bias field at pixel coordinates ``x, y`` (mm, any shape) of plane ``z_mm``."""
    return np.exp(_poly(coef, x, y, z_mm)).astype(np.float32)


def rician(signal: np.ndarray, sigma: float, n_real: np.ndarray, n_imag: np.ndarray) -> np.ndarray:
    """Magnitude of ``signal + sigma * (n_real + i n_imag)``.

    Args:
        signal: Noise-free magnitude, any shape.
        sigma: Noise standard deviation per channel.
        n_real: Standard normal draws, same shape as ``signal``.
        n_imag: Standard normal draws, same shape as ``signal``.

    Returns:
        The noisy magnitude, float32.
    """
    return np.hypot(signal + sigma * n_real, sigma * n_imag).astype(np.float32)


def shift_fat(fat: np.ndarray, shift_px: float) -> np.ndarray:
    """Displace the fat component along array axis 0 (the frequency-encoding axis) by ``shift_px`` pixels.

    Args:
        fat: Fat signal component ``(n, n)``.
        shift_px: Shift in pixels (fractional shifts interpolate linearly).

    Returns:
        The shifted component, zero-filled at the edge.
    """
    if shift_px == 0:
        return fat
    return ndimage.shift(fat, (shift_px, 0.0), order=1, mode="constant", cval=0.0)
