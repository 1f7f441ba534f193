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
from mmac.phantom.anatomy import (
    CORTEX,
    FASCIA,
    FAT_PAD,
    MARROW,
    MUSCLES,
    NERVE,
    SEPTUM,
    SKIN,
    SUBCUT_FAT,
    TISSUES,
    VESSEL,
    ThighAnatomy,
    grid_coordinates,
    muscle_depth,
    render_slice,
)
from mmac.phantom.artifacts import bias_field, rician, sample_bias, shift_fat
from mmac.phantom.fields import SmoothField
from mmac.phantom.infiltration import GROUPS, Involvement, infiltrate, sample_involvement
from mmac.phantom.variation import DEFAULT as DEFAULT_VARIATION
from mmac.phantom.variation import Variation

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
    pixel_mm = FOV_MM / size
    affine = np.diag([pixel_mm, pixel_mm, float(slice_spacing), 1.0])
    affine[:3, 3] = [-(size - 1) / 2 * pixel_mm, -(size - 1) / 2 * pixel_mm, -(slices - 1) / 2 * slice_spacing]
    return affine


def _block_mean(values: np.ndarray, upsample: int) -> np.ndarray:
    """Mean over ``upsample x upsample`` blocks: (n * up, n * up) -> (n, n)."""
    if upsample == 1:
        return values
    n = values.shape[0] // upsample
    return values.reshape(n, upsample, n, upsample).mean(axis=(1, 3))  # (n, up, n, up) -> (n, n)


def _thigh_box(anatomy: ThighAnatomy, z_values: np.ndarray, size: int, margin_mm: float = 6.0):
    """Square voxel box ``((i0, j0), side)`` holding the thigh (plus ``margin_mm``) on every plane of ``z_values``.

    The side is a multiple of 4 (so that every smooth field's coarse grid divides the render grid).
    """
    theta = np.linspace(0, 2 * np.pi, 256, endpoint=False)
    radius = max(float(anatomy.outer_radius(theta, anatomy.t_of_z(float(z))).max()) for z in z_values) + margin_mm
    pixel_mm = FOV_MM / size
    low = [int(np.floor((centre - radius + FOV_MM / 2) / pixel_mm)) for centre in anatomy.center]
    high = [int(np.ceil((centre + radius + FOV_MM / 2) / pixel_mm)) for centre in anatomy.center]
    side = min(size, int(np.ceil(max(h - lo for lo, h in zip(low, high, strict=True)) / 4)) * 4)
    start = tuple(int(np.clip(lo, 0, size - side)) for lo in low)
    return start, side


def _unbox(values: np.ndarray, shape: tuple[int, int, int], box: tuple[slice, slice]) -> np.ndarray:
    """Place a box volume (side, side, slices) into zeros of ``shape`` (size, size, slices)."""
    out = np.zeros(shape, values.dtype)
    out[box] = values
    return out


def _bias_box(coefficients: np.ndarray, size: int, box: tuple[slice, slice], z_centres: np.ndarray) -> np.ndarray:
    """The bias field on the box's voxels, ``(side, side, slices)`` float32."""
    x_grid, y_grid = grid_coordinates(size, FOV_MM)
    x, y = x_grid[box][..., None], y_grid[box][..., None]  # (side, side, 1) each
    return bias_field(coefficients, x, y, np.asarray(z_centres, np.float32)[None, None, :])


def _mode_labels(labels: np.ndarray, weights, upsample: int) -> tuple[np.ndarray, np.ndarray]:
    """Weighted majority label per voxel over sub-slices and ``upsample x upsample`` render pixels.

    A voxel is muscle when at least half of its weight is muscle; it then takes the muscle label with the most
    weight (ties: the lower label).

    Args:
        labels: Render-grid labels ``(S, n * up, n * up)``, 0 = not muscle.
        weights: Sub-slice weights ``(S,)``, multiples of 0.1.
        upsample: Render pixels per voxel side.

    Returns:
        ``(labels, muscle_fraction)``: ``(n, n)`` int16 labels and float64 muscle weight fraction.
    """
    sub_slices, render_side, _ = labels.shape
    n = render_side // upsample
    # (S, n, up, n, up) -> (n, n, S * up * up) samples per voxel
    samples = labels.reshape(sub_slices, n, upsample, n, upsample).transpose(1, 3, 0, 2, 4).reshape(n, n, -1)
    sample_weight = np.repeat(np.rint(np.asarray(weights) * 10).astype(np.int64), upsample * upsample)  # integers
    total = int(sample_weight.sum())
    muscle_weight = ((samples > 0) * sample_weight).sum(-1)
    score = np.zeros(samples.shape, np.int64)  # weight of each sample's label within its voxel
    for j in range(samples.shape[-1]):
        score += (samples == samples[..., j:j + 1]) * sample_weight[j]
    key = np.where(samples > 0, score * 64 - samples, -1)
    best = np.take_along_axis(samples, np.argmax(key, axis=-1)[..., None], -1)[..., 0]
    out = np.where(2 * muscle_weight >= total, best, 0).astype(np.int16)
    return out, muscle_weight / total


