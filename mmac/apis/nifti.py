"""Translate NIfTI volumes to pseudo-healthy volumes, fat maps, muscle masks and a fat-fraction estimate.

The application of Gadermayr et al., "An Asymmetric Cycle-Consistency Loss for Dealing with Many-to-One
Mappings in Image Translation: A Study on Thigh MR Scans" (ISBI 2021): F(x) removes the fat infiltration from
a thigh MR volume x, so that muscle can be segmented by two intensity thresholds on F(x) and the fat left in
the muscle read off x - F(x).

Per input volume ``<name>.nii[.gz]`` :func:`translate_nifti` writes, in the input's original voxel order,
affine and header:

* ``<name>_pseudohealthy.nii.gz``: F(x), float32, in the input's intensity scale (the normalisation
  percentiles mapped back; intensities beyond them were clipped on input);
* ``<name>_fatmap.nii.gz``: ``max(x - F(x), 0)``, float32, in the normalised scale (0 = none, 1 = the 99.5th
  percentile of x);
* ``<name>_muscle.nii.gz``: uint8 muscle mask, ``lo <= F(x) <= hi``, thresholds as below;

and the row ``volume, mean_ff_estimate, muscle_voxels, thresholds`` of ``<out>/fat_fraction.csv`` (replaced
when the volume is translated again): the mean over the muscle mask of
:func:`mmac.evaluation.fat_fraction.fat_fraction_estimate` of x and F(x).

Muscle thresholds:

* with a reference mask (``mask``): on every slice whose reference mask is non-empty, the thresholds of the
  optimal two-threshold Dice against it (:func:`mmac.evaluation.threshold_dice.optimal_threshold_dice`, the
  paper's evaluation); slices without reference muscle (e.g. between annotated slices) take the median of
  those per-slice thresholds. ``thresholds = 'mask'``.
* without one: per volume, from the histogram of F(x) (:func:`muscle_mask_from_histogram`): a 3-class
  multi-Otsu split into background / muscle / fat, the mode of the middle (muscle) class, and
  ``mode ± 3 * 1.4826 * MAD`` kept inside the class limits. ``thresholds = 'histogram'``. On the phantom's
  healthy counterparts this reaches a Dice within about 0.05 of the optimal thresholds.

Input is validated as the dataset validates it (:func:`mmac.datasets.manifest.load_nifti` and the same
checks: missing file, unreadable or truncated file, not 3D, NaN/inf voxels, constant volume; masks: same grid,
binary or a label map, not empty) before anything is written. A trailing singleton 4th axis, (x, y, z, 1), is
read as 3D, as the dataset reads it, and the outputs keep the input's (x, y, z, 1) shape. :func:`translate_files`
checks every input volume and mask before it translates any, and reports all bad ones in one error. Each output
is written to a temporary file in the output folder and renamed into place only when all three volumes are
written, so a failure leaves no partial output; outputs get the permissions a plain ``open(path, 'w')`` gives
(:func:`mmac.fileio.atomic_path`).

Reference masks in a folder (``--mask``) are found by the input's name: ``<name>_mask.nii[.gz]``,
``<name>_muscle.nii[.gz]`` (the layout of docs/real_data.md) or ``<name>.nii[.gz]``, the first that exists.
"""
from __future__ import annotations

import contextlib
import functools
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mmac.datasets.manifest import (
    PERCENTILES,
    check_finite,
    check_mask_labels,
    check_same_grid,
    load_nifti,
    muscle_mask,
    normalise,
    robust_percentiles,
    slices_to_volume,
    volume_to_slices,
)
from mmac.fileio import atomic_path, write_csv_atomic

__all__ = ["VolumeResult", "check_inputs", "find_inputs", "find_mask", "is_manifest", "model_mask_labels",
           "muscle_mask_from_histogram", "translate_nifti", "translate_files", "translate_inputs", "FAT_FRACTION_CSV",
           "OUTPUT_SUFFIXES"]

logger = logging.getLogger(__name__)

NIFTI_SUFFIXES = (".nii.gz", ".nii")
OUTPUT_SUFFIXES = ("_pseudohealthy", "_fatmap", "_muscle")
MASK_TAGS = ("_mask", "_muscle", "")  # a folder's mask of <name>.nii[.gz]: <name><tag>.nii[.gz], in this order
FAT_FRACTION_CSV = "fat_fraction.csv"
HISTOGRAM_K = 3.0


