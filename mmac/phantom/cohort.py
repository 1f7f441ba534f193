"""Synthetic thigh-MR cohort: subjects with fat infiltration, their healthy counterparts, and the writer.

The cohort mimics the data of Gadermayr et al. (healthy, moderately and severely fat-infiltrated T1-weighted
thigh slices, 7 mm slice spacing) so that the asymmetric cycle-consistency pipeline can be run and checked end
to end without patient data. See :mod:`mmac.phantom.anatomy`, :mod:`mmac.phantom.infiltration` and
:mod:`mmac.phantom.artifacts` for the models and their sources.

T1 signal levels are relative to subcutaneous fat = 1 (before bias and noise): muscle 0.32-0.42 per subject,
bone marrow 0.85-0.95, cortex and fascia 0.02-0.08, vessels 0.05-0.25 (flow void), skin 0.30-0.45, nerve
0.40-0.50 (relaxation values: Gold et al., AJR 183:343, 2004; de Bazelaire et al., Radiology 230:652, 2004).
"""
from __future__ import annotations

import csv
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import ndimage

from mmac._validate import check_choice, check_int, check_real
from mmac.phantom import anatomy as A
from mmac.phantom.artifacts import bias_field, rician, sample_bias, shift_fat
from mmac.phantom.fields import SmoothField
from mmac.phantom.infiltration import GROUPS, Involvement, infiltrate, sample_involvement

FOV_MM = 256.0
SLICE_SPACING_MM = 7.0
MANIFEST_COLUMNS = ("subject", "group", "image", "mask", "labels", "fat_fraction", "counterpart")
_GROUP_CODE = {"healthy": 0, "moderate": 1, "severe": 2}
_PREFIX = {"healthy": "H", "moderate": "M", "severe": "S"}
# Sub-slice offsets (fraction of the slice spacing) and weights of the slice profile.
_SUB_OFFSETS = (-1 / 3, 0.0, 1 / 3)
_SUB_WEIGHTS = (0.3, 0.4, 0.3)
# In-plane FWHM (mm) of the acquisition point-spread function along x (readout) and y (phase), drawn per
# subject: a ~1 x 1.3 mm acquired voxel with k-space apodisation, reconstructed on the output grid.
PSF_FWHM_MM = ((1.0, 1.4), (1.3, 1.9))
FWHM_PER_SIGMA = 2.0 * np.sqrt(2.0 * np.log(2.0))


@dataclass
class Subject:
    """One synthetic subject; volumes are ``(size, size, slices)`` (x, y, z)."""

    image: np.ndarray                 # float32 T1 magnitude (fat ~ 1)
    mask: np.ndarray                  # uint8 muscle mask (includes infiltrated muscle)
    labels: np.ndarray                # int16 per-muscle labels, 0 = background, i + 1 = MUSCLES[i]
    fat_fraction: np.ndarray          # float32 muscle fat fraction in [0, 1], 0 outside the mask
    healthy: np.ndarray | None        # float32 healthy counterpart (None for healthy subjects)
    healthy_labels: np.ndarray        # int16 labels of the counterpart (= labels for healthy subjects)
    affine: np.ndarray                # (4, 4) voxel -> RAS mm
    info: dict = field(default_factory=dict)


def validate_size(size: int, slices: int) -> None:
    """Check that ``size`` is a multiple of 16 in [32, 1024] and ``slices`` >= 1.

    Raises:
        TypeError: ``size`` or ``slices`` is not an integer (numpy integers are accepted, bools are not).
        ValueError: Either is out of range.
    """
    if check_int(size, "size") < 32 or size % 16 or size > 1024:
        raise ValueError(f"size must be a multiple of 16 between 32 and 1024, got {size!r}")
    check_int(slices, "slices", minimum=1)


def make_affine(size: int, slices: int, slice_spacing: float = SLICE_SPACING_MM) -> np.ndarray:
    """Voxel-to-RAS affine: ``256 / size`` mm pixels, ``slice_spacing`` mm slices, centred on the origin.

    Axis 0 runs to the subject's right (lateral for the right thigh), axis 1 anterior, axis 2 superior
    (slice 0 is the most distal, near the knee).
    """
    ps = FOV_MM / size
    aff = np.diag([ps, ps, float(slice_spacing), 1.0])
    aff[:3, 3] = [-(size - 1) / 2 * ps, -(size - 1) / 2 * ps, -(slices - 1) / 2 * slice_spacing]
    return aff


