"""Fatty infiltration and atrophy of thigh muscles, after the Mercuri grading scale.

Mercuri et al., "Muscle MRI in inherited neuromuscular disorders: past, present, and future",
J Magn Reson Imaging 25:433-440 (2007), grade fat replacement on T1-weighted slices as: normal (0);
scattered small areas, "moth-eaten" (1-2a, < 30 % of the volume); numerous discrete areas with beginning
confluence (2b, 30-60 %); washed-out appearance, fused areas (3, > 60 %); end stage, muscle replaced by
fat with only a rim of fascia left (4). Involvement is selective and disease-specific: the templates
below follow the patterns reported for dystrophinopathies (gracilis, sartorius and semitendinosus spared),
LGMD R9 / Becker (posterior thigh and adductor magnus first) and the quadriceps-predominant myopathies
(rectus femoris relatively spared).

Per muscle, the pixel fat fraction is ``sigmoid((Z - tau) / kappa)`` of a standardised pattern field ``Z`` (a
mix of fine blobs = moth-eaten, coarse patches, streaks and a core-versus-rim term for washed-out muscle with
a spared rim). ``kappa`` can grow with the muscle's involvement (``WASHOUT_SOFTNESS``) for partial fat
fractions in washed-out muscle; it is 0 because softer patterns raised the optimal two-threshold Dice above
the paper's (measured: severe 0.824 vs 0.786 at 256 x 256). The ``texture`` ``"patches"`` replaces this
pattern by one smooth noise field thresholded sharply (the coarse field alone, ``PATCH_SOFTNESS``): binary fat
patches with no moth-eaten blobs, streaks or spared rim, the pathology model of simpler synthetic thighs. The
threshold ``tau`` is solved per muscle and
plane (a few Newton steps from the probit approximation) so that the mean fat fraction of the muscle's
remaining (non-atrophied) pixels in that plane equals its target; the realised fat fraction of the mask
therefore tracks the subject's target. Atrophic muscles lose an outer shell of their cross-section, replaced
by fat.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import expit, ndtri

from mmac._validate import check_choice
from mmac.phantom.anatomy import MUSCLES

# Susceptibility templates, in the order of MUSCLES:
# RF, VL, VM, VI, SAR, GRA, AL, AB, AM, ST, SM, BFL, BFS
TEMPLATES: dict[str, tuple[float, ...]] = {
    "dystrophinopathy": (.80, .85, .75, .80, .06, .05, .60, .55, 1.0, .25, .70, .75, .55),
    "posterior_adductor": (.20, .55, .50, .60, .10, .10, .70, .70, 1.0, .30, .90, .85, .60),
    "quadriceps": (.45, 1.0, .90, .95, .12, .10, .30, .30, .50, .15, .30, .35, .30),
}

GROUPS: tuple[str, ...] = ("healthy", "moderate", "severe")
# Target mean fat fraction over the (post-atrophy) muscle mask, drawn uniformly per subject. The severe range
# sets the severe group's optimal two-threshold Dice: on the default cohort (tools/make_phantom.py
# --calibration) (0.32, 0.50) gave 0.798 and (0.42, 0.62) gives 0.750, the paper's 0.75.
TARGET_FF: dict[str, tuple[float, float]] = {"moderate": (0.15, 0.28), "severe": (0.42, 0.62)}
# Extra sigmoid softness of fully washed-out muscle, relative to kappa; 0 = off (see the module docstring).
WASHOUT_SOFTNESS = 0.0
# In-muscle appearance of the fat: the Mercuri-graded mix of patterns (default) or thresholded smooth noise.
TEXTURES: tuple[str, ...] = ("mercuri", "patches")
# Sigmoid softness of the "patches" texture, in standard deviations of its field: near-binary fat.
PATCH_SOFTNESS = 0.02


@dataclass
class Involvement:
    """Per-muscle disease involvement of one subject (arrays of length ``len(MUSCLES)``)."""

    template: str
    target: float             # subject's target mean fat fraction over the muscle mask
    ff: np.ndarray            # target mean fat fraction per muscle
    z_amp: np.ndarray         # relative proximo-distal modulation of the fat fraction
    z_phase: np.ndarray
    atrophy: np.ndarray       # fraction of normalised depth lost to atrophy (0 = none)
    kappa: float              # sigmoid softness of the pixel fat fraction
    streak_angle: np.ndarray  # in-plane streak orientation per muscle (radians)
    texture: str = "mercuri"  # one of TEXTURES

    def ff_at(self, t: float) -> np.ndarray:
        """Target fat fraction per muscle at thigh position ``t``."""
        mod = 1.0 + self.z_amp * np.sin(2 * np.pi * t + self.z_phase)
        return np.clip(self.ff * mod, 0.0, 0.97)


def sample_involvement(rng: np.random.Generator, group: str, muscle_area: np.ndarray,
                       templates: tuple[str, ...] = tuple(TEMPLATES), severe_ff: tuple[float, float] | None = None,
                       atrophy: float = 1.0, label_map: np.ndarray | None = None,
                       texture: str = "mercuri") -> Involvement | None:
    """Draw the disease involvement of a subject.

    With the defaults the draws are those of the default cohort; the options are the pathology knobs of
    :class:`mmac.phantom.variation.Variation`.

    Args:
        rng: Random generator.
        group: ``"healthy"``, ``"moderate"`` or ``"severe"``.
        muscle_area: Relative cross-sectional area per muscle, ``(len(MUSCLES),)``, used to hit the
            group's target mean fat fraction.
        templates: Names of :data:`TEMPLATES` to draw the subject's pattern from. Defaults to all.
        severe_ff: Range of the severe target fat fraction. Defaults to ``TARGET_FF["severe"]``.
        atrophy: Scale on the atrophied depth (0: none). Defaults to 1.
        label_map: Label -> drawn label (compartments); muscles drawn as one take its susceptibility.
        texture: In-muscle appearance of the fat, one of :data:`TEXTURES`; draws nothing from ``rng``, so a
            cohort differs from the default one in the texture alone.

    Returns:
        The involvement, or None for a healthy subject.

    Raises:
        ValueError: Unknown group or texture.
    """
    check_choice(group, GROUPS, "group")
    check_choice(texture, TEXTURES, "texture")
    if group == "healthy":
        return None
    templates = tuple(templates)
    name = templates[rng.integers(len(templates))]
    sus = np.clip(np.asarray(TEMPLATES[name]) + rng.normal(0, 0.08, len(MUSCLES)), 0.02, 1.0)
    if label_map is not None:
        sus = sus[np.asarray(label_map[1:]) - 1]     # every muscle takes the susceptibility of its drawn label
    ff_range = severe_ff if group == "severe" and severe_ff is not None else TARGET_FF[group]
    target = rng.uniform(*ff_range)
    gamma = 1.6 if group == "moderate" else 1.4   # moderate: involvement concentrated in the worst muscles
    area = np.asarray(muscle_area, float) / max(float(np.sum(muscle_area)), 1e-9)

    def mean_ff(level: float) -> float:
        return float(np.sum(area * np.clip(level * sus ** gamma, 0.0, 0.92)))

    lo, hi = 0.0, 5.0
    for _ in range(50):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if mean_ff(mid) < target else (lo, mid)
    ff = np.clip(0.5 * (lo + hi) * sus ** gamma, 0.005, 0.92)
    atrophy = np.clip((ff - 0.5) * 0.7, 0.0, 0.25) * rng.uniform(0.6, 1.0) * float(atrophy)
    return Involvement(
        template=name, target=float(target), ff=ff,
        z_amp=rng.uniform(0.0, 0.25, len(MUSCLES)), z_phase=rng.uniform(0, 2 * np.pi, len(MUSCLES)),
        atrophy=atrophy, kappa=float(rng.uniform(0.25, 0.45)),
        streak_angle=rng.uniform(0, np.pi, len(MUSCLES)), texture=texture,
    )


def pattern_weights(ff: np.ndarray) -> np.ndarray:
    """Weights of the (fine, coarse, streak, core) pattern components for muscle fat fractions ``ff``.

    Low fat fractions are moth-eaten (fine blobs), intermediate ones streaky with beginning confluence,
    high ones confluent and washed out with a spared rim (core term).

    Returns:
        ``(len(ff), 4)`` weights.
    """
    anchors = np.array([0.0, 0.2, 0.45, 0.7, 1.0])
    table = np.array([[1.0, .25, .30, 0.0],
                      [.85, .45, .55, 0.2],
                      [.55, .75, .55, 0.6],
                      [.40, .80, .30, 1.2],
                      [.30, .60, .20, 1.4]])
    return np.stack([np.interp(ff, anchors, table[:, j]) for j in range(4)], axis=1)


def infiltrate(labels: np.ndarray, depth: np.ndarray, fine: np.ndarray, coarse: np.ndarray,
               streak: np.ndarray, t: float, inv: Involvement) -> tuple[np.ndarray, np.ndarray]:
    """Pixel fat fraction and atrophy of one plane.

    Args:
        labels: Healthy muscle labels ``(n, n)``.
        depth: Normalised muscle depth ``(n, n)`` (0 at the border, 1 deepest), see
            :func:`mmac.phantom.anatomy.muscle_depth`.
        fine: Standardised fine-blob field ``(n, n)``.
        coarse: Standardised patch field ``(n, n)``.
        streak: Standardised streak field ``(n, n)`` (already oriented).
        t: Thigh position of the plane.
        inv: The subject's involvement.

    Returns:
        ``(ff, atrophied)``: fat fraction in [0, 1] ``(n, n)`` float32 (0 outside muscle) and the boolean
        map of muscle pixels replaced by fat.
    """
    target = inv.ff_at(t)
    if inv.texture == "patches":                              # the coarse field alone, thresholded sharply
        w = np.tile(np.array([0.0, 1.0, 0.0, 0.0]), (len(target), 1))
        kappa = np.full(len(target), PATCH_SOFTNESS)
    else:
        w = pattern_weights(target)                           # (M, 4)
        kappa = inv.kappa * (1.0 + WASHOUT_SOFTNESS * np.clip((target - 0.3) / 0.4, 0.0, 1.0))   # (M,)
    m = labels > 0
    idx = labels[m] - 1
    core = (depth[m] - 0.5) * 2.0                             # -1 at the rim, +1 at the core
    z = w[idx, 0] * fine[m] + w[idx, 1] * coarse[m] + w[idx, 2] * streak[m] + w[idx, 3] * core
    var = (w[:, :3] ** 2).sum(1) + w[:, 3] ** 2 / 3.0       # core is ~ uniform on [-1, 1]
    goal = np.clip(target, 1e-4, 1 - 1e-4)
    tau = -np.sqrt(var + (1.7 * kappa) ** 2) * ndtri(goal)   # probit approximation of the mean
    atro = depth[m] < inv.atrophy[idx]
    keep = (~atro).astype(np.float64)
    n_keep = np.maximum(np.bincount(idx, keep, minlength=len(target)), 1.0)
    k_px = kappa[idx]
    for _ in range(6):                                        # Newton on the mean of the remaining pixels
        s = expit((z - tau[idx]) / k_px)
        mean = np.bincount(idx, s * keep, minlength=len(target)) / n_keep
        slope = np.bincount(idx, s * (1 - s) / k_px * keep, minlength=len(target)) / n_keep
        step = np.clip((mean - goal) / np.maximum(slope, 1e-6), -0.5, 0.5)
        tau = tau + step
    ff = np.zeros(labels.shape, np.float32)
    ff[m] = np.where(atro, 1.0, expit((z - tau[idx]) / k_px))
    atrophied = np.zeros(labels.shape, bool)
    atrophied[m] = atro
    return ff, atrophied
