"""Thigh anatomy of the synthetic cohort: one right thigh per axial slice, continuous from hip to knee.

The construction follows the cross-sectional anatomy of standard atlases (e.g. Gray's Anatomy, 42nd ed.,
"Thigh"; the axial MR atlas of Beltran & Bencardino) in a deliberately simple geometric form:

* the thigh outline is a perturbed ellipse in polar coordinates, the subcutaneous fat a band of
  angle-dependent thickness inside it, the fascia lata a thin line at the inner border of that band;
* the femur is an ellipse (cortex near 0 signal, fatty marrow near fat signal) that moves from lateral
  (proximal) to central (distal) and widens at the distal metaphysis;
* the muscle compartment is partitioned into 13 muscles by a power diagram (an additively weighted
  Voronoi partition) of seed points placed at anatomically plausible angles and depths, on coordinates
  warped by a smooth random displacement so that the septa are wavy; septa are one-pixel lines at the
  partition boundaries;
* the femoral, deep femoral and popliteal vessels and the sciatic nerve sit in fat pads at their
  atlas positions, the great saphenous vein in the subcutaneous fat.

Every shape parameter is a monotone-cubic (PCHIP) interpolation of control points along the normalised
thigh length ``t`` (0 = proximal, just below the gluteal fold; 1 = distal, above the knee joint), so
the anatomy is continuous along z. Subject variation comes from random jitter of the control points.

Coordinates are millimetres, ``x`` to the subject's right (lateral for a right thigh), ``y`` anterior;
polar angles are measured from lateral (0 deg) towards anterior (90 deg), medial (180 deg) and
posterior (270 deg).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage
from scipy.interpolate import PchipInterpolator

MUSCLES: tuple[str, ...] = (
    "rectus_femoris", "vastus_lateralis", "vastus_medialis", "vastus_intermedius",
    "sartorius", "gracilis",
    "adductor_longus", "adductor_brevis", "adductor_magnus",
    "semitendinosus", "semimembranosus", "biceps_femoris_long_head", "biceps_femoris_short_head",
)
"""Muscle names; the label of ``MUSCLES[i]`` in the label volumes is ``i + 1`` (0 is background)."""

# Tissue codes of a rendered slice.
BACKGROUND, SKIN, SUBCUT_FAT, FASCIA, SEPTUM, CORTEX, MARROW, VESSEL, NERVE, FAT_PAD, MUSCLE = range(11)
TISSUES: tuple[str, ...] = ("background", "skin", "subcutaneous_fat", "fascia", "septum", "cortex", "marrow",
                            "vessel", "nerve", "fat_pad", "muscle")

_T = np.array([0.0, 0.25, 0.5, 0.75, 1.0])

# Per muscle: angle (deg), radial position (fraction of the compartment radius at that angle, from the
# thigh centre), size (power-diagram radius as a fraction of the mean compartment radius) and presence
# (0 = absent), at the control points _T. Sizes follow the atlas: vastus medialis and semimembranosus grow
# distally, adductors shrink distally and end above the adductor hiatus, the short head of biceps femoris
# appears in the distal half, rectus femoris tapers into its tendon above the knee.
_LAYOUT: dict[str, dict[str, tuple[float, ...]]] = {
    "rectus_femoris": dict(ang=(80, 85, 88, 90, 90), rad=(.74, .74, .74, .76, .80),
                           size=(.34, .32, .28, .21, .10), pres=(1, 1, 1, .9, .35)),
    "vastus_lateralis": dict(ang=(15, 15, 15, 20, 30), rad=(.66, .68, .68, .66, .60),
                             size=(.40, .48, .50, .45, .32), pres=(1, 1, 1, 1, 1)),
    "vastus_medialis": dict(ang=(130, 138, 142, 145, 150), rad=(.55, .60, .62, .62, .60),
                            size=(.10, .24, .36, .46, .46), pres=(.4, .8, 1, 1, 1)),
    "vastus_intermedius": dict(ang=(60, 70, 78, 82, 85), rad=(.38, .40, .40, .40, .42),
                               size=(.30, .35, .36, .30, .16), pres=(1, 1, 1, 1, .8)),
    "sartorius": dict(ang=(75, 108, 148, 172, 192), rad=(.90, .89, .88, .87, .86),
                      size=(.20, .20, .20, .20, .18), pres=(1, 1, 1, 1, 1)),
    "gracilis": dict(ang=(205, 200, 195, 195, 198), rad=(.89, .89, .88, .87, .86),
                     size=(.17, .17, .16, .15, .12), pres=(1, 1, 1, 1, 1)),
    "adductor_longus": dict(ang=(158, 168, 178, 185, 185), rad=(.55, .55, .50, .45, .45),
                            size=(.36, .28, .14, .01, .01), pres=(1, 1, .6, 0, 0)),
    "adductor_brevis": dict(ang=(198, 195, 195, 195, 195), rad=(.40, .40, .40, .40, .40),
                            size=(.28, .20, .05, .01, .01), pres=(1, .7, 0, 0, 0)),
    "adductor_magnus": dict(ang=(232, 226, 218, 212, 215), rad=(.60, .60, .58, .55, .50),
                            size=(.48, .48, .42, .30, .12), pres=(1, 1, 1, .8, .3)),
    "semitendinosus": dict(ang=(266, 261, 256, 246, 236), rad=(.84, .84, .84, .84, .86),
                           size=(.22, .26, .26, .22, .15), pres=(1, 1, 1, 1, 1)),
    "semimembranosus": dict(ang=(250, 246, 240, 235, 228), rad=(.70, .68, .65, .62, .60),
                            size=(.10, .20, .30, .35, .32), pres=(.4, .9, 1, 1, .9)),
    "biceps_femoris_long_head": dict(ang=(292, 290, 286, 282, 290), rad=(.76, .76, .73, .73, .73),
                                     size=(.25, .30, .30, .30, .25), pres=(1, 1, 1, 1, 1)),
    "biceps_femoris_short_head": dict(ang=(310, 310, 306, 302, 300), rad=(.45, .45, .45, .50, .50),
                                      size=(.01, .01, .18, .28, .30), pres=(0, 0, .6, 1, 1)),
}


def _pchip(values, jitter: float = 0.0, rng: np.random.Generator | None = None,
           relative: bool = False) -> PchipInterpolator:
    """PCHIP interpolant through control values at ``_T``, optionally with random jitter of each value."""
    values = np.asarray(values, dtype=float)
    if rng is not None and jitter:
        noise = rng.normal(0.0, jitter, size=values.shape)
        values = values * (1.0 + noise) if relative else values + noise
    return PchipInterpolator(_T, values, extrapolate=True)


@dataclass
class ThighAnatomy:
    """Subject-specific shape parameters of one thigh, each a function of the normalised length ``t``.

    Build it with :meth:`sample`; render slices with :func:`render_slice`.
    """

    center: tuple[float, float]
    radius: PchipInterpolator            # mean outer radius (mm)
    aspect: PchipInterpolator            # x/y aspect ratio of the outline
    outline_coef: np.ndarray             # (K, 5) relative Fourier amplitudes of the outline, k = 2..K+1
    outline_phase: np.ndarray            # (K,)
    subcut: PchipInterpolator            # mean subcutaneous fat thickness (mm)
    subcut_coef: np.ndarray              # (2,) relative cos(theta - psi), cos(2 theta - psi) amplitudes
    subcut_phase: np.ndarray             # (2,)
    skin: float                          # skin thickness (mm)
    fascia: float                        # fascia lata thickness (mm)
    femur_x: PchipInterpolator           # femur centre offset, fraction of compartment radius
    femur_y: PchipInterpolator
    femur_r: PchipInterpolator           # femur outer radius (mm)
    femur_aspect: PchipInterpolator
    cortex: PchipInterpolator            # cortical thickness (mm)
    muscles: list[dict] = field(default_factory=list)   # per muscle: ang, rad, size, pres interpolants
    bundles: list[dict] = field(default_factory=list)   # neurovascular bundles
    length: float = 371.0                # thigh length mapped to t in [0, 1] (mm)

    @classmethod
    def sample(cls, rng: np.random.Generator, length: float = 371.0) -> ThighAnatomy:
        """Draw a random subject anatomy.

        Args:
            rng: Random generator; the anatomy is a deterministic function of its state.
            length: Thigh length in mm mapped to ``t`` in [0, 1]; it is jittered by +-5 %. Defaults to 371.

        Returns:
            The sampled anatomy.
        """
        scale = rng.uniform(0.85, 1.12)
        k = 4
        coef = rng.uniform(0.0, 0.035, size=(k, 1)) * rng.uniform(0.5, 1.5, size=(k, _T.size))
        muscles = []
        for name in MUSCLES:
            lay = _LAYOUT[name]
            muscles.append(dict(
                name=name,
                ang=_pchip(np.asarray(lay["ang"]) + rng.normal(0, 5), 4.0, rng),
                rad=_pchip(np.clip(np.asarray(lay["rad"]) + rng.normal(0, .02), .2, .95), .015, rng),
                size=_pchip(np.asarray(lay["size"]) * rng.uniform(.85, 1.15), .06, rng, relative=True),
                pres=_pchip(lay["pres"]),
            ))
        bundles = [
            # femoral -> popliteal artery and vein in their fat pad
            dict(ang=_pchip((145, 160, 185, 222, 262), 5.0, rng), rad=_pchip((.62, .50, .45, .36, .30)),
                 pad=8.0, vessels=((-3.2, 0.0, 3.4), (3.6, 0.0, 4.4)), pres=_pchip((1, 1, 1, 1, 1)),
                 nerve=False),
            # deep femoral (profunda) vessels, proximal half
            dict(ang=_pchip((175, 185, 200, 200, 200), 5.0, rng), rad=_pchip((.34, .34, .34, .34, .34)),
                 pad=5.0, vessels=((-1.8, 0.0, 2.2), (2.2, 0.0, 2.6)), pres=_pchip((1, 1, .3, 0, 0)),
                 nerve=False),
            # sciatic nerve
            dict(ang=_pchip((275, 275, 270, 265, 262), 5.0, rng), rad=_pchip((.52, .50, .46, .42, .42)),
                 pad=7.0, vessels=((0.0, 0.0, 4.8),), pres=_pchip((1, 1, 1, 1, .9)), nerve=True),
        ]
        return cls(
            center=(float(rng.normal(0, 6)), float(rng.normal(0, 6))),
            radius=_pchip(np.array([88, 82, 74, 64, 57]) * scale, .03, rng, relative=True),
            aspect=_pchip(np.array([1.06, 1.02, 1.0, 1.03, 1.1]) + rng.normal(0, .03), .02, rng),
            outline_coef=coef,
            outline_phase=rng.uniform(0, 2 * np.pi, size=k),
            subcut=_pchip(np.array([1.25, 1.1, 1.0, 0.9, 0.85]) * rng.uniform(6.0, 22.0), .05, rng,
                          relative=True),
            subcut_coef=rng.uniform(0.05, 0.35, size=2),
            subcut_phase=rng.uniform(0, 2 * np.pi, size=2),
            skin=float(rng.uniform(1.3, 2.2)),
            fascia=float(rng.uniform(0.8, 1.2)),
            femur_x=_pchip((.20, .12, .06, .03, .02), .02, rng),
            femur_y=_pchip((.00, .04, .06, .06, .05), .02, rng),
            femur_r=_pchip(np.array([17.5, 14.5, 13.5, 15.5, 24.0]) * (0.5 + 0.5 * scale), .03, rng,
                           relative=True),
            femur_aspect=_pchip((1.05, 1.0, 1.0, 1.1, 1.35)),
            cortex=_pchip((4.5, 6.0, 6.5, 4.5, 1.6), .05, rng, relative=True),
            muscles=muscles,
            bundles=bundles,
            length=float(length * rng.uniform(0.97, 1.05)),
        )

    def t_of_z(self, z_mm: float) -> float:
        """Normalised thigh position of a slice at ``z_mm`` (0 = mid-thigh, +z = superior), clipped to [0, 1]."""
        return float(np.clip(0.5 - z_mm / self.length, 0.0, 1.0))

    def plane_parameters(self, t: float) -> tuple[np.ndarray, np.ndarray]:
        """Muscle and bundle parameters at thigh position ``t``, evaluated in one vectorised PCHIP call.

        Returns:
            ``(muscles, bundles)``: ``(M, 4)`` angle (deg), radial position, size, presence per muscle and
            ``(B, 3)`` angle (deg), radial position, presence per bundle.
        """
        table = self.__dict__.get("_table")
        if table is None:  # one interpolant for all columns: same knots, PCHIP acts column by column
            cols = [m[k] for m in self.muscles for k in ("ang", "rad", "size", "pres")]
            cols += [b[k] for b in self.bundles for k in ("ang", "rad", "pres")]
            table = PchipInterpolator(_T, np.stack([c(_T) for c in cols], axis=1), extrapolate=True)
            self._table = table
        v = table(t)
        n_m = 4 * len(self.muscles)
        return v[:n_m].reshape(len(self.muscles), 4), v[n_m:].reshape(len(self.bundles), 3)

    # --- radii as functions of the polar angle --------------------------------------------------------
    def outer_radius(self, theta: np.ndarray, t: float) -> np.ndarray:
        """Outer (skin) radius in mm at polar angles ``theta`` (radians), any shape."""
        a = float(self.aspect(t))
        ell = 1.0 / np.sqrt((np.cos(theta) / np.sqrt(a)) ** 2 + (np.sin(theta) * np.sqrt(a)) ** 2)
        pert = np.ones_like(theta)
        for i in range(self.outline_coef.shape[0]):
            amp = float(np.interp(t, _T, self.outline_coef[i]))
            pert = pert + amp * np.cos((i + 2) * theta - self.outline_phase[i])
        return float(self.radius(t)) * ell * pert

    def subcut_thickness(self, theta: np.ndarray, t: float) -> np.ndarray:
        """Subcutaneous fat thickness in mm at polar angles ``theta`` (radians)."""
        c, p = self.subcut_coef, self.subcut_phase
        rel = 1.0 + c[0] * np.cos(theta - p[0]) + c[1] * np.cos(2 * theta - p[1])
        return float(self.subcut(t)) * rel

    def compartment_radius(self, theta: np.ndarray, t: float) -> np.ndarray:
        """Radius of the muscle compartment (inside the fascia lata) in mm."""
        return self.outer_radius(theta, t) - self.skin - self.subcut_thickness(theta, t) - self.fascia


@dataclass
class SliceGeometry:
    """One rendered slice on the render grid (all arrays ``(n, n)``)."""

    tissue: np.ndarray      # uint8 tissue codes (BACKGROUND ... MUSCLE)
    labels: np.ndarray      # int16 muscle labels 1..len(MUSCLES), 0 elsewhere
    x: np.ndarray           # float32 pixel x coordinates (mm, relative to the thigh centre)
    y: np.ndarray
    t: float
    seeds: np.ndarray       # (M, 2) muscle seed coordinates (mm, relative to the thigh centre)


def grid_coordinates(n: int, fov: float = 256.0) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates (mm) of an ``n x n`` grid covering ``fov`` mm, array axis 0 = x, 1 = y.

    Returns:
        ``(x, y)``, each ``(n, n)`` float32.
    """
    c = ((np.arange(n, dtype=np.float32) + 0.5) * (fov / n) - fov / 2).astype(np.float32)
    return np.meshgrid(c, c, indexing="ij")


