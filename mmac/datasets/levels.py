"""Tissue levels of each domain after the dataset's normalisation: are healthy and pathological scans alike?

F is trained to make pathological slices look like the healthy ones. If the normalisation leaves the healthy
scans' normal tissue brighter or darker than the patients' (another scanner, coil or protocol for one group, or
a percentile that falls elsewhere in the intensity histogram), F learns to shift normal tissue too, and the
pseudo-healthy slices change what needed no change. This measures it before training: per subject, the mean
level of bright normal tissue (fat, marrow: above ``bright`` of the range, outside the muscle mask) and the
median of muscle (inside the mask), on the 0-255 scale the model sees, every ``every``-th axial slice.

For a synthetic patient with a healthy counterpart, the counterpart is measured (its normal tissue without the
infiltration, normalised with the patient's own percentiles, as the dataset serves it); otherwise the scan
itself, with the infiltrated muscle left out by the mask. A healthy subject without a mask gives no muscle level.
Label-map masks that also label other tissue (bone, subcutaneous fat) need ``mask_labels``, the muscle labels as
the dataset's option of that name; otherwise every non-zero label counts as muscle, the other tissue is measured
as muscle and left out of the bright normal tissue.
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["subject_levels", "tissue_levels", "level_summary"]


def subject_levels(image: np.ndarray, mask: np.ndarray | None, every: int = 4, bright: float = 0.6,
                   body_level: float = 0.1) -> dict[str, float | int]:
    """Bright normal tissue and muscle levels of one normalised volume.

    Args:
        image: The volume, (X, Y, Z) on the 0-255 scale, axial slices along the last axis.
        mask: Muscle mask, bool (X, Y, Z), or None.
        every: Slice stride. Defaults to 4.
        bright: Level, as a fraction of 255, above which body tissue outside the muscle mask counts as bright
            normal tissue. Defaults to 0.6 (the faithfulness scores' ``bright``).
        body_level: The body is ``fill_holes(gaussian(slice, 1 px) > body_level * 255)``. Defaults to 0.1.

    Returns:
        ``bright_level`` (mean over slices of the mean bright normal tissue), ``muscle_level`` (mean over slices
        of the muscle median; NaN without a mask) and ``slices`` (int, slices with bright normal tissue).

    Raises:
        ValueError: ``image`` is not 3D, ``mask`` has another shape, or ``every`` < 1.
    """
    from mmac.evaluation.faithfulness import body_mask

    image = np.asarray(image, dtype=np.float64)
    if image.ndim != 3:
        raise ValueError(f"image must be a 3D volume, got shape {image.shape}")
    if mask is not None and np.shape(mask) != image.shape:
        raise ValueError(f"mask shape {np.shape(mask)} differs from the image's {image.shape}")
    if every < 1:
        raise ValueError(f"every must be >= 1, got {every}")
    brights, muscles = [], []
    for z in range(0, image.shape[2], every):
        plane = image[..., z]
        body = body_mask(plane, body_level * 255.0)
        muscle = body & mask[..., z] if mask is not None else np.zeros_like(body)
        normal = body & (plane > bright * 255.0) & ~muscle
        if normal.any():
            brights.append(plane[normal].mean())
        if muscle.any():
            muscles.append(np.median(plane[muscle]))
    return dict(bright_level=float(np.mean(brights)) if brights else float("nan"),
                muscle_level=float(np.mean(muscles)) if muscles else float("nan"),
                slices=len(brights))


def tissue_levels(manifest: str | os.PathLike, every: int = 4, bright: float = 0.6,
                  mask_labels: Sequence[int] | None = None, progress: bool = False) -> pd.DataFrame:
    """:func:`subject_levels` of every subject of a cohort, loaded and normalised as the dataset does.

    Args:
        manifest: Path of the cohort's ``manifest.csv``.
        every: Slice stride. Defaults to 4.
        bright: See :func:`subject_levels`. Defaults to 0.6.
        mask_labels: Mask labels that are muscle, e.g. ``[1, 2, 3]`` of a label map that also labels bone or
            subcutaneous fat; the dataset's option of that name (:func:`mmac.datasets.manifest.muscle_mask`).
            None: every non-zero label. Defaults to None.
        progress: A tqdm progress bar on stderr over the subjects ("tissue levels"). Defaults to False.

    Returns:
        A DataFrame, one row per subject: ``subject``, ``group``, ``measured`` (``'counterpart'`` or ``'scan'``),
        ``bright_level``, ``muscle_level``, ``slices`` (int).

    Raises:
        FileNotFoundError, ValueError: As the dataset's loading (:func:`mmac.datasets.manifest.read_manifest`,
            :func:`~mmac.datasets.manifest.load_subject`), naming the row or file.
        TypeError, ValueError: Bad ``mask_labels`` (:func:`mmac.datasets.manifest.check_mask_labels`), before
            anything is read.
    """
    import pandas as pd
    from tqdm import tqdm

    from mmac.datasets.manifest import check_mask_labels, load_subject, read_manifest

    mask_labels = check_mask_labels(mask_labels)
    rows = []
    for record in tqdm(read_manifest(manifest), desc="tissue levels", unit="subject", disable=not progress):
        volume = load_subject(record, load_counterpart=True, load_fat_fraction=False, mask_labels=mask_labels)
        use_counterpart = volume.counterpart is not None
        image = 255.0 * (volume.counterpart if use_counterpart else volume.image)
        rows.append(dict(subject=record.subject, group=record.group,
                         measured="counterpart" if use_counterpart else "scan",
                         **subject_levels(image, volume.mask, every=every, bright=bright)))
    return pd.DataFrame(rows, columns=["subject", "group", "measured", "bright_level", "muscle_level", "slices"])


def level_summary(levels: pd.DataFrame) -> pd.DataFrame:
    """Per group: mean and std over subjects of both levels, and the healthy group's difference to the others.

    Returns:
        Columns ``group``, ``n``, ``bright_mean``, ``bright_std``, ``muscle_mean``, ``muscle_std``,
        ``bright_vs_healthy`` and ``muscle_vs_healthy`` (the group's mean minus the healthy group's; NaN without
        healthy subjects).
    """
    import pandas as pd

    out = []
    for group, sub in levels.groupby("group", sort=False):
        out.append(dict(group=group, n=len(sub), bright_mean=sub["bright_level"].mean(),
                        bright_std=sub["bright_level"].std(ddof=1), muscle_mean=sub["muscle_level"].mean(),
                        muscle_std=sub["muscle_level"].std(ddof=1)))
    frame = pd.DataFrame(out)
    healthy = frame[frame["group"] == "healthy"]
    for key in ("bright", "muscle"):
        reference = healthy[f"{key}_mean"].iloc[0] if len(healthy) else np.nan
        frame[f"{key}_vs_healthy"] = frame[f"{key}_mean"] - reference
    return frame
