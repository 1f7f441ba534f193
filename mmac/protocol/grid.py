"""Run specifications of the paper's protocol: loss x w_c x folds x repetitions (no mmagic).

The losses are the paper's two, ``L_C`` and ``L_AC`` (:data:`LOSSES`), or any other cycle loss: a name that a
config defines in its top-level ``cycle_losses`` dict (``cycle_losses = dict(L_M=dict(type='MyCycleLoss',
margin=0.1))``), or the type name of a cycle loss registered in mmagic's ``MODELS``. Every run gets
``loss_weight = w_c`` unless the definition sets its own (:func:`cycle_loss_config`).
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass

# The cycle loss config of each of the paper's loss names, as a function of w_c (paper eqs. 2 and 3).
LOSSES = {
    'L_C': lambda w_c: dict(type='CycleConsistencyLoss', loss_weight=w_c),
    'L_AC': lambda w_c: dict(type='AsymmetricCycleLoss', loss_weight=w_c, domain='healthy'),
}
PAPER_LOSSES = tuple(LOSSES)
REFERENCE = 'L_C'  # what every other loss is compared against, unless a report names another
_LOSS_NAME = re.compile(r'[A-Za-z][A-Za-z0-9_]*')  # the name is part of run folders (L_AC_wc1_f0_r0)


def check_loss_name(name: object) -> str:
    """A loss name: letters, digits and underscores, starting with a letter (it names run folders).

    Raises:
        ValueError: Another name.
    """
    if not isinstance(name, str) or not _LOSS_NAME.fullmatch(name):
        raise ValueError(f"loss name {name!r} must be letters, digits and underscores, starting with a letter "
                         f"(e.g. L_AC, MyCycleLoss)")
    return name


def cycle_loss_config(loss: str, w_c: float, defined: Mapping[str, Mapping] | None = None) -> dict:
    """The ``model.cycle_loss`` config of a run of ``loss`` at cycle weight ``w_c``.

    Args:
        loss: One of :data:`LOSSES`, a key of ``defined``, or the type name of a registered cycle loss.
        w_c: The cycle weight; becomes ``loss_weight`` unless the definition sets one.
        defined: The config's ``cycle_losses``: ``{name: loss config}``. Defaults to None.

    Returns:
        A new dict, e.g. ``{'type': 'AsymmetricCycleLoss', 'loss_weight': 0.5, 'domain': 'healthy'}``.

    Raises:
        ValueError: A definition that is not a dict with a ``type``.
    """
    if loss in LOSSES:
        return LOSSES[loss](w_c)
    definition = (defined or {}).get(loss)
    if definition is None:
        return dict(type=loss, loss_weight=w_c)
    if not isinstance(definition, Mapping) or 'type' not in definition:
        raise ValueError(f"cycle_losses[{loss!r}] must be a loss config dict with a 'type', got {definition!r}")
    return {'loss_weight': w_c, **dict(definition)}


@dataclass(frozen=True, order=True)
class RunSpec:
    """One training + test run of the grid.

    Attributes:
        loss: The loss name: ``'L_C'``, ``'L_AC'`` or another cycle loss (see the module docstring).
        w_c: Cycle weight.
        fold: Test fold (0-based).
        repetition: Repetition index (0-based); sets the training seed, shared by both losses so that
            L_C and L_AC runs of the same fold and repetition are paired.
    """

    loss: str
    w_c: float
    fold: int
    repetition: int

    def __post_init__(self):
        check_loss_name(self.loss)
        if not self.w_c > 0:
            raise ValueError(f"w_c must be > 0, got {self.w_c}")
        if self.fold < 0 or self.repetition < 0:
            raise ValueError(f"fold and repetition must be >= 0, got {self.fold}, {self.repetition}")

    @property
    def name(self) -> str:
        """Directory-safe run id, e.g. ``L_AC_wc0.5_f2_r7``."""
        return f"{self.loss}_wc{self.w_c:g}_f{self.fold}_r{self.repetition}"

    @property
    def seed(self) -> int:
        """Training seed: depends on fold and repetition, not on the loss or w_c (paired runs)."""
        return 1000 * self.repetition + self.fold

    def cycle_loss(self, defined: Mapping[str, Mapping] | None = None) -> dict:
        """This run's ``model.cycle_loss`` (:func:`cycle_loss_config`), ``defined`` the config's ``cycle_losses``."""
        return cycle_loss_config(self.loss, self.w_c, defined)

    def to_dict(self) -> dict:
        return asdict(self)


def make_grid(losses: Sequence[str] = ('L_C', 'L_AC'), weights: Sequence[float] = (0.25, 0.5, 1.0),
              folds: Iterable[int] = range(5), repeats: int = 8,
              repetitions: Iterable[int] | None = None) -> list[RunSpec]:
    """The runs of the grid, ordered so that each (fold, repetition) finishes all its settings together.

    Args:
        losses: Loss names (see :class:`RunSpec`).
        weights: Values of w_c.
        folds: Test folds to run.
        repeats: Repetitions per setting and fold: repetitions ``0 .. repeats - 1``.
        repetitions: The repetition indices to run instead of ``range(repeats)`` (e.g. ``[1]``: a second
            training seed beside a finished repetition 0); each sets the training seed as in a full grid.

    Raises:
        ValueError: Empty grid, unknown loss, non-positive weight, ``repeats < 1``, a negative repetition,
            duplicates.
    """
    losses, weights, folds = list(losses), [float(w) for w in weights], list(folds)
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    reps = list(range(repeats)) if repetitions is None else [int(r) for r in repetitions]
    if any(r < 0 for r in reps):
        raise ValueError(f"repetitions must be >= 0, got {reps}")
    if not losses or not weights or not folds or not reps:
        raise ValueError("the grid is empty: give at least one loss, weight, fold and repetition")
    for name, values in (('losses', losses), ('weights', weights), ('folds', folds), ('repetitions', reps)):
        if len(set(values)) != len(values):
            raise ValueError(f"duplicate {name}: {values}")
    return [RunSpec(loss, w, fold, rep) for rep in reps for fold in folds for w in weights
            for loss in losses]
