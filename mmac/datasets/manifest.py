"""Read and validate a cohort manifest and its NIfTI volumes (nibabel + numpy; no mmagic).

The cohort layout follows the thigh MR study of Gadermayr et al., "Asymmetric cycle-consistency loss for
many-to-one unpaired image translation" (fat-infiltrated thigh MR slices -> pseudo-healthy slices): one 3D
volume per subject, a muscle mask per volume, and a group label (healthy, moderate, severe).

``manifest.csv`` has a header; required columns are ``subject,group,image,mask``, optional columns
``labels,fat_fraction,counterpart`` (``counterpart``: the healthy twin of a pathological subject, empty for
healthy subjects). The ``mask`` cell may be empty for healthy subjects (training never uses their masks); a
pathological subject needs one (it is the reference of the evaluation). Paths are relative to the manifest's
folder; absolute paths are allowed.

Masks (:func:`muscle_mask`): binary 0/1, binary 0/255, or an integer label map such as a segmentation tool's
one-label-per-muscle output. By default every non-zero voxel is muscle; ``mask_labels`` names the labels that
are (the others, e.g. bone or subcutaneous fat labels, are not). Non-integer or negative values (a probability
map, an image given as a mask) are refused.

Every check raises before training starts and names the manifest row or the file and what is wrong; nothing
is skipped silently.

Intensity normalisation (:func:`normalise`): per volume, the 0.5th and 99.5th percentiles of all voxels are
mapped to 0 and 1 and the result is clipped to [0, 1]. Robust percentiles ignore a few hot voxels (vessels,
coil artefacts) that would otherwise compress the muscle/fat contrast. A counterpart is normalised with the
percentiles of the image it belongs to, so that the two stay comparable voxel by voxel.
"""
from __future__ import annotations

import csv
import gzip
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

GROUPS = ("healthy", "moderate", "severe")
PATHOLOGICAL_GROUPS = ("moderate", "severe")
REQUIRED_COLUMNS = ("subject", "group", "image", "mask")
OPTIONAL_COLUMNS = ("labels", "fat_fraction", "counterpart")
PERCENTILES = (0.5, 99.5)
AFFINE_ATOL = 1e-3  # mm; NIfTI stores affines as float32
AFFINE_RTOL = 1e-5


@dataclass(frozen=True)
class SubjectRecord:
    """One manifest row with its paths resolved.

    Attributes:
        subject: Subject id, unique in the manifest.
        group: One of :data:`GROUPS`.
        image: Path of the 3D image.
        mask: Path of the muscle mask (same grid as the image); None for a healthy subject without one.
        labels: Optional label map path.
        fat_fraction: Optional fat-fraction map path.
        counterpart: Optional healthy counterpart image path (pathological subjects of a phantom).
        row: Line number of the row in the manifest file (the header is line 1).
        manifest: Path of the manifest the row comes from.
    """

    subject: str
    group: str
    image: Path
    mask: Path | None
    labels: Path | None = None
    fat_fraction: Path | None = None
    counterpart: Path | None = None
    row: int = 0
    manifest: Path | None = None

    @property
    def pathological(self) -> bool:
        """Whether the subject belongs to a pathological group (moderate or severe)."""
        return self.group in PATHOLOGICAL_GROUPS

    @property
    def where(self) -> str:
        """``'<manifest> row <n> (subject <id>)'`` for error messages."""
        return f"{self.manifest} row {self.row} (subject {self.subject!r})"


@dataclass
class SubjectVolume:
    """A subject's volumes in canonical RAS orientation, axial slices along the last axis.

    Attributes:
        record: The manifest row.
        image: Normalised image, float32 (X, Y, Z) in [0, 1].
        mask: Muscle mask, bool (X, Y, Z), or None (a healthy subject without a mask).
        affine: Canonical (RAS) voxel-to-world affine, (4, 4).
        percentiles: The intensities (lo, hi) of the raw image mapped to 0 and 1.
        counterpart: Healthy counterpart normalised with ``percentiles``, float32 (X, Y, Z), or None.
        fat_fraction: Fat-fraction map, float32 (X, Y, Z), or None.
    """

    record: SubjectRecord
    image: np.ndarray
    mask: np.ndarray | None
    affine: np.ndarray
    percentiles: tuple[float, float]
    counterpart: np.ndarray | None = None
    fat_fraction: np.ndarray | None = None