@dataclass
class VolumeResult:
    """What :func:`translate_nifti` wrote for one volume.

    Attributes:
        volume: Input name without the NIfTI suffix.
        pseudo_healthy: Path of ``<name>_pseudohealthy.nii.gz``.
        fatmap: Path of ``<name>_fatmap.nii.gz``.
        muscle: Path of ``<name>_muscle.nii.gz``.
        mean_ff_estimate: Mean estimated fat fraction over the muscle mask (NaN when the mask is empty).
        muscle_voxels: Voxels in the muscle mask.
        thresholds: ``'mask'`` or ``'histogram'``, how the muscle thresholds were chosen.
    """

    volume: str
    pseudo_healthy: Path
    fatmap: Path
    muscle: Path
    mean_ff_estimate: float
    muscle_voxels: int
    thresholds: str


def volume_name(path: str | Path) -> str:
    """``'a/b/sub01.nii.gz'`` -> ``'sub01'``."""
    name = Path(path).name
    for suffix in NIFTI_SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return Path(name).stem


def is_manifest(path: str | Path | None) -> bool:
    """Whether ``path`` is a study manifest (a ``.csv`` file, :mod:`mmac.datasets.manifest`)."""
    return path is not None and Path(path).suffix.lower() == ".csv" and Path(path).is_file()


def manifest_images(path: str | Path) -> dict:
    """A study manifest's records by resolved image path, in the manifest's order
    (:func:`mmac.datasets.manifest.read_manifest`). Read once per version of the file (its path, modification
    time and size), however many inputs look their mask up in it."""
    path = Path(path).resolve()
    stat = path.stat()
    return _read_manifest_once(str(path), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=4)
def _read_manifest_once(path: str, mtime_ns: int, size: int) -> dict:
    from mmac.datasets.manifest import read_manifest

    return {record.image.resolve(): record for record in read_manifest(path)}


def find_inputs(path: str | Path) -> list[Path]:
    """One NIfTI file, the ``*.nii`` / ``*.nii.gz`` files of a folder (sorted, not recursive), or the images a
    study manifest lists (in its order).

    Raises:
        FileNotFoundError: ``path`` does not exist, the folder holds no NIfTI file, or the manifest or a file it
            lists is missing.
        ValueError: ``path`` is a file without a ``.nii`` / ``.nii.gz`` suffix, or a bad manifest.
    """
    path = Path(path)
    if is_manifest(path):
        return [record.image for record in manifest_images(path).values()]
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and p.name.endswith(NIFTI_SUFFIXES))
        if not files:
            raise FileNotFoundError(f"no NIfTI volume (*.nii, *.nii.gz) in folder {path}")
        return files
    if not path.exists():
        raise FileNotFoundError(f"input not found: {path} (expected a NIfTI file or a folder of them)")
    if not path.name.endswith(NIFTI_SUFFIXES):
        raise ValueError(f"input {path} is not a NIfTI file: expected a .nii or .nii.gz suffix")
    return [path]


def mask_candidates(folder: str | Path, image: str | Path) -> list[Path]:
    """The files of ``folder`` that may be the mask of ``image``, in the order they are tried.

    ``<name>_mask.nii.gz``, ``<name>_mask.nii``, ``<name>_muscle.nii.gz``, ``<name>_muscle.nii``,
    ``<name>.nii.gz``, ``<name>.nii`` for ``image`` ``<name>.nii[.gz]``.
    """
    name = volume_name(image)
    return [Path(folder) / f"{name}{tag}{suffix}" for tag in MASK_TAGS for suffix in NIFTI_SUFFIXES]