def render_slice(anat: ThighAnatomy, z_mm: float, x: np.ndarray, y: np.ndarray,
                 warp: tuple[np.ndarray, np.ndarray] | None = None,
                 label_map: np.ndarray | None = None) -> SliceGeometry:
    """Rasterise the anatomy of one axial plane.

    Args:
        anat: The subject anatomy.
        z_mm: Plane position in mm (0 = mid-thigh, +z superior).
        x: Pixel x coordinates (mm), ``(n, n)``, e.g. from :func:`grid_coordinates`.
        y: Pixel y coordinates (mm), ``(n, n)``.
        warp: Optional smooth displacement ``(dx, dy)`` in mm, each ``(n, n)``, applied to the coordinates
            of the muscle partition only (wavy septa). Defaults to None.
        label_map: Optional ``(len(MUSCLES) + 1,)`` map from muscle label to drawn label, applied before the
            septa are drawn, so muscles mapped to one label form one region with no septum between them
            (:meth:`mmac.phantom.variation.Variation.label_map`). Defaults to None (13 muscles).

    Returns:
        The tissue and label maps of the plane.
    """
    t = anat.t_of_z(z_mm)
    x = x - np.float32(anat.center[0])
    y = y - np.float32(anat.center[1])
    r = np.hypot(x, y)
    theta = np.arctan2(y, x)
    r_out = anat.outer_radius(theta, t)
    r_sub = r_out - anat.skin
    r_fas = r_sub - anat.subcut_thickness(theta, t)
    r_cmp = r_fas - anat.fascia

    tissue = np.zeros(x.shape, np.uint8)
    tissue[r < r_out] = SKIN
    tissue[r < r_sub] = SUBCUT_FAT
    tissue[r < r_fas] = FASCIA
    comp = r < r_cmp
    tissue[comp] = MUSCLE

    rc_mean = float(np.mean(anat.compartment_radius(np.linspace(0, 2 * np.pi, 64, endpoint=False), t)))
    mp, bp = anat.plane_parameters(t)                         # (M, 4) ang/rad/size/pres, (B, 3) ang/rad/pres
    labels, seeds = _partition_muscles(anat, t, mp, rc_mean, x, y, comp, warp, label_map)
    _draw_septa(tissue, labels)
    bone = _draw_femur(anat, t, rc_mean, x, y, tissue, labels)
    _draw_bundles(anat, t, bp, x, y, comp, bone, tissue, labels)
    _draw_saphenous_vein(anat, t, x, y, tissue)
    return SliceGeometry(tissue=tissue, labels=labels, x=x, y=y, t=t, seeds=seeds)