def read_manifest(path: str | Path, check_files: bool = True) -> list[SubjectRecord]:
    """Read ``manifest.csv`` and resolve its paths.

    Args:
        path: The manifest file.
        check_files: Raise when a listed file does not exist. Defaults to True.

    Returns:
        One record per row, in file order.

    Raises:
        FileNotFoundError: The manifest or a listed file is missing.
        ValueError: Missing columns, empty manifest, unknown group, duplicate subject, empty cell (``mask``
            may be empty for healthy subjects).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"manifest not found: {path}")
    root = path.parent
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        header = [h.strip() for h in (reader.fieldnames or [])]
        missing = [c for c in REQUIRED_COLUMNS if c not in header]
        if missing:
            raise ValueError(f"{path}: missing column(s) {', '.join(missing)}; the header is {header}, "
                             f"required: {', '.join(REQUIRED_COLUMNS)}, optional: {', '.join(OPTIONAL_COLUMNS)}")
        rows = [({(k or "").strip(): (v or "").strip() if isinstance(v, str) else v for k, v in raw.items()},
                 reader.line_num) for raw in reader]
    rows = [(r, n) for r, n in rows if any(isinstance(v, str) and v for v in r.values())]  # blank lines
    if not rows:
        raise ValueError(f"{path}: the manifest lists no subjects")

    records: list[SubjectRecord] = []
    seen: dict[str, int] = {}
    for row, line in rows:
        where = f"{path} row {line}"
        if None in row:
            raise ValueError(f"{where}: more cells than header columns")
        for column in REQUIRED_COLUMNS:
            if not row.get(column) and not (column == "mask" and row.get("group") == "healthy"):
                detail = " (a pathological subject needs a muscle mask)" if column == "mask" else ""
                raise ValueError(f"{where}: empty {column!r}{detail}")
        subject, group = row["subject"], row["group"]
        if group not in GROUPS:
            raise ValueError(f"{where} (subject {subject!r}): unknown group {group!r}; allowed: {', '.join(GROUPS)}")
        if subject in seen:
            raise ValueError(f"{where}: duplicate subject {subject!r} (first listed in row {seen[subject]})")
        seen[subject] = line
        paths = {column: _resolve_cell(row, column, root, check_files, f"{where} (subject {subject!r})")
                 for column in ("image", "mask", "labels", "fat_fraction", "counterpart")}
        records.append(SubjectRecord(subject=subject, group=group, **paths, row=line, manifest=path))
    return records


def _resolve_cell(row: dict, column: str, root: Path, check_files: bool, where: str) -> Path | None:
    """The path in ``row[column]`` (relative to ``root`` unless absolute), or None for an empty cell.

    Raises:
        FileNotFoundError: ``check_files`` and the file does not exist (``where`` names the row).
    """
    value = row.get(column) or ""
    if not value:
        return None
    p = Path(value)
    p = p if p.is_absolute() else root / p
    if check_files and not p.is_file():
        raise FileNotFoundError(f"{where}: {column} file not found: {p}")
    return p


_READ_ERRORS = (EOFError, OSError, zlib.error, gzip.BadGzipFile, ValueError, TypeError, IndexError)


class _NotThreeD(Exception):
    def __init__(self, shape):
        super().__init__(shape)
        self.shape = shape


def load_nifti(path: str | Path, what: str = "image", where: str = "") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Load a 3D NIfTI volume in canonical RAS orientation.

    A trailing singleton 4th axis (x, y, z, 1) is dropped; any other non-3D shape is an error.

    Args:
        path: The NIfTI file.
        what: What the file is (``'image'``, ``'mask'``...), for error messages. Defaults to ``'image'``.
        where: Manifest row description prefixed to error messages. Defaults to ``''``.

    Returns:
        ``(data, canonical_affine, raw_affine)``: data float32 (X, Y, Z) in RAS, affines (4, 4).

    Raises:
        FileNotFoundError: The file does not exist.
        ValueError: Unreadable/truncated file, or not 3D.
    """
    import nibabel as nib
    from nibabel.filebasedimages import ImageFileError

    path = Path(path)
    prefix = f"{where}: " if where else ""
    if not path.is_file():
        raise FileNotFoundError(f"{prefix}{what} file not found: {path}")
    try:
        img = nib.load(str(path))
        raw_affine = np.asarray(img.affine, dtype=np.float64)
        shape = img.shape
        if len(shape) == 4 and shape[3] == 1:
            img = img.slicer[..., 0]
            shape = img.shape
        if len(shape) != 3:
            raise _NotThreeD(shape)
        img = nib.as_closest_canonical(img)
        data = np.asarray(img.get_fdata(dtype=np.float32, caching="unchanged"))
    except _NotThreeD as exc:
        raise ValueError(f"{prefix}{what} {path} is not a 3D volume: shape {exc.shape}, expected (x, y, z)") from None
    except (ImageFileError, *_READ_ERRORS) as exc:
        raise ValueError(f"{prefix}cannot read {what} {path} as NIfTI (unreadable or truncated): "
                         f"{type(exc).__name__}: {exc}") from exc
    return data, np.asarray(img.affine, dtype=np.float64), raw_affine