def find_mask(mask: str | Path | None, image: Path, single: bool, optional: bool = False) -> Path | None:
    """The reference mask of ``image``: ``mask`` itself, the first of :func:`mask_candidates` in a folder, or
    the mask a study manifest gives ``image``.

    A folder's mask of ``<name>.nii[.gz]`` is ``<name>_mask.nii[.gz]``, ``<name>_muscle.nii[.gz]`` or
    ``<name>.nii[.gz]`` (not ``image`` itself). A manifest's is the ``mask`` of the row whose ``image`` is
    ``image`` (the same file).

    Args:
        mask: A mask file (only for a single input volume), a folder of masks, a manifest, or None.
        image: The input volume.
        single: Whether ``image`` is the only input.
        optional: With a manifest, a row without a mask (a healthy subject) gives None instead of an error.
            Defaults to False.

    Returns:
        The mask file, or None when ``mask`` is None (or, with ``optional``, the manifest's row has none).

    Raises:
        FileNotFoundError: ``mask`` does not exist, the folder holds no mask for ``image`` (the message lists
            every name looked for), or the manifest does not list ``image`` or gives it no mask.
        ValueError: ``mask`` is a file but there are several input volumes; a bad manifest.
    """
    if mask is None:
        return None
    mask = Path(mask)
    if is_manifest(mask):
        record = manifest_images(mask).get(Path(image).resolve())
        if record is None:
            raise FileNotFoundError(f"{image} is not an image of the manifest {mask}")
        if record.mask is None and not optional:
            raise FileNotFoundError(f"{mask} row {record.row} (subject {record.subject!r}) gives {image} no mask")
        return record.mask
    if mask.is_dir():
        candidates = mask_candidates(mask, image)
        for candidate in candidates:
            if candidate.is_file() and candidate.resolve() != Path(image).resolve():
                return candidate
        raise FileNotFoundError(f"no mask for {image} in {mask}: looked for "
                                f"{', '.join(c.name for c in candidates)}")
    if not mask.is_file():
        raise FileNotFoundError(f"mask not found: {mask}")
    if not single:
        raise ValueError(f"--mask {mask} is one file but the input holds several volumes; give a folder of masks "
                         "named <name>_mask.nii.gz, <name>_muscle.nii.gz or <name>.nii.gz (.nii too)")
    return mask


def muscle_mask_from_histogram(pseudo_healthy: np.ndarray, k: float = HISTOGRAM_K,
                               bins: int = 64) -> tuple[float, float]:
    """Muscle thresholds ``(lo, hi)`` of a pseudo-healthy volume without a reference mask.

    F(x) should show healthy muscle, which is darker than fat and brighter than background in T1. A
    3-class multi-Otsu split (:func:`skimage.filters.threshold_multiotsu`) gives background < t1 <= muscle <
    t2 <= fat; within the muscle class, the thresholds are the histogram mode ± ``k`` robust standard
    deviations (1.4826 * median absolute deviation about the mode), kept inside [t1, t2).

    Args:
        pseudo_healthy: F(x) of any shape, normalised intensities.
        k: Half-width in robust standard deviations. Defaults to 3.
        bins: Histogram bins of the muscle class. Defaults to 64.

    Returns:
        ``(lo, hi)``; the mask is ``lo <= F(x) <= hi``.

    Raises:
        ValueError: ``k <= 0`` or fewer than 3 distinct intensities.
    """
    from skimage.filters import threshold_multiotsu

    if not k > 0:
        raise ValueError(f"k must be > 0, got {k}")
    values = np.asarray(pseudo_healthy, dtype=np.float64).ravel()
    if np.unique(values[: min(values.size, 1 << 20)]).size < 3 and np.unique(values).size < 3:
        raise ValueError("the pseudo-healthy volume holds fewer than 3 distinct intensities; cannot separate "
                         "background, muscle and fat")
    t1, t2 = threshold_multiotsu(values, classes=3)
    muscle = values[(values >= t1) & (values < t2)]
    if muscle.size == 0:
        return float(t1), float(t2)
    hist, edges = np.histogram(muscle, bins=bins)
    peak = 0.5 * (edges[np.argmax(hist)] + edges[np.argmax(hist) + 1])
    spread = 1.4826 * float(np.median(np.abs(muscle - peak)))
    return float(max(t1, peak - k * spread)), float(min(t2, peak + k * spread))