def _partition_muscles(anat: ThighAnatomy, t: float, mp: np.ndarray, rc_mean: float, x: np.ndarray, y: np.ndarray,
                       comp: np.ndarray, warp, label_map) -> tuple[np.ndarray, np.ndarray]:
    """Muscle labels ``(n, n)`` int16 of the compartment ``comp``: a power diagram of the muscles' seeds on the
    (warped) coordinates; and the seeds ``(M, 2)``."""
    m_ang = np.deg2rad(mp[:, 0])
    m_rad = mp[:, 1] * anat.compartment_radius(m_ang, t)
    seeds = np.stack([m_rad * np.cos(m_ang), m_rad * np.sin(m_ang)], axis=1).astype(np.float32)  # (M, 2)
    labels = np.zeros(x.shape, np.int16)
    xs, ys = x[comp], y[comp]
    if warp is not None:
        xs = xs + warp[0][comp]
        ys = ys + warp[1][comp]
    best = np.full(xs.shape, np.inf, np.float32)
    lab = np.zeros(xs.shape, np.int16)
    for i in range(len(anat.muscles)):
        pres = float(np.clip(mp[i, 3], 0.0, 1.0))
        if pres < 0.05:
            continue
        w = max(float(mp[i, 2]), 0.0) * rc_mean * np.sqrt(pres)
        cost = ((xs - seeds[i, 0]) ** 2 + (ys - seeds[i, 1]) ** 2) * np.float32(1.0 / max(w, 1e-3) ** 2)
        better = cost < best
        best = np.where(better, cost, best)
        lab[better] = i + 1
    labels[comp] = lab if label_map is None else label_map[lab]
    return labels, seeds