def robust_percentiles(volume: np.ndarray, percentiles: tuple[float, float] = PERCENTILES) -> tuple[float, float]:
    """The ``percentiles`` (lo, hi) of all voxels of ``volume``."""
    lo, hi = np.percentile(volume, percentiles)
    return float(lo), float(hi)


def normalise(volume: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Map ``lo`` -> 0 and ``hi`` -> 1 linearly and clip to [0, 1]; float32, same shape as ``volume``."""
    out = (volume.astype(np.float32) - np.float32(lo)) / np.float32(hi - lo)
    return np.clip(out, 0.0, 1.0, out=out)


def check_finite(data: np.ndarray, what: str, path: Path, where: str) -> None:
    """Raise ValueError naming ``where``, ``what`` and ``path`` when ``data`` holds NaN or inf values."""
    if not np.isfinite(data).all():
        bad = int((~np.isfinite(data)).sum())
        raise ValueError(f"{where}: {what} {path} has {bad} NaN/inf voxel(s)")


def check_same_grid(data: np.ndarray, affine: np.ndarray, ref_shape: tuple, ref_affine: np.ndarray,
                    what: str, path: Path, ref_path: Path, where: str) -> None:
    """Raise ValueError unless ``data`` (with ``affine``) lies on the image's grid (``ref_shape``, ``ref_affine``).

    Affines are compared with :data:`AFFINE_ATOL` mm / :data:`AFFINE_RTOL`; the message names ``where``, both
    files and both shapes or affines.
    """
    if tuple(data.shape) != tuple(ref_shape):
        raise ValueError(f"{where}: {what} {path} has shape {tuple(data.shape)} but the image {ref_path} has "
                         f"{tuple(ref_shape)} (after canonical reorientation)")
    if not np.allclose(affine, ref_affine, rtol=AFFINE_RTOL, atol=AFFINE_ATOL):
        raise ValueError(f"{where}: {what} {path} has a different affine from the image {ref_path} "
                         f"(tolerance {AFFINE_ATOL} mm):\n{np.round(affine, 4)}\nvs\n{np.round(ref_affine, 4)}")


def check_mask_labels(mask_labels) -> tuple[int, ...] | None:
    """Validate a ``mask_labels`` option: None (any non-zero voxel is muscle) or a non-empty list of ints >= 1.

    Returns:
        None, or the labels as a sorted tuple without duplicates.

    Raises:
        TypeError: Not None, not a list/tuple, or an element that is not an int.
        ValueError: Empty, or a label < 1 (0 is the background).
    """
    if mask_labels is None:
        return None
    if isinstance(mask_labels, (str, bytes)) or not isinstance(mask_labels, (list, tuple)):
        raise TypeError(f"mask_labels must be None or a list of ints (the muscle labels), got {mask_labels!r}")
    if not mask_labels:
        raise ValueError("mask_labels must name at least one label; None takes every non-zero label")
    for label in mask_labels:
        if isinstance(label, bool) or not isinstance(label, (int, np.integer)):
            raise TypeError(f"mask_labels must hold ints, got {label!r} in {list(mask_labels)}")
        if label < 1:
            raise ValueError(f"mask_labels must be >= 1 (0 is the background), got {label} in {list(mask_labels)}")
    return tuple(sorted({int(v) for v in mask_labels}))


def muscle_mask(mask: np.ndarray, mask_labels=None, path: str | Path = "", where: str = "") -> np.ndarray:
    """The muscle voxels of a mask volume: bool, same shape.

    Args:
        mask: Mask voxels as read (any float/int dtype): 0/1, 0/255 or integer labels.
        mask_labels: Labels that are muscle; None: every non-zero label. Defaults to None.
        path: The mask file, for error messages. Defaults to ``''``.
        where: Manifest row description prefixed to error messages. Defaults to ``''``.

    Returns:
        bool array, True where the voxel is muscle.

    Raises:
        ValueError: Non-integer or negative values, or a bad ``mask_labels``.
    """
    labels = check_mask_labels(mask_labels)
    prefix = f"{where}: " if where else ""
    off = (mask < 0) | (np.abs(mask - np.rint(mask)) > 1e-3)  # one pass; no sort of the whole volume
    if off.any():
        bad = np.unique(mask[off])
        shown = ", ".join(f"{v:g}" for v in bad[:6]) + (", ..." if len(bad) > 6 else "")
        raise ValueError(f"{prefix}mask {path} is neither binary nor a label map: values {shown} (expected 0/1, "
                         f"0/255 or integer labels >= 0, e.g. one per muscle)")
    if labels is None:
        return mask != 0
    return np.isin(np.round(mask).astype(np.int64), labels)


def load_subject(record: SubjectRecord, load_counterpart: bool = True, load_fat_fraction: bool = True,
                 annotation_every: int | None = None, annotation_offset: int = 0,
                 percentiles: tuple[float, float] = PERCENTILES, mask_labels=None) -> SubjectVolume:
    """Load, validate and normalise one subject.

    Args:
        record: The manifest row.
        load_counterpart: Load ``record.counterpart`` when present. Defaults to True.
        load_fat_fraction: Load ``record.fat_fraction`` when present. Defaults to True.
        annotation_every: When given, the mask must not be empty on the annotated axial slices
            ``z % annotation_every == annotation_offset`` (last axis, canonical orientation); None checks
            none. Defaults to None.
        annotation_offset: See ``annotation_every``. Defaults to 0.
        percentiles: Percentiles of the image mapped to 0 and 1. Defaults to (0.5, 99.5).
        mask_labels: Mask labels that are muscle (:func:`muscle_mask`); None: every non-zero label.
            Defaults to None.

    Returns:
        The subject's normalised volumes, all (X, Y, Z) in canonical RAS (``mask`` None when the record has
        none).

    Raises:
        FileNotFoundError: A file is missing.
        ValueError: Unreadable file, not 3D, mask/counterpart/fat-fraction grid different from the image's,
            NaN/inf voxels, constant image, a mask that is neither binary nor a label map, empty mask on an
            annotated slice.
    """
    where = record.where
    image, affine, raw_affine = load_nifti(record.image, "image", where)
    check_finite(image, "image", record.image, where)
    lo, hi = robust_percentiles(image, percentiles)
    if not hi > lo:
        raise ValueError(f"{where}: image {record.image} is constant (or nearly so): its {percentiles[0]}th and "
                         f"{percentiles[1]}th percentiles are both {lo:g}")

    def load_same_grid(path: Path, what: str) -> np.ndarray:
        data, _, raw = load_nifti(path, what, where)
        check_same_grid(data, raw, image.shape, raw_affine, what, path, record.image, where)
        check_finite(data, what, path, where)
        return data

    mask = None
    if record.mask is not None:
        mask = muscle_mask(load_same_grid(record.mask, "mask"), mask_labels, record.mask, where)
    if mask is not None and annotation_every is not None:
        check_annotated_slices(mask.any(axis=(0, 1)), record, annotation_every, annotation_offset, mask_labels)

    counterpart = None
    if load_counterpart and record.counterpart is not None:
        counterpart = normalise(load_same_grid(record.counterpart, "counterpart"), lo, hi)
    fat = None
    if load_fat_fraction and record.fat_fraction is not None:
        fat = load_same_grid(record.fat_fraction, "fat_fraction").astype(np.float32)
    return SubjectVolume(record=record, image=normalise(image, lo, hi), mask=mask, affine=affine,
                         percentiles=(lo, hi), counterpart=counterpart, fat_fraction=fat)


def check_annotated_slices(has_muscle: np.ndarray, record: SubjectRecord, every: int = 4, offset: int = 0,
                           mask_labels: Sequence[int] | None = None) -> None:
    """Raise unless the mask holds muscle on every annotated slice (the evaluation's reference).

    Args:
        has_muscle: bool (Z,): whether axial slice z (canonical RAS) of the mask holds a muscle voxel.
        record: The subject's manifest row (for the message).
        every: See :func:`annotated_slice_indices`. Defaults to 4.
        offset: See :func:`annotated_slice_indices`. Defaults to 0.
        mask_labels: The labels counted as muscle, named in the message; None (every non-zero label).

    Raises:
        ValueError: The mask is empty on an annotated slice.
    """
    annotated = annotated_slice_indices(len(has_muscle), every, offset)
    empty = [z for z in annotated if not has_muscle[z]]
    if empty:
        labels = "" if mask_labels is None else f", muscle being mask_labels {list(mask_labels)}"
        raise ValueError(f"{record.where}: mask {record.mask} is empty on annotated slice(s) {empty} "
                         f"(axial index, canonical RAS{labels}); evaluation needs a muscle mask on every "
                         "annotated slice")


def volume_to_slices(volume: np.ndarray) -> np.ndarray:
    """Canonical RAS volume (X, Y, Z) -> axial slices (Z, H, W) in radiological display convention.

    Row 0 is the most anterior row and column 0 the patient's right (shown on the image's left):
    ``slices[z, r, c] = volume[X - 1 - c, Y - 1 - r, z]``. The result is a contiguous copy.
    """
    if volume.ndim != 3:
        raise ValueError(f"expected a (X, Y, Z) volume, got shape {volume.shape}")
    return np.ascontiguousarray(np.transpose(volume[::-1, ::-1, :], (2, 1, 0)))


def slices_to_volume(slices: np.ndarray) -> np.ndarray:
    """Inverse of :func:`volume_to_slices`: (Z, H, W) -> canonical RAS (X, Y, Z)."""
    if slices.ndim != 3:
        raise ValueError(f"expected (Z, H, W) slices, got shape {slices.shape}")
    return np.ascontiguousarray(np.transpose(slices, (2, 1, 0))[::-1, ::-1, :])


def annotated_slice_indices(num_slices: int, every: int = 4, offset: int = 0) -> list[int]:
    """Axial indices ``z`` with ``z % every == offset``, the slices with a reference segmentation.

    Raises:
        ValueError: ``every < 1`` or ``offset`` outside ``[0, every)``.
    """
    if every < 1:
        raise ValueError(f"annotation_every must be >= 1, got {every}")
    if not 0 <= offset < every:
        raise ValueError(f"annotation_offset must be in [0, {every}), got {offset}")
    return list(range(offset, num_slices, every))