def _muscle_area(anatomy: ThighAnatomy, z_values, label_map: np.ndarray | None = None) -> np.ndarray:
    """Relative muscle cross-sectional areas from a coarse 64 x 64 render at a few planes."""
    x, y = grid_coordinates(64, FOV_MM)
    area = np.zeros(len(MUSCLES))
    for z in z_values:
        labels = render_slice(anatomy, z, x, y, label_map=label_map).labels
        area += np.bincount(labels.ravel(), minlength=len(MUSCLES) + 1)[1:]
    return area


# ----------------------------------------------------------------------------------------------------------
# The steps of one subject: sample the acquisition, sample the textures, render, acquire
# ----------------------------------------------------------------------------------------------------------
@dataclass
class Acquisition:
    """The scanner side of one subject: tissue signal levels, noise, bias field, point-spread function."""

    levels: dict[str, float]          # water signal per tissue (fat = 1): muscle, marrow, cortex, fascia, ...
    muscle_levels: np.ndarray         # float32 (len(MUSCLES) + 1,): signal per muscle label, 0 for label 0
    snr: float                        # mean muscle signal / noise sigma
    bias_peak_to_peak: float          # relative peak-to-peak amplitude of the receive-coil bias field
    bias_coefficients: np.ndarray     # bias-field polynomial (see artifacts.sample_bias)
    chemical_shift_mm: float          # fat displacement along x, used when chemical_shift=True
    psf_fwhm_mm: tuple[float, float]  # in-plane PSF FWHM (mm) along x (readout) and y (phase)


def sample_acquisition(rng: np.random.Generator) -> Acquisition:
    """Draw one subject's :class:`Acquisition` (the draws and their order fix the cohort for a seed)."""
    levels = dict(
        muscle=rng.uniform(0.32, 0.42), marrow=rng.uniform(0.85, 0.95),
        cortex=rng.uniform(0.02, 0.08), fascia=rng.uniform(0.02, 0.08),
        vessel=rng.uniform(0.05, 0.25), skin=rng.uniform(0.30, 0.45), nerve=rng.uniform(0.40, 0.50),
    )
    muscle_levels = np.zeros(len(MUSCLES) + 1, np.float32)
    muscle_levels[1:] = levels["muscle"] * (1 + rng.uniform(-0.03, 0.03, len(MUSCLES)))  # +-3 % per muscle
    snr = float(rng.uniform(9.0, 25.0))
    bias_peak_to_peak = float(rng.uniform(0.10, 0.40))
    bias_coefficients = sample_bias(rng, bias_peak_to_peak)
    chemical_shift_mm = float(rng.uniform(1.0, 2.0))
    psf_fwhm_mm = (float(rng.uniform(*PSF_FWHM_MM[0])), float(rng.uniform(*PSF_FWHM_MM[1])))
    return Acquisition(levels, muscle_levels, snr, bias_peak_to_peak, bias_coefficients, chemical_shift_mm,
                       psf_fwhm_mm)


@dataclass
class RenderBox:
    """The square of output voxels that holds the thigh on every plane, and its finer render grid."""

    start: tuple[int, int]   # first voxel of the box along x and y
    side: int                # voxels per side of the box
    upsample: int            # render pixels per voxel side (partial volume)
    x: np.ndarray            # float32 (side * upsample, side * upsample): render-pixel x (mm)
    y: np.ndarray            # float32 (side * upsample, side * upsample): render-pixel y (mm)

    @property
    def render_side(self) -> int:
        return self.side * self.upsample

    @property
    def voxels(self) -> tuple[slice, slice]:
        """The box as an index into an output plane (size, size)."""
        return slice(self.start[0], self.start[0] + self.side), slice(self.start[1], self.start[1] + self.side)