def _block_mean(a: np.ndarray, up: int) -> np.ndarray:
    if up == 1:
        return a
    n = a.shape[0] // up
    return a.reshape(n, up, n, up).mean(axis=(1, 3))  # (n, up, n, up) -> (n, n)


def _thigh_box(anat: A.ThighAnatomy, z_values: np.ndarray, size: int, margin_mm: float = 6.0):
    """Square voxel box ``((i0, j0), side)`` holding the thigh (plus ``margin_mm``) on every plane of ``z_values``.

    The side is a multiple of 4 (so that every smooth field's coarse grid divides the render grid).
    """
    theta = np.linspace(0, 2 * np.pi, 256, endpoint=False)
    r = max(float(anat.outer_radius(theta, anat.t_of_z(float(z))).max()) for z in z_values) + margin_mm
    ps = FOV_MM / size
    lo = [int(np.floor((c - r + FOV_MM / 2) / ps)) for c in anat.center]
    hi = [int(np.ceil((c + r + FOV_MM / 2) / ps)) for c in anat.center]
    side = min(size, int(np.ceil(max(h - l for l, h in zip(lo, hi)) / 4)) * 4)
    start = tuple(int(np.clip(l, 0, size - side)) for l in lo)
    return start, side


def _unbox(v: np.ndarray, shape: tuple[int, int, int], box: tuple[slice, slice]) -> np.ndarray:
    out = np.zeros(shape, v.dtype)
    out[box] = v
    return out


def _bias_box(coef: np.ndarray, size: int, box: tuple[slice, slice], z_centres: np.ndarray) -> np.ndarray:
    """The bias field on the box's voxels, ``(nb, nb, slices)`` float32."""
    xo, yo = A.grid_coordinates(size, FOV_MM)
    x, y = xo[box][..., None], yo[box][..., None]
    return bias_field(coef, x, y, np.asarray(z_centres, np.float32)[None, None, :])


def _mode_labels(labs: np.ndarray, weights, up: int) -> tuple[np.ndarray, np.ndarray]:
    """Weighted majority label per voxel over sub-slices and ``up x up`` render pixels.

    A voxel is muscle when at least half of its weight is muscle; it then takes the muscle label with the most
    weight (ties: the lower label).

    Args:
        labs: Render-grid labels ``(S, n * up, n * up)``, 0 = not muscle.
        weights: Sub-slice weights ``(S,)``, multiples of 0.1.
        up: Render pixels per voxel side.

    Returns:
        ``(labels, muscle_fraction)``: ``(n, n)`` int16 labels and float64 muscle weight fraction.
    """
    s_n, n_r, _ = labs.shape
    n = n_r // up
    # (S, n, up, n, up) -> (n, n, S * up * up) samples per voxel
    samp = labs.reshape(s_n, n, up, n, up).transpose(1, 3, 0, 2, 4).reshape(n, n, -1)
    w = np.repeat(np.rint(np.asarray(weights) * 10).astype(np.int64), up * up)     # integer weights
    total = int(w.sum())
    musc = ((samp > 0) * w).sum(-1)
    score = np.zeros(samp.shape, np.int64)
    for j in range(samp.shape[-1]):
        score += (samp == samp[..., j:j + 1]) * w[j]
    key = np.where(samp > 0, score * 64 - samp, -1)
    best = np.take_along_axis(samp, np.argmax(key, axis=-1)[..., None], -1)[..., 0]
    out = np.where(2 * musc >= total, best, 0).astype(np.int16)
    return out, musc / total


def _muscle_area(anat: A.ThighAnatomy, z_values) -> np.ndarray:
    """Relative muscle cross-sectional areas from a coarse 64 x 64 render at a few planes."""
    x, y = A.grid_coordinates(64, FOV_MM)
    area = np.zeros(len(A.MUSCLES))
    for z in z_values:
        lab = A.render_slice(anat, z, x, y).labels
        area += np.bincount(lab.ravel(), minlength=len(A.MUSCLES) + 1)[1:]
    return area


