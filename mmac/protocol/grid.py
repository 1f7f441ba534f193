"""Run specifications of the paper's protocol: loss {L_C, L_AC} x w_c x folds x repetitions (no mmagic)."""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

from mmac._validate import check_choice

# The cycle loss config of each loss name, as a function of w_c (paper eqs. 2 and 3).
LOSSES = {
    'L_C': lambda w_c: dict(type='CycleConsistencyLoss', loss_weight=w_c),
    'L_AC': lambda w_c: dict(type='AsymmetricCycleLoss', loss_weight=w_c, domain='healthy'),
}


@dataclass(frozen=True, order=True)
class RunSpec:
    """One training + test run of the grid.

    Attributes:
        loss: ``'L_C'`` or ``'L_AC'``.
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
        check_choice(self.loss, LOSSES, "loss")
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

    def cycle_loss(self) -> dict:
        return LOSSES[self.loss](self.w_c)

    def to_dict(self) -> dict:
        return asdict(self)


def make_grid(losses: Sequence[str] = ('L_C', 'L_AC'), weights: Sequence[float] = (0.25, 0.5, 1.0),
              folds: Iterable[int] = range(5), repeats: int = 8) -> list[RunSpec]:
    """The runs of the grid, ordered so that each (fold, repetition) finishes all its settings together.

    Args:
        losses: Loss names, from ``'L_C'``, ``'L_AC'``.
        weights: Values of w_c.
        folds: Test folds to run.
        repeats: Repetitions per setting and fold.

    Raises:
        ValueError: Empty grid, unknown loss, non-positive weight, ``repeats < 1``, duplicates.
    """
    losses, weights, folds = list(losses), [float(w) for w in weights], list(folds)
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    if not losses or not weights or not folds:
        raise ValueError("the grid is empty: give at least one loss, weight and fold")
    for name, values in (('losses', losses), ('weights', weights), ('folds', folds)):
        if len(set(values)) != len(values):
            raise ValueError(f"duplicate {name}: {values}")
    return [RunSpec(loss, w, fold, rep) for rep in range(repeats) for fold in folds for w in weights
            for loss in losses]