def _render_box(anatomy: ThighAnatomy, z_values: np.ndarray, size: int) -> RenderBox:
    """The :class:`RenderBox` of ``anatomy`` over the planes ``z_values`` (mm) on a (size, size) grid."""
    upsample = 2 if size <= 128 else 1  # render pixels per output pixel side (partial volume)
    start, side = _thigh_box(anatomy, z_values, size)
    x, y = grid_coordinates(size * upsample, FOV_MM)  # (size * up, size * up) each
    rows = slice(start[0] * upsample, (start[0] + side) * upsample)
    cols = slice(start[1] * upsample, (start[1] + side) * upsample)
    return RenderBox(start, side, upsample, x[rows, cols], y[rows, cols])


@dataclass
class Textures:
    """The smooth random fields of one subject, each sampled plane by plane on the render grid."""

    warp_x: SmoothField                     # septum displacement along x (x 4 mm)
    warp_y: SmoothField                     # septum displacement along y (x 4 mm)
    muscle: SmoothField                     # muscle signal texture (x 4 %)
    fat: SmoothField                        # fat signal texture (x 3 %)
    septum: SmoothField                     # fat vs fibrous content of the septa
    fine: SmoothField | None = None         # infiltration: fine fatty blobs (infiltrated subjects only)
    coarse: SmoothField | None = None       # infiltration: large patches
    streaks: tuple[SmoothField, SmoothField] | None = None  # infiltration: streaks along x and along y


def sample_textures(rng: np.random.Generator, box: RenderBox, z_range: tuple[float, float],
                    render_pixel_mm: float, infiltrated: bool) -> Textures:
    """Draw the :class:`Textures` of one subject over ``z_range`` (mm); infiltration fields if ``infiltrated``."""
    def smooth_field(sigma_mm: tuple[float, float, float], coarsen: int) -> SmoothField:
        return SmoothField(rng, box.render_side, z_range, sigma_mm, box.render_side * render_pixel_mm,
                           coarsen=coarsen)

    warp_x, warp_y = smooth_field((10, 10, 40), 4), smooth_field((10, 10, 40), 4)
    textures = Textures(warp_x, warp_y, muscle=smooth_field((1.5, 1.5, 12), 2), fat=smooth_field((3, 3, 15), 4),
                        septum=smooth_field((5, 5, 20), 4))
    if infiltrated:
        textures.fine, textures.coarse = smooth_field((2.0, 2.0, 8), 2), smooth_field((8, 8, 25), 4)
        textures.streaks = (smooth_field((1.2, 6, 20), 2), smooth_field((6, 1.2, 20), 2))
    return textures


@dataclass
class Plane:
    """One rendered plane (a sub-slice) on the render grid; arrays (render_side, render_side)."""

    healthy: np.ndarray                        # signal of the healthy anatomy (fat = 1)
    healthy_labels: np.ndarray                 # int16 muscle labels of the healthy anatomy
    image: np.ndarray                          # signal of the subject: infiltrated, or = healthy
    labels: np.ndarray                         # int16 labels of the subject (atrophied muscle removed)
    fat_fraction: np.ndarray | None = None     # muscle fat fraction, 0 outside the labels (infiltrated only)


def _tissue_signals(levels: dict[str, float]) -> tuple[np.ndarray, np.ndarray]:
    """Water and fat signal per tissue code (fat = 1), each float32 (len(TISSUES),); muscle and septa vary."""
    water = np.zeros(len(TISSUES), np.float32)
    fat = np.zeros(len(TISSUES), np.float32)
    for code, key in ((SKIN, "skin"), (FASCIA, "fascia"), (CORTEX, "cortex"), (VESSEL, "vessel"),
                      (NERVE, "nerve")):
        water[code] = levels[key]
    fat[[SUBCUT_FAT, FAT_PAD]] = 1.0
    fat[MARROW] = levels["marrow"]
    return water, fat


