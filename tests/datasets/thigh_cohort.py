"""Writes a tiny synthetic cohort with nibabel (independent of the phantom generator)."""
from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np

SHAPE = (32, 32, 8)
AFFINE = np.diag([1.5, 1.5, 4.0, 1.0])
SUBJECTS = (("h1", "healthy"), ("h2", "healthy"), ("m1", "moderate"), ("m2", "moderate"), ("s1", "severe"))


def save(path: Path, data: np.ndarray, affine: np.ndarray = AFFINE) -> str:
    nib.save(nib.Nifti1Image(np.asarray(data), affine), str(path))
    return path.name


def subject_arrays(seed: int, shape=SHAPE):
    """(image, mask, counterpart, fat_fraction) arrays of one synthetic subject."""
    rng = np.random.default_rng(seed)
    x, y = np.meshgrid(np.arange(shape[0]), np.arange(shape[1]), indexing="ij")
    disc = (x - shape[0] / 2) ** 2 + (y - shape[1] / 2) ** 2 < (shape[0] / 3) ** 2
    mask = np.repeat(disc[:, :, None], shape[2], axis=2).astype(np.uint8)
    healthy = 100.0 * mask + rng.normal(0, 5, shape)
    fat = np.where(mask > 0, rng.uniform(0, 0.5, shape), 0.0).astype(np.float32)
    image = healthy + 300.0 * fat
    return image.astype(np.float32), mask, healthy.astype(np.float32), fat


def write_cohort(root: Path, subjects=SUBJECTS, extra_columns: bool = True) -> Path:
    """Write volumes and ``manifest.csv`` under ``root``; returns the manifest path."""
    root.mkdir(parents=True, exist_ok=True)
    header = "subject,group,image,mask" + (",fat_fraction,counterpart" if extra_columns else "")
    lines = [header]
    for seed, (sid, group) in enumerate(subjects):
        image, mask, healthy, fat = subject_arrays(seed)
        row = [sid, group, save(root / f"{sid}_img.nii.gz", image), save(root / f"{sid}_mask.nii.gz", mask)]
        if extra_columns:
            if group == "healthy":
                row += ["", ""]
            else:
                row += [save(root / f"{sid}_ff.nii.gz", fat), save(root / f"{sid}_cp.nii.gz", healthy)]
        lines.append(",".join(row))
    manifest = root / "manifest.csv"
    manifest.write_text("\n".join(lines) + "\n")
    return manifest