def make_subject(group: str, seed: int = 0, index: int = 1, size: int = 256, slices: int = 53,
                 slice_spacing: float = SLICE_SPACING_MM, chemical_shift: bool = False, noise: bool = True,
                 bias: bool = True) -> Subject:
    """Generate one subject deterministically from ``(seed, group, index)``.

    The subject depends only on these three numbers and the sizes, not on the other subjects of a cohort.

    Args:
        group: ``"healthy"``, ``"moderate"`` or ``"severe"``.
        seed: Cohort seed. Defaults to 0.
        index: Subject number within its group (1-based). Defaults to 1.
        size: In-plane matrix size (multiple of 16, >= 32); pixel spacing is ``256 / size`` mm. Defaults to 256.
        slices: Number of axial slices. Defaults to 53 (hip to knee at 7 mm).
        slice_spacing: Slice spacing and thickness in mm. Defaults to 7.
        chemical_shift: Shift the fat signal by 1-2 mm along axis 0. Defaults to False.
        noise: Add Rician noise. Defaults to True.
        bias: Apply the bias field. Defaults to True.

    Returns:
        The subject's volumes, affine and generation parameters (``info``).

    Raises:
        TypeError: ``size``, ``slices`` or ``slice_spacing`` is not a number of the right kind.
        ValueError: Unknown group, bad size, slice count or slice spacing.
    """
    check_choice(group, GROUPS, "group")
    validate_size(size, slices)
    check_real(slice_spacing, "slice_spacing (mm)", minimum=0, exclusive_minimum=True)
    ss = np.random.SeedSequence([int(seed), _GROUP_CODE[group], int(index)])
    rng_anat, rng_dis, rng_tex, rng_acq, rng_noise = (np.random.default_rng(s) for s in ss.spawn(5))

    anat = A.ThighAnatomy.sample(rng_anat)
    up = 2 if size <= 128 else 1                        # render pixels per output pixel (partial volume)
    ps = FOV_MM / size                                  # output pixel spacing (mm)
    rs = ps / up                                        # render pixel spacing (mm)
    z_centres = (np.arange(slices) - (slices - 1) / 2) * slice_spacing
    z_sub = z_centres[:, None] + np.asarray(_SUB_OFFSETS)[None, :] * slice_spacing   # (slices, sub-slices)
    z_range = (float(z_centres[0] - slice_spacing), float(z_centres[-1] + slice_spacing))
    (i0, j0), nb = _thigh_box(anat, z_sub.ravel(), size)
    n_r = nb * up                                       # render grid of the box only
    xr, yr = A.grid_coordinates(size * up, FOV_MM)
    xr = xr[i0 * up:(i0 + nb) * up, j0 * up:(j0 + nb) * up]
    yr = yr[i0 * up:(i0 + nb) * up, j0 * up:(j0 + nb) * up]

    # Tissue signal levels (fat = 1).
    lvl = dict(
        muscle=rng_acq.uniform(0.32, 0.42), marrow=rng_acq.uniform(0.85, 0.95),
        cortex=rng_acq.uniform(0.02, 0.08), fascia=rng_acq.uniform(0.02, 0.08),
        vessel=rng_acq.uniform(0.05, 0.25), skin=rng_acq.uniform(0.30, 0.45), nerve=rng_acq.uniform(0.40, 0.50),
    )
    muscle_lvl = np.zeros(len(A.MUSCLES) + 1, np.float32)
    muscle_lvl[1:] = lvl["muscle"] * (1 + rng_acq.uniform(-0.03, 0.03, len(A.MUSCLES)))
    snr = float(rng_acq.uniform(9.0, 25.0))
    bias_pp = float(rng_acq.uniform(0.10, 0.40))
    bias_coef = sample_bias(rng_acq, bias_pp)
    cs_mm = float(rng_acq.uniform(1.0, 2.0))
    psf_mm = (float(rng_acq.uniform(*PSF_FWHM_MM[0])), float(rng_acq.uniform(*PSF_FWHM_MM[1])))

    inv: Involvement | None = None
    if group != "healthy":
        area = _muscle_area(anat, np.linspace(-0.4, 0.4, 5) * anat.length)
        inv = sample_involvement(rng_dis, group, area)

    def fld(sigma, coarsen):
        return SmoothField(rng_tex, n_r, z_range, sigma, n_r * rs, coarsen=coarsen)

    warp_x, warp_y = fld((10, 10, 40), 4), fld((10, 10, 40), 4)
    mtex, ftex, septsel = fld((1.5, 1.5, 12), 2), fld((3, 3, 15), 4), fld((5, 5, 20), 4)
    if inv is not None:
        fine, coarse = fld((2.0, 2.0, 8), 2), fld((8, 8, 25), 4)
        streaks = (fld((1.2, 6, 20), 2), fld((6, 1.2, 20), 2))
        streak_sel = np.zeros(len(A.MUSCLES) + 1, np.int64)
        streak_sel[1:] = (inv.streak_angle > np.pi / 2).astype(np.int64)

    shape = (size, size, slices)
    box = (slice(i0, i0 + nb), slice(j0, j0 + nb))
    bshape = (nb, nb, slices)
    image = np.zeros(bshape, np.float32)
    healthy = np.zeros(bshape, np.float32) if inv is not None else None
    labels = np.zeros(bshape, np.int16)
    h_labels = np.zeros(bshape, np.int16)
    ffmap = np.zeros(bshape, np.float32)
    shift_px = cs_mm / rs if chemical_shift else 0.0
    water_lut = np.zeros(len(A.TISSUES), np.float32)
    fat_lut = np.zeros(len(A.TISSUES), np.float32)
    for code, key in ((A.SKIN, "skin"), (A.FASCIA, "fascia"), (A.CORTEX, "cortex"), (A.VESSEL, "vessel"),
                      (A.NERVE, "nerve")):
        water_lut[code] = lvl[key]
    fat_lut[[A.SUBCUT_FAT, A.FAT_PAD]] = 1.0
    fat_lut[A.MARROW] = lvl["marrow"]
    n_sub = len(_SUB_OFFSETS)

    for k in range(slices):
        sig = np.zeros((nb, nb), np.float32)
        sig_h = np.zeros((nb, nb), np.float32) if inv is not None else None
        labs = np.zeros((n_sub, n_r, n_r), np.int16)
        labs_h = np.zeros((n_sub, n_r, n_r), np.int16)
        ff_num = np.zeros((nb, nb), np.float64)
        for q, (z, wgt) in enumerate(zip(z_sub[k], _SUB_WEIGHTS)):
            z = float(z)
            g = A.render_slice(anat, z, xr, yr, warp=(4.0 * warp_x.plane(z), 4.0 * warp_y.plane(z)))
            tis, lab = g.tissue, g.labels
            fat_l = 1.0 + 0.03 * ftex.plane(z)
            water = water_lut[tis]
            fat = fat_lut[tis] * fat_l
            sep = tis == A.SEPTUM
            s = 1.0 / (1.0 + np.exp(-2.5 * septsel.plane(z)[sep]))
            fat[sep] = 0.9 * s
            water[sep] = (1 - s) * lvl["fascia"]
            mus = lab > 0
            mus_sig = muscle_lvl[lab[mus]] * (1 + 0.04 * mtex.plane(z)[mus])
            water_h = water.copy()
            water_h[mus] = mus_sig
            sig_h_r = water_h + shift_fat(fat, shift_px)
            if inv is None:
                sig += wgt * _block_mean(sig_h_r, up)
                labs[q] = lab
                continue
            labs_h[q] = lab
            sig_h += wgt * _block_mean(sig_h_r, up)
            depth = A.muscle_depth(lab)
            st = np.where(streak_sel[lab] == 0, streaks[0].plane(z), streaks[1].plane(z))
            ff, atro = infiltrate(lab, depth, fine.plane(z), coarse.plane(z), st, g.t, inv)
            fat_p = fat.copy()
            water_p = water.copy()
            water_p[mus] = (1 - ff[mus]) * mus_sig
            fat_p[mus] = ff[mus] * fat_l[mus]
            sig += wgt * _block_mean(water_p + shift_fat(fat_p, shift_px), up)
            lab_p = np.where(atro, 0, lab).astype(np.int16)
            labs[q] = lab_p
            ff_num += wgt * _block_mean(np.where(lab_p > 0, ff, 0.0), up)

        labels[..., k], musc = _mode_labels(labs, _SUB_WEIGHTS, up)
        if inv is not None:
            h_labels[..., k] = _mode_labels(labs_h, _SUB_WEIGHTS, up)[0]
            ffmap[..., k] = np.where(labels[..., k] > 0, ff_num / np.maximum(musc, 1e-12), 0.0)
        image[..., k] = sig
        if healthy is not None:
            healthy[..., k] = sig_h

    # In-plane point-spread function of the acquisition, then the receive-coil bias field.
    psf_px = (psf_mm[0] / FWHM_PER_SIGMA / ps, psf_mm[1] / FWHM_PER_SIGMA / ps, 0.0)
    b = _bias_box(bias_coef, size, box, z_centres) if bias else np.float32(1.0)
    image = ndimage.gaussian_filter(image, psf_px, mode="constant", truncate=3.0) * b
    if healthy is not None:
        healthy = ndimage.gaussian_filter(healthy, psf_px, mode="constant", truncate=3.0) * b
    image, healthy, labels, h_labels, ffmap = (
        None if v is None else _unbox(v, shape, box) for v in (image, healthy, labels, h_labels, ffmap))
    mask = (labels > 0).astype(np.uint8)

    if noise:
        sigma = lvl["muscle"] / snr
        n_re = rng_noise.standard_normal(shape, dtype=np.float32)
        n_im = rng_noise.standard_normal(shape, dtype=np.float32)
        image = rician(image, sigma, n_re, n_im)
        if healthy is not None:
            healthy = rician(healthy, sigma, n_re, n_im)
    ffmap = np.clip(ffmap, 0.0, 1.0).astype(np.float32)
    if inv is None:
        h_labels = labels
    info = dict(
        group=group, template=inv.template if inv else "", target_fat_fraction=inv.target if inv else 0.0,
        snr=snr, psf_fwhm_mm_x=psf_mm[0], psf_fwhm_mm_y=psf_mm[1], bias_peak_to_peak=bias_pp,
        muscle_level=float(lvl["muscle"]), chemical_shift_mm=cs_mm if chemical_shift else 0.0,
        mean_fat_fraction=float(ffmap[mask > 0].mean()) if mask.any() else 0.0,
        max_muscle_fat_fraction=float(max((ffmap[labels == i].mean() for i in np.unique(labels) if i > 0),
                                          default=0.0)),
    )
    return Subject(image=image.astype(np.float32), mask=mask, labels=labels, fat_fraction=ffmap,
                   healthy=None if healthy is None else healthy.astype(np.float32), healthy_labels=h_labels,
                   affine=make_affine(size, slices, slice_spacing), info=info)