def render_plane(anatomy: ThighAnatomy, z_mm: float, box: RenderBox, textures: Textures,
                 acquisition: Acquisition, involvement: Involvement | None, shift_px: float,
                 label_map: np.ndarray | None = None) -> Plane:
    """Render the healthy and, for an infiltrated subject, the infiltrated signal of the plane at ``z_mm``.

    ``label_map`` merges muscles into drawn regions (see :func:`mmac.phantom.anatomy.render_slice`).
    """
    geometry = render_slice(anatomy, z_mm, box.x, box.y,
                            warp=(4.0 * textures.warp_x.plane(z_mm), 4.0 * textures.warp_y.plane(z_mm)),
                            label_map=label_map)
    tissue, labels = geometry.tissue, geometry.labels
    water_of_tissue, fat_of_tissue = _tissue_signals(acquisition.levels)
    fat_level = 1.0 + 0.03 * textures.fat.plane(z_mm)
    water = water_of_tissue[tissue]
    fat = fat_of_tissue[tissue] * fat_level
    septum = tissue == SEPTUM
    septum_fat = 1.0 / (1.0 + np.exp(-2.5 * textures.septum.plane(z_mm)[septum]))  # fatty share of each septum
    fat[septum] = 0.9 * septum_fat
    water[septum] = (1 - septum_fat) * acquisition.levels["fascia"]
    muscle = labels > 0
    muscle_signal = acquisition.muscle_levels[labels[muscle]] * (1 + 0.04 * textures.muscle.plane(z_mm)[muscle])
    healthy_water = water.copy()
    healthy_water[muscle] = muscle_signal
    healthy = healthy_water + shift_fat(fat, shift_px)
    if involvement is None:
        return Plane(healthy, labels, healthy, labels)

    depth = muscle_depth(labels)
    streak_of_label = np.zeros(len(MUSCLES) + 1, np.int64)  # 0: streaks along x, 1: along y, per muscle label
    streak_of_label[1:] = (involvement.streak_angle > np.pi / 2).astype(np.int64)
    streak = np.where(streak_of_label[labels] == 0, textures.streaks[0].plane(z_mm),
                      textures.streaks[1].plane(z_mm))
    fat_fraction, atrophied = infiltrate(labels, depth, textures.fine.plane(z_mm), textures.coarse.plane(z_mm),
                                         streak, geometry.t, involvement)
    infiltrated_fat = fat.copy()
    infiltrated_water = water.copy()
    infiltrated_water[muscle] = (1 - fat_fraction[muscle]) * muscle_signal
    infiltrated_fat[muscle] = fat_fraction[muscle] * fat_level[muscle]
    image = infiltrated_water + shift_fat(infiltrated_fat, shift_px)
    remaining_labels = np.where(atrophied, 0, labels).astype(np.int16)
    return Plane(healthy, labels, image, remaining_labels, np.where(remaining_labels > 0, fat_fraction, 0.0))


@dataclass
class Rendered:
    """Noise-free volumes of one subject on the box's voxels, each (box side, box side, slices)."""

    image: np.ndarray            # float32 signal of the subject (fat = 1)
    healthy: np.ndarray | None   # float32 signal of the healthy counterpart (None for healthy subjects)
    labels: np.ndarray           # int16 muscle labels of the subject
    healthy_labels: np.ndarray   # int16 labels of the counterpart (zeros for healthy subjects)
    fat_fraction: np.ndarray     # float32 muscle fat fraction (zeros for healthy subjects)