def _muscle_from_mask(pseudo_slices: np.ndarray, ref_slices: np.ndarray, where: str) -> np.ndarray:
    """Per-slice optimal thresholds on (Z, H, W); slices without reference muscle take the median thresholds."""
    from mmac.evaluation.threshold_dice import optimal_threshold_dice_batch

    annotated = np.flatnonzero(ref_slices.reshape(len(ref_slices), -1).any(axis=1))
    if annotated.size == 0:
        raise ValueError(f"{where}: the reference mask is empty on every slice; give a mask with muscle or leave "
                         "--mask out (histogram thresholds)")
    _, lo, hi = optimal_threshold_dice_batch(pseudo_slices[annotated], ref_slices[annotated])
    lo_all = np.full(len(pseudo_slices), np.median(lo), np.float64)
    hi_all = np.full(len(pseudo_slices), np.median(hi), np.float64)
    lo_all[annotated], hi_all[annotated] = lo, hi
    return (pseudo_slices >= lo_all[:, None, None]) & (pseudo_slices <= hi_all[:, None, None])


def _load_input(image_path: Path, mask_path: Path | None, percentiles: tuple[float, float],
                mask_labels=None) -> tuple[np.ndarray, np.ndarray | None, object, tuple[float, float]]:
    """Load and validate like :func:`mmac.datasets.manifest.load_subject`; returns canonical data."""
    import nibabel as nib

    where = f"translate {image_path.name}"
    image, _, raw_affine = load_nifti(image_path, "image", where)
    check_finite(image, "image", image_path, where)
    lo, hi = robust_percentiles(image, percentiles)
    if not hi > lo:
        raise ValueError(f"{where}: image {image_path} is constant (or nearly so): its {percentiles[0]}th and "
                         f"{percentiles[1]}th percentiles are both {lo:g}")
    mask = None
    if mask_path is not None:
        mask_f, _, mask_raw = load_nifti(mask_path, "mask", where)
        check_same_grid(mask_f, mask_raw, image.shape, raw_affine, "mask", mask_path, image_path, where)
        check_finite(mask_f, "mask", mask_path, where)
        mask = muscle_mask(mask_f, mask_labels, mask_path, where)  # 0/1, 0/255 or labels, as the dataset
        if not mask.any():
            labels = "" if mask_labels is None else f" with mask_labels {list(mask_labels)}"
            raise ValueError(f"{where}: the reference mask {mask_path} is empty on every slice{labels}; give a "
                             "mask with muscle or leave --mask out (histogram thresholds)")
    original = nib.load(str(image_path))
    return image, mask, original, (lo, hi)


def _to_original_orientation(canonical: np.ndarray, raw_affine: np.ndarray) -> np.ndarray:
    """Undo :func:`nibabel.as_closest_canonical`: RAS voxel order -> the input's voxel order."""
    from nibabel.orientations import apply_orientation, axcodes2ornt, io_orientation, ornt_transform

    transform = ornt_transform(axcodes2ornt(("R", "A", "S")), io_orientation(raw_affine))
    return np.ascontiguousarray(apply_orientation(canonical, transform))


def _save_like(data: np.ndarray, original, dtype, path: Path) -> None:
    """Save ``data`` (input voxel order) with the input's affine and header, as ``dtype``, no scaling.

    ``data`` (X, Y, Z) takes the input's shape, so an (X, Y, Z, 1) input gives (X, Y, Z, 1) outputs.
    """
    import nibabel as nib

    if tuple(original.shape) != data.shape:
        data = data.reshape(original.shape)  # (X, Y, Z) -> (X, Y, Z, 1)
    header = original.header.copy()
    header.set_data_dtype(dtype)
    img = nib.Nifti1Image(data.astype(dtype), np.asarray(original.affine), header=header)
    img.header.set_slope_inter(None, None)
    for code in ("qform", "sform"):  # keep the input's codes (and so which affine readers use)
        _, orig_code = getattr(original.header, f"get_{code}")(coded=True)
        if orig_code:
            getattr(img.header, f"set_{code}")(np.asarray(original.affine), code=int(orig_code))
    nib.save(img, str(path))


def _append_csv(out_dir: Path, row: dict) -> Path:
    """Add or replace ``row`` (keyed by ``volume``) in ``out_dir/fat_fraction.csv``, atomically."""
    import pandas as pd

    path = out_dir / FAT_FRACTION_CSV
    table = pd.read_csv(path) if path.is_file() else pd.DataFrame(columns=list(row))
    if len(table):
        table = table[table["volume"].astype(str) != row["volume"]]
    table = pd.concat([table, pd.DataFrame([row])], ignore_index=True) if len(table) else pd.DataFrame([row])
    return write_csv_atomic(table, path)