def _draw_septa(tissue: np.ndarray, labels: np.ndarray) -> None:
    """One-pixel septa where the muscle label changes between neighbours (in place)."""
    sep = np.zeros(labels.shape, bool)
    dx = (labels[:-1, :] != labels[1:, :]) & (labels[:-1, :] > 0) & (labels[1:, :] > 0)
    dy = (labels[:, :-1] != labels[:, 1:]) & (labels[:, :-1] > 0) & (labels[:, 1:] > 0)
    sep[:-1, :] |= dx
    sep[:, :-1] |= dy
    tissue[sep] = SEPTUM
    labels[sep] = 0


def _draw_femur(anat: ThighAnatomy, t: float, rc_mean: float, x: np.ndarray, y: np.ndarray, tissue: np.ndarray,
                labels: np.ndarray) -> np.ndarray:
    """Cortex and marrow of the femur (in place); returns the bone mask."""
    fx = float(anat.femur_x(t)) * rc_mean
    fy = float(anat.femur_y(t)) * rc_mean
    fr = float(anat.femur_r(t))
    fa = float(anat.femur_aspect(t))
    fd = np.sqrt(((x - fx) / np.sqrt(fa)) ** 2 + ((y - fy) * np.sqrt(fa)) ** 2)
    bone = fd < fr
    tissue[bone] = CORTEX
    tissue[fd < fr - float(anat.cortex(t))] = MARROW
    labels[bone] = 0
    return bone


