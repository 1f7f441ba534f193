"""Cohort variations: the properties of a synthetic cohort that decide whether L_AC beats L_C, one knob each.

The default cohort is one point of a map; these knobs move it along one axis at a time (docs/results.md):

* **pathology variety** -- ``templates`` (which of the disease patterns of
  :data:`mmac.phantom.infiltration.TEMPLATES` subjects draw from), ``atrophy`` (a scale on the muscle lost to
  atrophy, 0 = none), ``severe_ff`` (the range of the severe group's target mean fat fraction, its spread) and
  ``texture`` (``'patches'``: fat as sharply thresholded smooth noise instead of the Mercuri-graded patterns, see
  :mod:`mmac.phantom.infiltration`);
* **anatomy complexity** -- ``anatomy='compartments'`` merges the 13 muscles into the thigh's three fascial
  compartments (anterior, medial, posterior): three labels, septa only between compartments, one involvement
  per compartment;
* **correlation of the slices within a subject** -- ``independent_slices=True`` draws every slice of a subject
  as its own one-slice subject (new anatomy, infiltration, textures and acquisition) at a random level of the
  thigh, so a subject's slices are as unrelated as slices of different subjects. The number of distinct subjects
  at a fixed number of slices is the make-up itself (``healthy``/``moderate``/``severe`` x ``slices``).

A variation holds only plain values, so a cohort's settings (``cohort.json``) record it as keyword arguments of
:func:`mmac.phantom.cohort.make_cohort`; the defaults reproduce the default cohort exactly.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import numpy as np

from mmac._validate import check_choice, check_real
from mmac.phantom.anatomy import MUSCLES
from mmac.phantom.infiltration import TARGET_FF, TEMPLATES, TEXTURES

ANATOMIES: tuple[str, ...] = ("muscles", "compartments")
# The thigh's three fascial compartments; each is drawn as one muscle, its label that of the first name.
COMPARTMENTS: dict[str, tuple[str, ...]] = {
    "anterior": ("vastus_lateralis", "rectus_femoris", "vastus_medialis", "vastus_intermedius", "sartorius"),
    "medial": ("adductor_magnus", "gracilis", "adductor_longus", "adductor_brevis"),
    "posterior": ("semimembranosus", "semitendinosus", "biceps_femoris_long_head", "biceps_femoris_short_head"),
}


@dataclass(frozen=True)
class Variation:
    """How a cohort departs from the default one (every default reproduces the default cohort).

    Attributes:
        templates: Disease templates subjects draw from, names of :data:`~mmac.phantom.infiltration.TEMPLATES`.
        atrophy: Scale on the depth of muscle lost to atrophy, >= 0 (0: no atrophy, 1: the default).
        severe_ff: ``(low, high)`` of the severe group's target mean fat fraction, 0 <= low <= high < 0.92.
        anatomy: ``'muscles'`` (13 muscles) or ``'compartments'`` (3 compartments, see :data:`COMPARTMENTS`).
        independent_slices: Every slice its own subject (no correlation along z within a subject).
        texture: In-muscle appearance of the fat, one of :data:`~mmac.phantom.infiltration.TEXTURES`
            (``'mercuri'``: the default patterns; ``'patches'``: thresholded smooth noise).
    """

    templates: tuple[str, ...] = tuple(TEMPLATES)
    atrophy: float = 1.0
    severe_ff: tuple[float, float] = TARGET_FF["severe"]
    anatomy: str = "muscles"
    independent_slices: bool = False
    texture: str = "mercuri"

    def __post_init__(self) -> None:
        templates = tuple(self.templates)
        if not templates:
            raise ValueError(f"templates must name at least one of {tuple(TEMPLATES)}, got none")
        for name in templates:
            check_choice(name, TEMPLATES, "templates")
        object.__setattr__(self, "templates", templates)
        object.__setattr__(self, "atrophy", check_real(self.atrophy, "atrophy", minimum=0.0))
        low, high = (check_real(v, "severe_ff") for v in tuple(self.severe_ff))
        if not 0.0 <= low <= high < 0.92:
            raise ValueError(f"severe_ff must be (low, high) with 0 <= low <= high < 0.92, got {self.severe_ff!r}")
        object.__setattr__(self, "severe_ff", (low, high))
        check_choice(self.anatomy, ANATOMIES, "anatomy")
        if not isinstance(self.independent_slices, bool):
            raise TypeError(f"independent_slices must be a bool, got {self.independent_slices!r}")
        check_choice(self.texture, TEXTURES, "texture")

    @classmethod
    def from_kwargs(cls, **kwargs) -> Variation:
        """A variation from keyword arguments (lists accepted for tuples, as JSON gives them).

        Raises:
            ValueError: A keyword that is not a field (the message lists the fields) or a bad value.
        """
        names = [f.name for f in fields(cls)]
        unknown = sorted(set(kwargs) - set(names))
        if unknown:
            raise ValueError(f"unknown cohort variation {unknown}; allowed: {names}")
        for key in ("templates", "severe_ff"):
            if key in kwargs and isinstance(kwargs[key], list):
                kwargs[key] = tuple(kwargs[key])
        return cls(**kwargs)

    def changes(self) -> dict[str, object]:
        """The fields that differ from the default, as JSON-ready values (lists for tuples)."""
        default = asdict(Variation())
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items() if v != default[k]}

    @property
    def is_default(self) -> bool:
        return not self.changes()

    def label_map(self) -> np.ndarray | None:
        """Label -> drawn label, ``(len(MUSCLES) + 1,)`` int16, or None for the 13-muscle anatomy."""
        if self.anatomy == "muscles":
            return None
        mapping = np.arange(len(MUSCLES) + 1, dtype=np.int16)
        for members in COMPARTMENTS.values():
            for name in members:
                mapping[MUSCLES.index(name) + 1] = MUSCLES.index(members[0]) + 1
        return mapping


DEFAULT = Variation()