def translate_nifti(translator, image: str | Path, out_dir: str | Path, mask: str | Path | None = None,
                    batch_size: int = 16, progress: bool = True,
                    percentiles: tuple[float, float] = PERCENTILES, mask_labels=None,
                    name: str | None = None) -> VolumeResult:
    """Translate one NIfTI volume and write its outputs (see the module docstring).

    Args:
        translator: A :class:`~mmac.apis.inference.Translator` (F: pathological -> healthy).
        image: The input NIfTI volume.
        out_dir: Output folder (created if missing).
        mask: Reference muscle mask on the image's grid, or None for histogram thresholds. Defaults to None.
        batch_size: Slices per forward pass. Defaults to 16.
        progress: Show a tqdm progress bar. Defaults to True.
        percentiles: Normalisation percentiles, as the dataset's. Defaults to (0.5, 99.5).
        mask_labels: Labels of ``mask`` that are muscle; None: every non-zero voxel
            (:func:`mmac.datasets.manifest.muscle_mask`). Defaults to None.
        name: The outputs' name, ``<name>_pseudohealthy.nii.gz`` etc. Defaults to the input's name without
            its suffix.

    Returns:
        What was written.

    Raises:
        FileNotFoundError: The image or mask does not exist.
        ValueError: Bad image or mask (see the module docstring; a mask without muscle too); raised before
            anything is written.
    """
    from mmac.evaluation.fat_fraction import fat_fraction_estimate

    image = Path(image)
    mask_path = Path(mask) if mask is not None else None
    data, ref_mask, original, (lo, hi) = _load_input(image, mask_path, percentiles, mask_labels)
    x = normalise(data, lo, hi)  # (X, Y, Z) canonical, [0, 1]
    x_slices = volume_to_slices(x)  # (Z, H, W)
    fx_slices = translator.translate_slices(x_slices, batch_size=batch_size, progress=progress)  # (Z, H, W)
    if ref_mask is not None:
        muscle_slices = _muscle_from_mask(fx_slices, volume_to_slices(ref_mask), str(image))
        source = "mask"
    else:
        t_lo, t_hi = muscle_mask_from_histogram(fx_slices)
        muscle_slices = (fx_slices >= t_lo) & (fx_slices <= t_hi)
        source = "histogram"
        logger.info("%s: muscle thresholds from the F(x) histogram: [%.4f, %.4f]", image.name, t_lo, t_hi)
    ff = fat_fraction_estimate(x_slices, fx_slices)  # (Z, H, W)
    voxels = int(muscle_slices.sum())
    mean_ff = float(ff[muscle_slices].mean()) if voxels else float("nan")
    if not voxels:
        logger.warning("%s: the muscle mask is empty; mean_ff_estimate is NaN", image)

    fx = slices_to_volume(fx_slices)
    outputs = {
        "_pseudohealthy": (lo + fx.astype(np.float64) * (hi - lo), np.float32),
        "_fatmap": (np.clip(x - fx, 0.0, None), np.float32),
        "_muscle": (slices_to_volume(muscle_slices), np.uint8),
    }
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    name = name or volume_name(image)
    raw_affine = np.asarray(original.affine, dtype=np.float64)
    finals = {suffix: out_dir / f"{name}{suffix}.nii.gz" for suffix in outputs}
    new = [final for final in finals.values() if not final.exists()]
    try:
        with contextlib.ExitStack() as stack:  # all three renamed into place only when all three are written
            for suffix, (volume, dtype) in outputs.items():
                tmp = stack.enter_context(atomic_path(finals[suffix], suffix=".tmp.nii.gz"))
                _save_like(_to_original_orientation(volume, raw_affine), original, dtype, Path(tmp))
    except BaseException:  # a rename that failed after others succeeded: no lone new output is left
        for final in new:
            final.unlink(missing_ok=True)
        raise
    _append_csv(out_dir, dict(volume=name, mean_ff_estimate=mean_ff, muscle_voxels=voxels, thresholds=source))
    return VolumeResult(volume=name, pseudo_healthy=finals["_pseudohealthy"], fatmap=finals["_fatmap"],
                        muscle=finals["_muscle"], mean_ff_estimate=mean_ff, muscle_voxels=voxels,
                        thresholds=source)