def render(anatomy: ThighAnatomy, sub_slice_z: np.ndarray, box: RenderBox, textures: Textures,
           acquisition: Acquisition, involvement: Involvement | None, shift_px: float,
           label_map: np.ndarray | None = None) -> Rendered:
    """Render every slice as the weighted mean of its sub-slice planes (the slice profile).

    Args:
        sub_slice_z: Plane positions (mm), (slices, len(_SUB_OFFSETS)).
        shift_px: Fat displacement along x in render pixels (chemical shift), 0 for none.
        label_map: Label -> drawn label (compartments), or None.
    """
    slices, upsample, side = sub_slice_z.shape[0], box.upsample, box.render_side
    shape = (box.side, box.side, slices)
    infiltrated = involvement is not None
    out = Rendered(np.zeros(shape, np.float32), np.zeros(shape, np.float32) if infiltrated else None,
                   np.zeros(shape, np.int16), np.zeros(shape, np.int16), np.zeros(shape, np.float32))
    for k in range(slices):
        image = np.zeros((box.side, box.side), np.float32)
        healthy = np.zeros((box.side, box.side), np.float32) if infiltrated else None
        labels = np.zeros((len(_SUB_OFFSETS), side, side), np.int16)  # per sub-slice, render grid
        healthy_labels = np.zeros((len(_SUB_OFFSETS), side, side), np.int16)
        fat_fraction_sum = np.zeros((box.side, box.side), np.float64)  # weighted sum over sub-slices
        for q, (z_mm, weight) in enumerate(zip(sub_slice_z[k], _SUB_WEIGHTS, strict=True)):
            plane = render_plane(anatomy, float(z_mm), box, textures, acquisition, involvement, shift_px, label_map)
            image += weight * _block_mean(plane.image, upsample)  # (side, side) -> (box side, box side)
            labels[q] = plane.labels
            if infiltrated:
                healthy_labels[q] = plane.healthy_labels
                healthy += weight * _block_mean(plane.healthy, upsample)
                fat_fraction_sum += weight * _block_mean(plane.fat_fraction, upsample)

        out.labels[..., k], muscle_share = _mode_labels(labels, _SUB_WEIGHTS, upsample)
        if infiltrated:
            out.healthy_labels[..., k] = _mode_labels(healthy_labels, _SUB_WEIGHTS, upsample)[0]
            out.fat_fraction[..., k] = np.where(out.labels[..., k] > 0,
                                                fat_fraction_sum / np.maximum(muscle_share, 1e-12), 0.0)
            out.healthy[..., k] = healthy
        out.image[..., k] = image
    return out


def acquire(volume: np.ndarray, acquisition: Acquisition, bias: np.ndarray | np.float32, box: RenderBox,
            shape: tuple[int, int, int], noise: tuple[np.ndarray, np.ndarray] | None) -> np.ndarray:
    """Scanner effects on a noise-free box volume: in-plane PSF, bias field, then Rician noise.

    Args:
        volume: Signal on the box's voxels, (box side, box side, slices).
        bias: The bias field on the box's voxels, same shape, or 1.
        shape: The output volume (size, size, slices); the volume is 0 outside the box.
        noise: Real and imaginary standard-normal noise, each ``shape``, or None for no noise.

    Returns:
        The magnitude image, ``shape``.
    """
    pixel_mm = FOV_MM / shape[0]
    psf_px = (acquisition.psf_fwhm_mm[0] / FWHM_PER_SIGMA / pixel_mm,
              acquisition.psf_fwhm_mm[1] / FWHM_PER_SIGMA / pixel_mm, 0.0)  # Gaussian sigma (pixels) x, y, z
    volume = _unbox(ndimage.gaussian_filter(volume, psf_px, mode="constant", truncate=3.0) * bias, shape,
                    box.voxels)
    if noise is not None:
        volume = rician(volume, acquisition.levels["muscle"] / acquisition.snr, *noise)
    return volume