def subject_ids(group: str, n: int) -> list[str]:
    """Subject ids of a group, e.g. ``H01 ... H21``."""
    width = max(2, len(str(n)))
    return [f"{_PREFIX[group]}{i:0{width}d}" for i in range(1, n + 1)]


def _save(arr: np.ndarray, affine: np.ndarray, path: Path) -> None:
    import nibabel as nib

    img = nib.Nifti1Image(arr, affine)
    img.header.set_xyzt_units("mm")
    img.set_qform(affine, code=1)
    img.set_sform(affine, code=1)
    nib.save(img, str(path))


def make_cohort(out_dir: str | os.PathLike, healthy: int = 21, moderate: int = 7, severe: int = 13,
                size: int = 256, slices: int = 53, seed: int = 0, chemical_shift: bool = False,
                progress: bool = True, overwrite: bool = False,
                slice_spacing: float = SLICE_SPACING_MM, workers: int = 1) -> Path:
    """Write a synthetic cohort (NIfTI volumes, ``manifest.csv``, ``muscles.csv``, ``subjects.csv``).

    Files are written to a temporary sibling folder that is renamed to ``out_dir`` only when complete, so an
    interrupted run leaves no partial cohort. Per subject: ``{id}_t1.nii.gz`` (float32 image),
    ``{id}_mask.nii.gz`` (uint8 muscle mask), ``{id}_labels.nii.gz`` (int16 muscle labels, see
    ``muscles.csv``), ``{id}_ff.nii.gz`` (float32 muscle fat fraction, 0 outside the mask) and, for
    moderate/severe subjects, ``{id}_healthy.nii.gz`` (the healthy counterpart image).

    Args:
        out_dir: Output folder; it must not exist or be empty unless ``overwrite``.
        healthy: Number of healthy subjects. Defaults to 21.
        moderate: Number of moderately infiltrated subjects. Defaults to 7.
        severe: Number of severely infiltrated subjects. Defaults to 13.
        size: In-plane matrix size (multiple of 16, >= 32). Defaults to 256.
        slices: Slices per volume. Defaults to 53.
        seed: Cohort seed; the same seed gives identical arrays. Defaults to 0.
        chemical_shift: Shift the fat signal by 1-2 mm along axis 0. Defaults to False.
        progress: Show a tqdm progress bar. Defaults to True.
        overwrite: Replace a non-empty ``out_dir``. Defaults to False.
        slice_spacing: Slice spacing in mm. Defaults to 7.
        workers: Subjects generated in parallel processes; the files are identical for any value, since a
            subject depends only on ``(seed, group, index)``. Defaults to 1.

    Returns:
        Path of ``manifest.csv``.

    Raises:
        TypeError: A count, ``size``, ``slices`` or ``workers`` is not an integer (or is a bool).
        ValueError: Negative or all-zero counts, bad size/slices, ``workers`` < 1.
        FileExistsError: ``out_dir`` is a non-empty folder (or a file) and ``overwrite`` is False.
    """
    counts = {"healthy": healthy, "moderate": moderate, "severe": severe}
    for name, n in counts.items():
        check_int(n, name, minimum=0)
    if sum(counts.values()) == 0:
        raise ValueError("the cohort is empty: healthy, moderate and severe are all 0")
    validate_size(size, slices)
    check_int(workers, "workers", minimum=1)
    out_dir = Path(out_dir)
    if out_dir.exists():
        if not out_dir.is_dir():
            raise FileExistsError(f"{out_dir} exists and is not a folder")
        if any(out_dir.iterdir()) and not overwrite:
            raise FileExistsError(f"{out_dir} is not empty; pass overwrite=True (--overwrite) to replace it")
    out_dir.parent.mkdir(parents=True, exist_ok=True)

    jobs = [(g, i, sid) for g in GROUPS for i, sid in enumerate(subject_ids(g, counts[g]), start=1)]
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
    try:
        rows, infos = [], []
        from tqdm import tqdm

        task = dict(tmp=tmp, seed=seed, size=size, slices=slices, slice_spacing=slice_spacing,
                    chemical_shift=chemical_shift)
        n_workers = min(workers, len(jobs))
        if n_workers <= 1:
            results = map(lambda job: _write_subject(job, **task), jobs)
            for row, info in tqdm(results, total=len(jobs), desc="phantom", unit="subject", disable=not progress):
                rows.append(row)
                infos.append(info)
        else:
            import multiprocessing as mp
            from concurrent.futures import ProcessPoolExecutor

            # fork: workers inherit the imported modules instead of re-importing mmac (and mmagic) each.
            ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else None
            with ProcessPoolExecutor(n_workers, mp_context=ctx) as pool:
                futures = [pool.submit(_write_subject, job, **task) for job in jobs]
                try:
                    for fut in tqdm(futures, desc="phantom", unit="subject", disable=not progress):
                        row, info = fut.result()
                        rows.append(row)
                        infos.append(info)
                except BaseException:
                    for fut in futures:
                        fut.cancel()
                    raise
        with open(tmp / "manifest.csv", "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=MANIFEST_COLUMNS)
            w.writeheader()
            w.writerows(rows)
        with open(tmp / "muscles.csv", "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(("label", "muscle"))
            w.writerows((i + 1, m) for i, m in enumerate(A.MUSCLES))
        with open(tmp / "subjects.csv", "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(infos[0]))
            w.writeheader()
            w.writerows({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()} for r in infos)
        _publish(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir / "manifest.csv"


def _write_subject(job: tuple[str, int, str], tmp: Path, seed: int, size: int, slices: int,
                   slice_spacing: float, chemical_shift: bool) -> tuple[dict, dict]:
    """Generate subject ``job = (group, index, id)``, write its volumes to ``tmp``; return manifest row and info."""
    group, index, sid = job
    sub = make_subject(group, seed=seed, index=index, size=size, slices=slices, slice_spacing=slice_spacing,
                       chemical_shift=chemical_shift)
    names = dict(image=f"{sid}_t1.nii.gz", mask=f"{sid}_mask.nii.gz", labels=f"{sid}_labels.nii.gz",
                 fat_fraction=f"{sid}_ff.nii.gz")
    _save(sub.image, sub.affine, tmp / names["image"])
    _save(sub.mask, sub.affine, tmp / names["mask"])
    _save(sub.labels, sub.affine, tmp / names["labels"])
    _save(sub.fat_fraction, sub.affine, tmp / names["fat_fraction"])
    counterpart = ""
    if sub.healthy is not None:
        counterpart = f"{sid}_healthy.nii.gz"
        _save(sub.healthy, sub.affine, tmp / counterpart)
    return dict(subject=sid, group=group, counterpart=counterpart, **names), dict(subject=sid, **sub.info)


def _publish(tmp: Path, out_dir: Path) -> None:
    """Move the finished cohort in ``tmp`` to ``out_dir``, replacing what is there."""
    if out_dir.exists():
        trash = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.old-", dir=out_dir.parent))
        os.replace(out_dir, trash / "old")
        os.replace(tmp, out_dir)
        shutil.rmtree(trash, ignore_errors=True)
    else:
        os.replace(tmp, out_dir)