def _draw_bundles(anat: ThighAnatomy, t: float, bp: np.ndarray, x: np.ndarray, y: np.ndarray, comp: np.ndarray,
                  bone: np.ndarray, tissue: np.ndarray, labels: np.ndarray) -> None:
    """Neurovascular bundles in their fat pads (in place): vessels side by side, across the radial direction."""
    b_ang = np.deg2rad(bp[:, 0])
    b_rad = bp[:, 1] * anat.compartment_radius(b_ang, t)
    for k, b in enumerate(anat.bundles):
        pres = float(np.clip(bp[k, 2], 0.0, 1.0))
        if pres < 0.1:
            continue
        ang = b_ang[k]
        bx, by = b_rad[k] * np.cos(ang), b_rad[k] * np.sin(ang)
        d2 = (x - bx) ** 2 + (y - by) ** 2
        pad = (d2 < (b["pad"] * pres) ** 2) & comp & ~bone
        tissue[pad] = FAT_PAD
        labels[pad] = 0
        ux, uy = -np.sin(ang), np.cos(ang)
        for off, _, vr in b["vessels"]:
            vx, vy = bx + off * ux, by + off * uy
            ves = ((x - vx) ** 2 + (y - vy) ** 2 < (vr * pres) ** 2) & pad
            tissue[ves] = NERVE if b["nerve"] else VESSEL