def model_mask_labels(cfg) -> tuple[int, ...] | None:
    """The mask labels that are muscle in a model's config, as :func:`~mmac.apis.inference.model_image_size`
    finds the size: the first non-None ``dataset.mask_labels`` of ``test_dataloader``, ``val_dataloader``,
    ``train_dataloader``.

    Args:
        cfg: The model's mmengine ``Config``.

    Returns:
        The labels as a sorted tuple (:func:`mmac.datasets.manifest.check_mask_labels`), or None when no loader
        names any (every non-zero voxel is muscle).

    Raises:
        ValueError: The config's ``mask_labels`` is not a non-empty list of ints >= 1; the message names the
            key.
    """
    for key in ("test_dataloader", "val_dataloader", "train_dataloader"):
        dataset = (cfg.get(key) or {}).get("dataset") or {}
        labels = dataset.get("mask_labels")
        if labels is not None:
            try:
                return check_mask_labels(list(labels) if isinstance(labels, (list, tuple)) else labels)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"config {key}.dataset.mask_labels: {exc}") from None
    return None


def _indent(message: str) -> str:
    return message.replace("\n", "\n    ")


def _check_mask_argument(mask: Path, files: list[Path], out_dir: Path) -> None:
    """Raise when ``mask`` does not exist, is the output folder, or is one mask file for several volumes."""
    if not mask.exists():
        raise FileNotFoundError(f"mask not found: {mask}")
    if mask.is_dir() and mask.resolve() == out_dir.resolve():
        raise ValueError(f"--out {out_dir} is the mask folder; choose another folder so the outputs "
                         "<name>_muscle.nii.gz do not replace masks or get taken as masks next time")
    if mask.is_file() and len(files) > 1 and not is_manifest(mask):
        find_mask(mask, files[0], single=False)  # raises the ValueError


def _misnamed_inputs(files: list[Path], names: dict | None) -> list[tuple[Path, Exception]]:
    """``(input, error)`` for each input named as another input's mask or output.

    Taken for an image, such a file would be translated. With ``names`` (a manifest names its images itself)
    no input is checked.
    """
    errors: list[tuple[Path, Exception]] = []
    by_name = {} if names else {volume_name(f): f for f in files}
    for f in files:
        name = volume_name(f)
        for tag in (*MASK_TAGS[:-1], *OUTPUT_SUFFIXES):
            owner = by_name.get(name[:-len(tag)]) if name.endswith(tag) else None
            if owner is not None and owner != f:
                what = "a mask" if tag in MASK_TAGS else "an output of an earlier translation"
                errors.append((f, ValueError(f"{f} is named as {what} of {owner} (<name>{tag}); give the masks' "
                                             "folder as --mask, or move it out of the input folder")))
                break
    return errors