def make_subject(group: str, seed: int = 0, index: int = 1, size: int = 256, slices: int = 53,
                 slice_spacing: float = SLICE_SPACING_MM, chemical_shift: bool = False, noise: bool = True,
                 bias: bool = True, variation: Variation | None = None, _stream: tuple[int, ...] = (),
                 _z_centre_mm: float = 0.0) -> Subject:
    """Generate one subject deterministically from ``(seed, group, index)``.

    The subject depends only on these three numbers and the sizes, not on the other subjects of a cohort.
    Steps: sample the anatomy, the involvement (infiltrated groups), the acquisition and the textures from
    independent random streams; :func:`render` the noise-free volumes; :func:`acquire` them.

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
        variation: How the cohort departs from the default one (:class:`~mmac.phantom.variation.Variation`);
            None is the default cohort. With ``independent_slices`` every slice is drawn as its own one-slice
            subject (:func:`_independent_slices`).

    Returns:
        The subject's volumes, affine and generation parameters (``info``).

    Raises:
        TypeError: ``size``, ``slices`` or ``slice_spacing`` is not a number of the right kind.
        ValueError: Unknown group, bad size, slice count or slice spacing.
    """
    check_choice(group, GROUPS, "group")
    validate_size(size, slices)
    check_real(slice_spacing, "slice_spacing (mm)", minimum=0, exclusive_minimum=True)
    variation = DEFAULT_VARIATION if variation is None else variation
    if variation.independent_slices:
        return _independent_slices(group, seed, index, size, slices, slice_spacing, chemical_shift, noise, bias,
                                   variation)
    label_map = variation.label_map()
    seed_sequence = np.random.SeedSequence([int(seed), _GROUP_CODE[group], int(index), *_stream])
    rng_anatomy, rng_disease, rng_texture, rng_acquisition, rng_noise = (
        np.random.default_rng(s) for s in seed_sequence.spawn(5))

    anatomy = ThighAnatomy.sample(rng_anatomy)
    z_centres = (np.arange(slices) - (slices - 1) / 2) * slice_spacing + _z_centre_mm  # (slices,) mm
    sub_slice_z = z_centres[:, None] + np.asarray(_SUB_OFFSETS)[None, :] * slice_spacing  # (slices, sub-slices)
    z_range = (float(z_centres[0] - slice_spacing), float(z_centres[-1] + slice_spacing))
    box = _render_box(anatomy, sub_slice_z.ravel(), size)
    render_pixel_mm = FOV_MM / size / box.upsample
    acquisition = sample_acquisition(rng_acquisition)
    involvement: Involvement | None = None
    if group != "healthy":
        area = _muscle_area(anatomy, np.linspace(-0.4, 0.4, 5) * anatomy.length, label_map)
        involvement = sample_involvement(rng_disease, group, area, templates=variation.templates,
                                         severe_ff=variation.severe_ff, atrophy=variation.atrophy,
                                         label_map=label_map, texture=variation.texture)
    textures = sample_textures(rng_texture, box, z_range, render_pixel_mm, involvement is not None)

    shift_px = acquisition.chemical_shift_mm / render_pixel_mm if chemical_shift else 0.0
    rendered = render(anatomy, sub_slice_z, box, textures, acquisition, involvement, shift_px, label_map)

    shape = (size, size, slices)
    bias_box = _bias_box(acquisition.bias_coefficients, size, box.voxels, z_centres) if bias else np.float32(1.0)
    noise_parts = None
    if noise:  # one noise draw for the image and its counterpart: they differ only where the tissue does
        noise_parts = (rng_noise.standard_normal(shape, dtype=np.float32),
                       rng_noise.standard_normal(shape, dtype=np.float32))
    image = acquire(rendered.image, acquisition, bias_box, box, shape, noise_parts)
    healthy = None if rendered.healthy is None else acquire(rendered.healthy, acquisition, bias_box, box, shape,
                                                            noise_parts)
    labels = _unbox(rendered.labels, shape, box.voxels)
    healthy_labels = labels if involvement is None else _unbox(rendered.healthy_labels, shape, box.voxels)
    fat_fraction = np.clip(_unbox(rendered.fat_fraction, shape, box.voxels), 0.0, 1.0).astype(np.float32)
    mask = (labels > 0).astype(np.uint8)
    info = dict(
        group=group, template=involvement.template if involvement else "",
        target_fat_fraction=involvement.target if involvement else 0.0,
        snr=acquisition.snr, psf_fwhm_mm_x=acquisition.psf_fwhm_mm[0], psf_fwhm_mm_y=acquisition.psf_fwhm_mm[1],
        bias_peak_to_peak=acquisition.bias_peak_to_peak, muscle_level=float(acquisition.levels["muscle"]),
        chemical_shift_mm=acquisition.chemical_shift_mm if chemical_shift else 0.0,
        mean_fat_fraction=float(fat_fraction[mask > 0].mean()) if mask.any() else 0.0,
        max_muscle_fat_fraction=float(max((fat_fraction[labels == i].mean() for i in np.unique(labels) if i > 0),
                                          default=0.0)),
    )
    return Subject(image=image.astype(np.float32), mask=mask, labels=labels, fat_fraction=fat_fraction,
                   healthy=None if healthy is None else healthy.astype(np.float32), healthy_labels=healthy_labels,
                   affine=make_affine(size, slices, slice_spacing), info=info)