def _draw_saphenous_vein(anat: ThighAnatomy, t: float, x: np.ndarray, y: np.ndarray, tissue: np.ndarray) -> None:
    """The great saphenous vein in the medial subcutaneous fat (in place)."""
    ang = np.deg2rad(178.0 + 8.0 * t)
    rs = float(anat.outer_radius(np.array(ang), t)) - anat.skin
    rf = float(anat.compartment_radius(np.array(ang), t)) + anat.fascia
    mid = 0.5 * (rs + rf)
    gsv = ((x - mid * np.cos(ang)) ** 2 + (y - mid * np.sin(ang)) ** 2 < min(2.2, 0.3 * (rs - rf)) ** 2)
    tissue[gsv & (tissue == SUBCUT_FAT)] = VESSEL


def muscle_depth(labels: np.ndarray, n_labels: int = len(MUSCLES)) -> np.ndarray:
    """Normalised depth of each muscle pixel: 0 at the muscle's border, 1 at its deepest pixel.

    Args:
        labels: Muscle labels ``(n, n)``, 0 = not muscle.
        n_labels: Number of muscle labels. Defaults to ``len(MUSCLES)``.

    Returns:
        ``(n, n)`` float32 depth, 0 outside muscle.
    """
    inner = labels > 0
    edge = np.zeros_like(inner)
    edge[:-1, :] |= labels[:-1, :] != labels[1:, :]
    edge[1:, :] |= labels[1:, :] != labels[:-1, :]
    edge[:, :-1] |= labels[:, :-1] != labels[:, 1:]
    edge[:, 1:] |= labels[:, 1:] != labels[:, :-1]
    dist = ndimage.distance_transform_edt(inner & ~edge).astype(np.float32) + inner
    dmax = np.ones(n_labels + 1, np.float32)
    present = np.unique(labels[inner])
    if present.size:
        dmax[present] = ndimage.maximum(dist, labels, present)
    dmax[dmax == 0] = 1.0
    return np.where(inner, dist / dmax[labels], 0.0).astype(np.float32)