def check_inputs(files: list[Path], mask: str | Path | None, out_dir: str | Path,
                 percentiles: tuple[float, float] = PERCENTILES, mask_labels=None,
                 optional_masks: bool = False, names: dict | None = None) -> list[tuple[Path, Path | None]]:
    """Check every input volume and its mask as :func:`translate_nifti` would, before any is translated.

    Each volume must be a readable 3D NIfTI (or (x, y, z, 1)), finite and not constant; with ``mask``, its
    mask must be found (:func:`find_mask`), lie on the volume's grid, be binary or a label map and hold muscle.
    Two inputs must not give the same output names (``a.nii`` and ``a.nii.gz``), and no output may replace an
    input or a mask. When ``mask`` is the input folder, the masks found there are not inputs.

    Args:
        files: The input volumes (:func:`find_inputs`).
        mask: A mask file (single input), a folder of masks, or None.
        out_dir: The output folder.
        percentiles: Normalisation percentiles. Defaults to (0.5, 99.5).
        mask_labels: Labels of the masks that are muscle; None: every non-zero voxel. Defaults to None.
        optional_masks: With a manifest as ``mask``, rows without a mask translate without one (histogram
            thresholds). Defaults to False.
        names: The outputs' name per input volume; None: each input's name without its suffix.

    Returns:
        ``(volume, mask or None)`` for every input volume to translate, in input order.

    Raises:
        FileNotFoundError: ``mask`` does not exist, or (every problem being a missing mask) masks are missing.
        ValueError: ``mask`` is one file for several volumes, ``out_dir`` is the mask folder, or any input is
            bad: one error listing every bad input, a line each naming the file and the problem.
    """
    out_dir = Path(out_dir)
    if mask is not None:
        mask = Path(mask)
        _check_mask_argument(mask, files, out_dir)
    found: dict[Path, Path | None] = {}
    errors: list[tuple[Path, Exception]] = []
    for f in files:
        try:
            found[f] = find_mask(mask, f, single=len(files) == 1, optional=optional_masks)
        except FileNotFoundError as exc:
            errors.append((f, exc))
    if mask is not None and mask.is_dir():  # a folder holding images and their masks: masks are not inputs
        mask_files = {m.resolve() for m in found.values() if m is not None}
        files = [f for f in files if f.resolve() not in mask_files]
        errors = [(f, e) for f, e in errors if f.resolve() not in mask_files]
    errors += _misnamed_inputs(files, names)
    taken: dict[str, Path] = {}
    for f in files:
        name = (names or {}).get(f) or volume_name(f)
        if name in taken:
            errors.append((f, ValueError(f"{f} and {taken[name]} both give outputs {name}_*.nii.gz; rename one")))
            continue
        taken[name] = f
        protected = {f.resolve()} | ({found[f].resolve()} if found.get(f) is not None else set())
        clash = [out_dir / f"{name}{s}.nii.gz" for s in OUTPUT_SUFFIXES
                 if (out_dir / f"{name}{s}.nii.gz").resolve() in protected]
        if clash:
            errors.append((f, ValueError(f"output {clash[0]} would replace an input or mask of {f}; choose "
                                         "another --out")))
            continue
        try:  # the image also when its mask is missing, so that one run lists all of its problems
            _load_input(f, found.get(f), percentiles, mask_labels)
        except (FileNotFoundError, ValueError) as exc:
            errors.append((f, exc))
    if errors:
        order = {f: i for i, f in enumerate(files)}
        errors.sort(key=lambda fe: order.get(fe[0], -1))
        lines = "\n".join(f"  {_indent(str(exc))}" for _, exc in errors)  # each message names its file
        bad = len({f for f, _ in errors})
        error = FileNotFoundError if all(isinstance(e, FileNotFoundError) for _, e in errors) else ValueError
        raise error(f"{bad} of {len(files)} input volume(s) cannot be translated; nothing was written:\n{lines}")
    return [(f, found[f]) for f in files]


def translate_files(config, checkpoint: str | Path, inputs: str | Path, out_dir: str | Path,
                    mask: str | Path | None = None, device: str = "cpu", batch_size: int = 16,
                    progress: bool = True, mask_labels=None) -> list[VolumeResult]:
    """What ``tools/translate.py`` does: translate one NIfTI volume, a folder of them or a study's manifest.

    Every input volume and mask is checked (:func:`check_inputs`) before the model is loaded and before any
    volume is translated; one error lists all bad inputs, and then nothing is written (not even ``out_dir``).

    Args:
        config: Model config path or ``Config``.
        checkpoint: Checkpoint of that model.
        inputs: A NIfTI file, a folder of ``*.nii`` / ``*.nii.gz``, or a study's manifest (every image it lists,
            its outputs named by subject, ``<subject>_pseudohealthy.nii.gz``; its masks are then the reference
            masks, and rows without one use histogram thresholds).
        out_dir: Output folder.
        mask: A mask file (single input), a folder of masks (``<name>_mask.nii[.gz]``,
            ``<name>_muscle.nii[.gz]`` or ``<name>.nii[.gz]``), a manifest, or None. Defaults to None (with a
            manifest as ``inputs``: that manifest).
        device: Torch device. Defaults to ``'cpu'``.
        batch_size: Slices per forward pass. Defaults to 16.
        progress: tqdm progress bars. Defaults to True.
        mask_labels: Labels of the masks that are muscle; None: the config's (:func:`model_mask_labels`), and
            every non-zero voxel when it names none. Defaults to None.

    Returns:
        One result per volume, in input order.

    Raises:
        FileNotFoundError: Missing input, mask, config or checkpoint.
        TypeError: ``mask_labels`` is not None or a list of ints.
        ValueError: Bad inputs or masks (all listed), bad ``mask_labels`` (here or in the config), ``out_dir``
            the input or mask folder.
    """
    from mmac.apis.inference import init_translator

    plan = _plan(inputs, out_dir, mask, mask_labels, config)
    translator = init_translator(plan.cfg, checkpoint, device=device)
    return _translate_plan(translator, plan, batch_size=batch_size, progress=progress)


