"""Patient-level, group-stratified k-fold cross-validation (no mmagic).

Gadermayr et al. evaluate by cross-validation over patients: all slices of one subject are either in the
training or in the test part of a fold, never both. Stratifying by group keeps the share of healthy, moderate
and severe subjects similar in every fold.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mmac._validate import check_int


def patient_kfold(subjects: Sequence[str], groups: Sequence[str], n_splits: int = 5,
                  seed: int = 0) -> list[tuple[list[str], list[str]]]:
    """Split subjects into ``n_splits`` folds, stratified by group.

    Each group's subjects are sorted by id, shuffled with ``seed`` and dealt round-robin to the test parts of
    the folds; dealing continues where the previous group stopped (groups in sorted order), so test parts differ
    in size by at most one and each group's count per fold by at most one. The result depends on the set of
    (subject, group) pairs and the seed, not on their order.

    Args:
        subjects: Subject ids, unique.
        groups: Group of each subject, same length as ``subjects``.
        n_splits: Number of folds, at least 2 and at most ``len(subjects)``. Defaults to 5.
        seed: Seed of the shuffle. Defaults to 0.

    Returns:
        ``n_splits`` pairs ``(train_ids, test_ids)``, ids in the order of ``subjects``. Every subject is in
        exactly one test part, and never in the train and test part of the same fold.

    Raises:
        TypeError: ``n_splits`` is not an integer (numpy integers are accepted, bools are not).
        ValueError: ``n_splits < 2``, more folds than subjects, length mismatch or duplicate subjects.
    """
    subjects, groups = list(subjects), list(groups)
    n_splits = check_int(n_splits, "n_splits", minimum=2)
    if len(subjects) != len(groups):
        raise ValueError(f"subjects and groups differ in length: {len(subjects)} vs {len(groups)}")
    if len(set(subjects)) != len(subjects):
        dup = sorted({s for s in subjects if subjects.count(s) > 1})
        raise ValueError(f"duplicate subject id(s): {dup}")
    if n_splits > len(subjects):
        raise ValueError(f"n_splits={n_splits} folds need at least {n_splits} subjects, got {len(subjects)}")

    rng = np.random.default_rng(seed)
    fold_of: dict[str, int] = {}
    slot = 0
    for group in sorted(set(groups)):
        members = sorted(s for s, g in zip(subjects, groups, strict=True) if g == group)
        for idx in rng.permutation(len(members)):
            fold_of[members[idx]] = slot % n_splits
            slot += 1
    return [([s for s in subjects if fold_of[s] != k], [s for s in subjects if fold_of[s] == k])
            for k in range(n_splits)]


def fold_subjects(subjects: Sequence[str], groups: Sequence[str], fold: int, n_splits: int = 5, seed: int = 0,
                  part: str = "test") -> list[str]:
    """The ``part`` (``'train'`` or ``'test'``) of fold ``fold`` of :func:`patient_kfold`, in ``subjects``' order.

    Raises:
        ValueError: ``part`` is neither, or ``fold`` is outside ``[0, n_splits)``; see :func:`patient_kfold`.
    """
    if part not in ("train", "test"):
        raise ValueError(f"part must be 'train' or 'test', got {part!r}")
    n_splits = check_int(n_splits, "n_splits", minimum=2)
    fold = check_int(fold, "fold", minimum=0, maximum=n_splits - 1)
    train, test = patient_kfold(subjects, groups, n_splits, seed)[fold]
    return train if part == "train" else test
