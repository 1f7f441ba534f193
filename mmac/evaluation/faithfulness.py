"""How faithful a pseudo-healthy slice is, measured against the synthetic cohort's true healthy counterpart.

The optimal two-threshold Dice alone can be raised by a translation that flattens the anatomy. On the synthetic
cohort every pathological slice x has a known healthy counterpart t: the same anatomy, bias field and noise
realisation, without the fat infiltration (and atrophy). Two scores guard the Dice with it:

* **Removal** (how much of the infiltration F removed). The infiltrated region R is where x and t differ by more
  than ``delta`` (default 2 % of the intensity range); x and t share their noise, so they are equal elsewhere up
  to resampling round-off. Then ``removal = 1 - MAE_R(F(x), t) / MAE_R(x, t)``: 1 when F(x) equals the
  counterpart on R, 0 when F changed nothing (F = identity), negative when F made R worse.
* **Heavy removal**, the same score on the heavily infiltrated part of R only, where x and t differ by more than
  ``heavy`` (default 30 % of the range: about half the fat-muscle contrast, confluent or washed-out fat). These
  are the pixels a fat-infiltrated slice puts above the upper threshold of the muscle, so the ones the Dice needs
  removed. The lightly infiltrated rest of R differs from t by a few noise levels only, and there ``removal``
  also counts how F's own denoising departs from t's noise realisation (every trained F scores below 0 on it),
  which drags the overall score down for a reason that has nothing to do with the infiltration.
* **Preservation error** (how much F changed what it should have left alone). On the thigh outside R
  (healthy muscle, fat, bone, vessels), ``preservation = MAE_{body without R}(F(x), t) / (sigma * sqrt(2 / pi))``,
  with sigma the noise level of t. ``sigma * sqrt(2/pi)`` is E|n| for Gaussian noise n of std sigma: the error
  of a perfect denoiser, which outputs the noise-free slice. So 0 is the identity, 1 is a perfect denoiser's
  departure, and values above 1 mean that F changed the anatomy by more than the noise it could have removed.
  sigma is estimated from the air around the thigh in t (:func:`noise_sigma`, the spread of its Rayleigh
  distribution), so no phantom metadata is needed.

* **The blur reference** (``preservation_blur``): the preservation error of x smoothed by a Gaussian of
  :data:`BLUR_REFERENCE_PX` pixels, on the same slice. How far above 1 a good translation lands depends on how
  many pixels the anatomy spans: on 64 px phantom slices this slightest of smoothings scores 2.3-3.6, on 256 px
  slices 0.9 (``mmac.phantom.preservation_scale``). Beside F's own preservation it says, on every cohort and
  slice size, whether F changed the thigh more or less than half a pixel of blur would.

* **Bias outside the infiltration** (which way F moved what it should have left alone). The preservation error
  is unsigned: it cannot tell noise from a shift of a whole tissue. ``bias_bright`` is the mean of F(x) - t
  over the thigh outside R where t is bright (above ``bright``, default 60 % of the range: normal fat, marrow),
  ``bias_dark`` the same where t is darker (healthy muscle, vessels, fascia), both in the image's units (grey
  levels on the dataset's 0-255 scale). A perfect denoiser has both near 0; a translation that darkens normal
  fat and muscle along with the infiltration has both negative (measured on the phantom: docs/science.md).

The Dice of F(x) mixes the two: what F did on the infiltration and what it did to the rest of the thigh.
:func:`infiltration_only` separates them: x with F(x) pasted on R only, the translation F would give if it left
everything else alone. Its optimal two-threshold Dice (the metric's ``dice_infiltration_only``) against
``dice_translated`` says how much of F's Dice the changes outside the infiltration cost (an oracle: R comes from
the truth, which real data lacks).

The body is ``fill_holes(gaussian(t, 1 px) > body_level)`` (default 10 % of the range): the thigh with its
dark cortex and vessels, without the air around it, which any translation keeps dark and which would only
dilute the error.

Everything here is plain numpy/scipy.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage

__all__ = ["noise_sigma", "body_mask", "background_mask", "infiltrated_region", "faithfulness", "infiltration_only",
           "blur_reference", "MIN_REGION_PIXELS", "BLUR_REFERENCE_PX"]

MIN_REGION_PIXELS = 10  # a slice with fewer infiltrated (or body, or background) pixels gets NaN for that score
#: Above this share of exact zeros the air was set to 0 (a masked scan), not measured: it holds no noise.
ZEROED_AIR_SHARE = 0.5
BACKGROUND_MARGIN_PX = 3  # background = outside the body dilated by this many pixels
BLUR_REFERENCE_PX = 0.5  # sigma of the Gaussian of :func:`blur_reference`, in pixels
#: q90 - q50 of a Rayleigh distribution of scale 1: sqrt(2 ln 10) - sqrt(2 ln 2).
_RAYLEIGH_SPREAD = float(np.sqrt(2.0 * np.log(10.0)) - np.sqrt(2.0 * np.log(2.0)))


def noise_sigma(image: np.ndarray, background: np.ndarray) -> float:
    """Noise standard deviation of a magnitude MR slice from its air background.

    In air the signal is zero and the magnitude of complex Gaussian noise of std sigma is Rayleigh distributed,
    with quantiles ``sigma * sqrt(-2 ln(1 - p))`` (Henkelman, Med Phys 1985, used its mean). The estimate is the
    spread between two quantiles of the air, ``(q90 - q50) / (sqrt(2 ln 10) - sqrt(2 ln 2))``: unlike the mean, a
    spread does not move when the dataset's normalisation shifts the air down (the volume's 0.5th percentile,
    which lies in the air, is mapped to 0 and the values below it clipped). The mean read sigma 9-10 % low on
    every normalised phantom slice, which inflated the preservation score of a perfect denoiser to 1.15; the
    spread reads it within 3 % of the generator's sigma (``tests/evaluation/test_faithfulness.py``). Like the
    mean, it is blind to tissue texture, which a noise estimate from the body is not.

    The quantiles are taken over the air pixels that are not exactly 0: the clipped lowest 1 % of the air, and
    the parts of a partly masked background, hold no noise to measure. A scan whose background was set to 0 has
    mostly zeros there: NaN when more than :data:`ZEROED_AIR_SHARE` of the background is exactly 0.

    Args:
        image: One slice, shape (H, W), on a scale where air is 0.
        background: Air pixels, bool (H, W).

    Returns:
        The estimated sigma, in the units of ``image``; NaN for a zeroed background.

    Raises:
        ValueError: Shapes differ, or fewer than :data:`MIN_REGION_PIXELS` background pixels.
    """
    image = np.asarray(image, dtype=np.float64)
    background = np.asarray(background, dtype=bool)
    if background.shape != image.shape:
        raise ValueError(f"noise_sigma: background shape {background.shape} differs from the image's {image.shape}")
    if background.sum() < MIN_REGION_PIXELS:
        raise ValueError(f"noise_sigma: only {int(background.sum())} background pixels (need {MIN_REGION_PIXELS})")
    air = image[background]
    if np.count_nonzero(air == 0) > ZEROED_AIR_SHARE * air.size:
        return float("nan")
    q50, q90 = np.quantile(air[air != 0], [0.5, 0.9])
    return float((q90 - q50) / _RAYLEIGH_SPREAD)


def body_mask(truth: np.ndarray, level: float) -> np.ndarray:
    """The thigh of a slice: ``fill_holes(gaussian(truth, 1 px) > level)``, bool (H, W)."""
    smooth = ndimage.gaussian_filter(np.asarray(truth, dtype=np.float64), 1.0)
    return ndimage.binary_fill_holes(smooth > level)


def background_mask(body: np.ndarray, margin: int = BACKGROUND_MARGIN_PX) -> np.ndarray:
    """Air: the pixels more than ``margin`` pixels (chessboard distance) from the body, bool (H, W)."""
    return ~ndimage.binary_dilation(np.asarray(body, dtype=bool), structure=np.ones((3, 3), bool), iterations=margin)


def infiltrated_region(original: np.ndarray, truth: np.ndarray, delta: float) -> np.ndarray:
    """Pixels where the pathological slice and its healthy counterpart differ by more than ``delta``, bool."""
    return np.abs(np.asarray(original, np.float64) - np.asarray(truth, np.float64)) > delta


def infiltration_only(original: np.ndarray, translated: np.ndarray, truth: np.ndarray, data_range: float = 255.0,
                      delta: float = 0.02) -> np.ndarray:
    """x with F(x) on the infiltrated region R only (where x and t differ by more than ``delta * data_range``).

    Args:
        original: x, shape (..., H, W).
        translated: F(x), same shape and scale.
        truth: The true healthy counterpart t of x, same shape and scale.
        data_range: Intensity range of the scale. Defaults to 255.
        delta: As in :func:`faithfulness`. Defaults to 0.02.

    Returns:
        ``where(R, F(x), x)``, float64, the shape of the inputs.

    Raises:
        ValueError: Shapes differ.
    """
    x, fx, t = (np.asarray(a, dtype=np.float64) for a in (original, translated, truth))
    if not x.shape == fx.shape == t.shape:
        raise ValueError(f"infiltration_only needs three arrays of one shape, got original {x.shape}, translated "
                         f"{fx.shape}, truth {t.shape}")
    return np.where(infiltrated_region(x, t, delta * data_range), fx, x)


def faithfulness(original: np.ndarray, translated: np.ndarray, truth: np.ndarray, data_range: float = 255.0,
                 delta: float = 0.02, body_level: float = 0.1, heavy: float = 0.3,
                 bright: float = 0.6, blur: float = BLUR_REFERENCE_PX) -> dict[str, float]:
    """Removal and preservation scores of one translated slice (see the module docstring).

    Args:
        original: x, shape (H, W).
        translated: F(x), shape (H, W), same scale.
        truth: The true healthy counterpart t of x, shape (H, W), same scale.
        data_range: Intensity range of the scale (255 for the dataset's slices). Defaults to 255.
        delta: Difference between x and t, as a fraction of ``data_range``, above which a pixel is infiltrated.
            Defaults to 0.02.
        body_level: Level, as a fraction of ``data_range``, of the smoothed counterpart that bounds the body.
            Defaults to 0.1.
        heavy: Difference between x and t, as a fraction of ``data_range``, above which an infiltrated pixel is
            heavily infiltrated (``removal_heavy``). Defaults to 0.3.
        bright: Level of the counterpart, as a fraction of ``data_range``, above which a pixel outside the
            infiltration counts as bright tissue (``bias_bright``) rather than dark (``bias_dark``). Defaults to
            0.6 (on the phantom: fat and marrow above, muscle below).
        blur: Sigma, in pixels, of the Gaussian that smooths x for ``preservation_blur``. Defaults to
            :data:`BLUR_REFERENCE_PX`.

    Returns:
        ``removal``; ``removal_heavy`` and ``heavy_px`` (the same on the heavily infiltrated pixels, and their
        number); ``preservation``; ``preservation_blur`` (the preservation of x smoothed by ``blur`` pixels, on
        the same regions and noise level: the score's scale on this slice); ``infiltrated_px`` (size of R);
        ``error_original`` and ``error_translated`` (MAE of x and F(x) to t on R); ``error_kept`` (MAE of F(x) to
        t on the body outside R) and ``noise_mae`` (sigma * sqrt(2 / pi)); ``bias_bright`` and ``bias_dark`` (mean
        F(x) - t on the body outside R where t is above and at or below ``bright``, in the units of the slices).
        A score whose region has fewer than :data:`MIN_REGION_PIXELS` pixels is NaN.

    Raises:
        ValueError: Shapes differ, or a non-positive ``data_range`` or ``blur``.
    """
    x, fx, t = (np.asarray(a, dtype=np.float64) for a in (original, translated, truth))
    if not (x.shape == fx.shape == t.shape) or x.ndim != 2:
        raise ValueError(f"faithfulness needs three 2D slices of one shape, got original {x.shape}, translated "
                         f"{fx.shape}, truth {t.shape}")
    if not data_range > 0:
        raise ValueError(f"data_range must be > 0, got {data_range}")
    if not 0 < delta <= heavy:
        raise ValueError(f"need 0 < delta <= heavy, got delta {delta}, heavy {heavy}")
    if not 0 < bright < 1:
        raise ValueError(f"bright must be a fraction of data_range in (0, 1), got {bright}")
    if not blur > 0:
        raise ValueError(f"blur (the reference Gaussian's sigma) must be > 0 pixels, got {blur}")
    region = infiltrated_region(x, t, delta * data_range)
    heavy_region = infiltrated_region(x, t, heavy * data_range)
    body = body_mask(t, body_level * data_range)
    kept = body & ~region
    background = background_mask(body)
    out = dict(infiltrated_px=float(region.sum()), heavy_px=float(heavy_region.sum()), removal=np.nan,
               removal_heavy=np.nan, preservation=np.nan, preservation_blur=np.nan, error_original=np.nan,
               error_translated=np.nan, error_kept=np.nan, noise_mae=np.nan, bias_bright=np.nan, bias_dark=np.nan)
    if region.sum() >= MIN_REGION_PIXELS:
        out["error_original"] = float(np.abs(x - t)[region].mean())
        out["error_translated"] = float(np.abs(fx - t)[region].mean())
        out["removal"] = 1.0 - out["error_translated"] / out["error_original"]
    if heavy_region.sum() >= MIN_REGION_PIXELS:
        out["removal_heavy"] = 1.0 - float(np.abs(fx - t)[heavy_region].mean() / np.abs(x - t)[heavy_region].mean())
    if kept.sum() >= MIN_REGION_PIXELS and background.sum() >= MIN_REGION_PIXELS:
        out["noise_mae"] = noise_sigma(t, background) * np.sqrt(2.0 / np.pi)
        out["error_kept"] = float(np.abs(fx - t)[kept].mean())
        if out["noise_mae"] > 0:
            out["preservation"] = out["error_kept"] / out["noise_mae"]
            smoothed = ndimage.gaussian_filter(x, blur)
            out["preservation_blur"] = float(np.abs(smoothed - t)[kept].mean()) / out["noise_mae"]
    is_bright = t > bright * data_range
    for key, tissue in (("bias_bright", kept & is_bright), ("bias_dark", kept & ~is_bright)):
        if tissue.sum() >= MIN_REGION_PIXELS:
            out[key] = float((fx - t)[tissue].mean())
    return out


def blur_reference(original: np.ndarray, truth: np.ndarray, data_range: float = 255.0,
                   sigma: float = BLUR_REFERENCE_PX) -> float:
    """The preservation error of x smoothed by a Gaussian of ``sigma`` pixels: the scale of the score on this slice.

    :func:`faithfulness` gives it beside F's own scores (``preservation_blur``); this is it alone.

    Args:
        original: x, shape (H, W).
        truth: Its true healthy counterpart t, same shape and scale.
        data_range: Intensity range of the scale. Defaults to 255.
        sigma: The Gaussian's standard deviation in pixels, > 0. Defaults to :data:`BLUR_REFERENCE_PX`.

    Returns:
        ``faithfulness(x, gaussian(x, sigma), t)['preservation']``; NaN where that is undefined.

    Raises:
        ValueError: As :func:`faithfulness`, or ``sigma`` <= 0.
    """
    return faithfulness(original, original, truth, data_range=data_range, blur=sigma)["preservation_blur"]