def _independent_slices(group: str, seed: int, index: int, size: int, slices: int, slice_spacing: float,
                        chemical_shift: bool, noise: bool, bias: bool, variation: Variation) -> Subject:
    """A subject whose every slice is its own one-slice subject at a random level of the thigh.

    Slice ``k`` has its own random streams (``(seed, group, index, k + 1)``): anatomy, involvement, textures and
    acquisition are new on every slice, and its level is uniform over the span of a default stack of
    ``slices`` slices. The volumes are the slices stacked along z; ``info`` holds the mean of each number over
    the slices and every template drawn.
    """
    from dataclasses import replace

    rng = np.random.default_rng(np.random.SeedSequence([int(seed), _GROUP_CODE[group], int(index), 0]))
    half_span = (slices - 1) / 2 * slice_spacing
    one = replace(variation, independent_slices=False)
    parts = [make_subject(group, seed, index, size, 1, slice_spacing, chemical_shift, noise, bias, one,
                          _stream=(k + 1,), _z_centre_mm=float(rng.uniform(-half_span, half_span)))
             for k in range(slices)]

    def stack(name: str) -> np.ndarray:
        return np.concatenate([getattr(p, name) for p in parts], axis=2)  # (size, size, 1) x slices

    info = {}
    for key, value in parts[0].info.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            info[key] = float(np.mean([p.info[key] for p in parts]))
        elif key == "template":
            info[key] = "+".join(sorted({p.info[key] for p in parts if p.info[key]}))
        else:
            info[key] = value
    return Subject(image=stack("image"), mask=stack("mask"), labels=stack("labels"),
                   fat_fraction=stack("fat_fraction"), healthy=None if parts[0].healthy is None else stack("healthy"),
                   healthy_labels=stack("healthy_labels"), affine=make_affine(size, slices, slice_spacing), info=info)


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
                slice_spacing: float = SLICE_SPACING_MM, workers: int = 1,
                variation: Variation | dict | None = None) -> Path:
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
        variation: How the cohort departs from the default one: a :class:`~mmac.phantom.variation.Variation` or
            its keyword arguments (``cohort.json`` stores them so); written to ``variation.json`` when it is
            not the default. Defaults to None (the default cohort).

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
    if variation is None:
        variation = DEFAULT_VARIATION
    elif not isinstance(variation, Variation):
        variation = Variation.from_kwargs(**dict(variation))
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
        task = dict(tmp=tmp, seed=seed, size=size, slices=slices, slice_spacing=slice_spacing,
                    chemical_shift=chemical_shift, variation=variation)
        rows, infos = _write_subjects(jobs, task, workers, progress)
        _write_tables(tmp, rows, infos, variation)
        _publish(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir / "manifest.csv"


def _write_subjects(jobs: list[tuple[str, int, str]], task: dict, workers: int,
                    progress: bool) -> tuple[list[dict], list[dict]]:
    """Every subject of ``jobs`` through :func:`_write_subject` (in ``workers`` processes when more than one),
    in job order: the manifest rows and the subjects' infos."""
    from tqdm import tqdm

    rows, infos = [], []
    n_workers = min(workers, len(jobs))
    if n_workers <= 1:
        results = map(lambda job: _write_subject(job, **task), jobs)
        for row, info in tqdm(results, total=len(jobs), desc="phantom", unit="subject", disable=not progress):
            rows.append(row)
            infos.append(info)
        return rows, infos
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
    return rows, infos


def _write_tables(folder: Path, rows: list[dict], infos: list[dict], variation: Variation) -> None:
    """``manifest.csv``, ``muscles.csv``, ``subjects.csv`` and (not the default) ``variation.json``."""
    with open(folder / "manifest.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=MANIFEST_COLUMNS)
        w.writeheader()
        w.writerows(rows)
    with open(folder / "muscles.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(("label", "muscle"))
        w.writerows((i + 1, m) for i, m in enumerate(MUSCLES))
    with open(folder / "subjects.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(infos[0]))
        w.writeheader()
        w.writerows({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()} for r in infos)
    if not variation.is_default:
        import json

        (folder / "variation.json").write_text(json.dumps(variation.changes(), indent=2) + "\n")


def _write_subject(job: tuple[str, int, str], tmp: Path, seed: int, size: int, slices: int,
                   slice_spacing: float, chemical_shift: bool, variation: Variation) -> tuple[dict, dict]:
    """Generate subject ``job = (group, index, id)``, write its volumes to ``tmp``; return manifest row and info."""
    group, index, sid = job
    sub = make_subject(group, seed=seed, index=index, size=size, slices=slices, slice_spacing=slice_spacing,
                       chemical_shift=chemical_shift, variation=variation)
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