def translate_inputs(translator, inputs: str | Path, out_dir: str | Path, mask: str | Path | None = None,
                     batch_size: int = 16, progress: bool = True, mask_labels=None) -> list[VolumeResult]:
    """:func:`translate_files` with a model already loaded: the inputs are checked the same way, all before any
    is translated.

    Args:
        translator: A :class:`~mmac.apis.inference.Translator`; its ``cfg`` (when it has one) gives the mask
            labels, as the config does in :func:`translate_files`.
        inputs: See :func:`translate_files`.
        out_dir: Output folder.
        mask: See :func:`translate_files`. Defaults to None.
        batch_size: Slices per forward pass. Defaults to 16.
        progress: tqdm progress bars. Defaults to True.
        mask_labels: See :func:`translate_files`. Defaults to None.

    Returns:
        One result per volume, in input order.

    Raises:
        FileNotFoundError: Missing input or mask.
        TypeError: ``mask_labels`` is not None or a list of ints.
        ValueError: Bad inputs or masks (all listed), bad ``mask_labels``, ``out_dir`` the input or mask folder.
    """
    plan = _plan(inputs, out_dir, mask, mask_labels, getattr(translator, "cfg", None))
    return _translate_plan(translator, plan, batch_size=batch_size, progress=progress)


@dataclass
class _Plan:
    """What :func:`_plan` found: the checked ``(volume, mask)`` pairs and how to write them."""

    cfg: object
    pairs: list
    out_dir: Path
    names: dict | None
    mask_labels: tuple[int, ...] | None


def _plan(inputs, out_dir, mask, mask_labels, config) -> _Plan:
    """Find and check every input before a model runs. ``config`` (a path, a ``Config`` or None) is read once
    the inputs are found, so that a missing input is reported before a bad config."""
    from mmac.apis.inference import load_model_config

    mask_labels = check_mask_labels(mask_labels)
    files = find_inputs(inputs)
    # a study's manifest as the input: its own masks, where it has them (also when given again as --mask)
    optional_masks = is_manifest(inputs) and (mask is None or Path(mask).resolve() == Path(inputs).resolve())
    if optional_masks:
        mask = inputs
    out_dir = Path(out_dir)
    if out_dir.resolve() in {f.parent.resolve() for f in files}:
        raise ValueError(f"--out {out_dir} is the input folder; choose another folder so outputs are not taken "
                         "as inputs next time")
    cfg = load_model_config(config) if config is not None else None
    if mask is not None and mask_labels is None and cfg is not None:
        mask_labels = model_mask_labels(cfg)
        if mask_labels is not None:
            logger.info("mask labels that are muscle, from the config: %s", " ".join(map(str, mask_labels)))
    names = None
    if is_manifest(inputs):  # outputs named by subject: a study may keep every scan as <subject>/t1.nii.gz
        names = {record.image: record.subject for record in manifest_images(inputs).values()}
    pairs = check_inputs(files, mask, out_dir, mask_labels=mask_labels, optional_masks=optional_masks, names=names)
    return _Plan(cfg=cfg, pairs=pairs, out_dir=out_dir, names=names, mask_labels=mask_labels)


def _translate_plan(translator, plan: _Plan, batch_size: int, progress: bool) -> list[VolumeResult]:
    results = []
    for f, m in plan.pairs:
        results.append(translate_nifti(translator, f, plan.out_dir, mask=m, batch_size=batch_size,
                                       progress=progress, mask_labels=plan.mask_labels,
                                       name=(plan.names or {}).get(f)))
        logger.info("%s -> %s (mean fat fraction estimate %.4f)", f, plan.out_dir, results[-1].mean_ff_estimate)
    return results
