"""Calibration of the phantom against the paper: optimal two-threshold Dice of the original slices.

Gadermayr et al. report that a segmentation by two intensity thresholds, each slice with its best pair, reaches
a Dice of about 0.85 for moderately and 0.75 for severely infiltrated thighs (and more for healthy ones); this
is the headroom the pseudo-healthy translation is meant to recover. :func:`calibration_report` measures the
same figure on a generated cohort, on every 4th slice (the annotated ones).
"""
from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np


def histogram_threshold_dice(image: np.ndarray, mask: np.ndarray, levels: int = 512) -> tuple[float, float, float]:
    """Best Dice of ``mask`` against ``lo <= image <= hi`` over threshold pairs, on binned intensities.

    Exact when ``image`` has at most ``levels`` distinct values; otherwise the intensities are binned into
    ``levels`` equal-width bins and only bin edges are tried as thresholds, which gives a lower bound of the
    exact optimum that is tight to within one bin.

    Args:
        image: Slice, any shape.
        mask: Binary mask, same shape as ``image``.
        levels: Maximum number of bins. Defaults to 512.

    Returns:
        ``(dice, lo, hi)``; ``(nan, nan, nan)`` when the mask is empty.
    """
    v = np.asarray(image, np.float64).ravel()
    m = np.asarray(mask).ravel() > 0
    n_m = int(m.sum())
    if n_m == 0:
        return float("nan"), float("nan"), float("nan")
    uniq = np.unique(v)
    if uniq.size <= levels:
        edges_lo = edges_hi = uniq
        idx = np.searchsorted(uniq, v)
    else:
        edges = np.linspace(v.min(), v.max(), levels + 1)
        idx = np.clip(np.searchsorted(edges, v, side="right") - 1, 0, levels - 1)
        edges_lo, edges_hi = edges[:-1], edges[1:]
    nb = edges_lo.size
    cm = np.concatenate([[0], np.cumsum(np.bincount(idx[m], minlength=nb))])
    ca = np.concatenate([[0], np.cumsum(np.bincount(idx, minlength=nb))])
    # bins i..j inclusive: tp = cm[j+1] - cm[i], predicted = ca[j+1] - ca[i]
    tp = cm[None, 1:] - cm[:-1, None]
    pred = ca[None, 1:] - ca[:-1, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        dice = np.where(np.triu(np.ones((nb, nb), bool)), 2.0 * tp / (n_m + pred), -1.0)
    i, j = np.unravel_index(int(np.argmax(dice)), dice.shape)
    return float(dice[i, j]), float(edges_lo[i]), float(edges_hi[j])


def _dice_fn():
    try:
        from mmac.evaluation.threshold_dice import optimal_threshold_dice
    except ImportError:
        return histogram_threshold_dice

    def fn(image, mask):
        out = optimal_threshold_dice(image, mask)
        return tuple(float(np.asarray(o)) for o in out[:3])

    return fn


def calibration_report(manifest: str | os.PathLike, every: int = 4, use_reference: bool = True) -> dict[str, float]:
    """Mean optimal-threshold Dice per group of a generated cohort.

    For each subject, the Dice of every ``every``-th slice (``0, every, 2 * every, ...``) with a non-empty mask
    is averaged; the report is the mean over the subjects of each group.

    Args:
        manifest: Path of the cohort's ``manifest.csv``.
        every: Slice stride. Defaults to 4.
        use_reference: Use ``mmac.evaluation.threshold_dice.optimal_threshold_dice`` when it is importable,
            else (or when False) :func:`histogram_threshold_dice`. Defaults to True.

    Returns:
        ``{group: mean Dice}`` for the groups present.

    Raises:
        FileNotFoundError: The manifest does not exist.
        ValueError: ``every`` < 1.
    """
    import nibabel as nib

    manifest = Path(manifest)
    if not manifest.is_file():
        raise FileNotFoundError(f"manifest not found: {manifest}")
    if every < 1:
        raise ValueError(f"every must be >= 1, got {every!r}")
    dice_fn = _dice_fn() if use_reference else histogram_threshold_dice
    per_group: dict[str, list[float]] = {}
    with open(manifest, newline="") as fh:
        for row in csv.DictReader(fh):
            img = np.asarray(nib.load(manifest.parent / row["image"]).dataobj, np.float32)
            msk = np.asarray(nib.load(manifest.parent / row["mask"]).dataobj) > 0
            scores = [dice_fn(img[..., k], msk[..., k])[0] for k in range(0, img.shape[2], every)
                      if msk[..., k].any()]
            if scores:
                per_group.setdefault(row["group"], []).append(float(np.mean(scores)))
    return {g: float(np.mean(v)) for g, v in per_group.items()}


#: Reference outputs of :func:`preservation_scale`: what a translation that changed nothing, one that removed
#: exactly the noise, and plain smoothing filters score on the preservation error.
PRESERVATION_REFERENCES = ("identity", "perfect denoiser", "gaussian 0.5 px", "gaussian 1 px", "median 3 x 3")


def _reference_outputs(image: np.ndarray, clean: np.ndarray) -> dict[str, np.ndarray]:
    """The :data:`PRESERVATION_REFERENCES` outputs for one slice x, (H, W) each; ``clean`` is the noise-free
    counterpart (the perfect denoiser's output, which also removes the infiltration)."""
    from scipy import ndimage

    return {"identity": image, "perfect denoiser": clean, "gaussian 0.5 px": ndimage.gaussian_filter(image, 0.5),
            "gaussian 1 px": ndimage.gaussian_filter(image, 1.0), "median 3 x 3": ndimage.median_filter(image, 3)}


def preservation_scale(moderate: int = 7, severe: int = 13, size: int = 256, slices: int = 53, seed: int = 0,
                       chemical_shift: bool = False, every: int = 4) -> dict[str, dict[str, float]]:
    """The scale of the preservation error on a cohort: what reference outputs score on its pathological slices.

    The preservation error (:func:`mmac.evaluation.faithfulness.faithfulness`) is in units of the noise: 0 for
    a translation that leaves the thigh outside the infiltration as it is, 1 for a perfect denoiser. How much
    more a real translation may score depends on how fine the anatomy is against the pixel: at 64 px a smoothing
    of half a pixel already moves the thin septa, the fat ring and the femur's cortex by several noise levels.
    This measures it. Each pathological subject of the cohort is generated twice, with and without noise
    (:func:`mmac.phantom.cohort.make_subject`, the same anatomy), its volumes normalised as the dataset does
    (the noisy image's 0.5th and 99.5th percentiles to 0 and 255, clipped), and every ``every``-th slice with
    muscle scored for each output of :data:`PRESERVATION_REFERENCES`, against the noisy healthy counterpart:
    the identity (x itself), the perfect denoiser (the noise-free counterpart), x smoothed by Gaussians of 0.5
    and 1 px and by a 3 x 3 median.

    Args:
        moderate: Number of moderate subjects (indices 1..moderate, as in :func:`~mmac.phantom.make_cohort`).
            Defaults to 7.
        severe: Number of severe subjects. Defaults to 13.
        size: In-plane matrix size. Defaults to 256.
        slices: Slices per volume. Defaults to 53.
        seed: Cohort seed. Defaults to 0.
        chemical_shift: As the cohort was made. Defaults to False.
        every: Slice stride. Defaults to 4.

    Returns:
        ``{reference: {group: mean preservation}}``: per subject the mean over its slices, then the mean over the
        subjects of the group, for the groups with subjects.

    Raises:
        TypeError, ValueError: Bad counts, size, slices (from :func:`~mmac.phantom.make_subject`) or ``every``.
    """
    from mmac._validate import check_int
    from mmac.datasets.manifest import normalise, robust_percentiles
    from mmac.evaluation.faithfulness import faithfulness
    from mmac.phantom.cohort import make_subject

    check_int(every, "every", minimum=1)
    check_int(moderate, "moderate", minimum=0)
    check_int(severe, "severe", minimum=0)
    if moderate + severe == 0:
        raise ValueError("preservation_scale needs at least one moderate or severe subject")
    per_subject: dict[str, dict[str, list[float]]] = {name: {} for name in PRESERVATION_REFERENCES}
    for group, count in (("moderate", moderate), ("severe", severe)):
        for index in range(1, count + 1):
            kwargs = dict(group=group, seed=seed, index=index, size=size, slices=slices, chemical_shift=chemical_shift)
            noisy, clean = make_subject(**kwargs), make_subject(noise=False, **kwargs)
            lo, hi = robust_percentiles(noisy.image)
            x, t, t0 = (255.0 * normalise(v, lo, hi) for v in (noisy.image, noisy.healthy, clean.healthy))
            scores: dict[str, list[float]] = {name: [] for name in PRESERVATION_REFERENCES}
            for k in range(0, slices, every):
                if not noisy.mask[..., k].any():
                    continue
                for name, out in _reference_outputs(x[..., k], t0[..., k]).items():
                    scores[name].append(faithfulness(x[..., k], out, t[..., k])["preservation"])
            for name, values in scores.items():
                values = np.asarray(values, float)
                if np.isfinite(values).any():
                    per_subject[name].setdefault(group, []).append(float(np.nanmean(values)))
    return {name: {g: float(np.mean(v)) for g, v in groups.items()} for name, groups in per_subject.items()}
