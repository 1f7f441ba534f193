from collections import Counter

import numpy as np
import pytest

from mmac.datasets.folds import patient_kfold

SUBJECTS = [f"s{i:02d}" for i in range(23)]
GROUPS = ["healthy"] * 10 + ["moderate"] * 8 + ["severe"] * 5


def test_every_subject_in_exactly_one_test_fold_and_disjoint():
    folds = patient_kfold(SUBJECTS, GROUPS, n_splits=5, seed=3)
    assert len(folds) == 5
    tests = [s for _, test in folds for s in test]
    assert sorted(tests) == sorted(SUBJECTS)  # union = all, no repeats
    for train, test in folds:
        assert not set(train) & set(test)
        assert sorted(train + test) == sorted(SUBJECTS)


def test_stratified_by_group():
    group_of = dict(zip(SUBJECTS, GROUPS, strict=True))
    for _, test in patient_kfold(SUBJECTS, GROUPS, n_splits=5, seed=1):
        counts = Counter(group_of[s] for s in test)
        assert counts["healthy"] == 2  # 10 / 5
        assert counts["moderate"] in (1, 2)  # 8 / 5
        assert counts["severe"] == 1  # 5 / 5
    sizes = [len(test) for _, test in patient_kfold(SUBJECTS, GROUPS, n_splits=5, seed=1)]
    assert max(sizes) - min(sizes) <= 1


def test_deterministic_and_seed_dependent():
    a = patient_kfold(SUBJECTS, GROUPS, n_splits=4, seed=7)
    assert a == patient_kfold(SUBJECTS, GROUPS, n_splits=4, seed=7)
    assert a != patient_kfold(SUBJECTS, GROUPS, n_splits=4, seed=8)


def test_independent_of_input_order():
    folds = patient_kfold(SUBJECTS, GROUPS, n_splits=3, seed=0)
    rev = patient_kfold(SUBJECTS[::-1], GROUPS[::-1], n_splits=3, seed=0)
    assert [sorted(t) for _, t in folds] == [sorted(t) for _, t in rev]


@pytest.mark.parametrize("n_splits", [1, 0, 24])
def test_bad_n_splits(n_splits):
    with pytest.raises(ValueError, match="n_splits"):
        patient_kfold(SUBJECTS, GROUPS, n_splits=n_splits)


def test_duplicate_and_length_mismatch():
    with pytest.raises(ValueError, match="duplicate"):
        patient_kfold(["a", "a", "b"], ["healthy"] * 3, n_splits=2)
    with pytest.raises(ValueError, match="length"):
        patient_kfold(["a", "b"], ["healthy"], n_splits=2)


def test_n_splits_numpy_integer_accepted_bool_and_float_rejected():
    folds = patient_kfold(SUBJECTS, GROUPS, n_splits=np.int64(3))
    assert len(folds) == 3 and folds == patient_kfold(SUBJECTS, GROUPS, n_splits=3)
    for bad in (True, 3.0):
        with pytest.raises(TypeError, match="n_splits must be an integer"):
            patient_kfold(SUBJECTS, GROUPS, n_splits=bad)


def test_fold_subjects_is_one_part_of_one_fold():
    from mmac.datasets.folds import fold_subjects

    subjects = [f"s{i}" for i in range(12)]
    groups = ["healthy"] * 6 + ["severe"] * 6
    folds = patient_kfold(subjects, groups, n_splits=3, seed=4)
    for k, (train, test) in enumerate(folds):
        assert fold_subjects(subjects, groups, k, n_splits=3, seed=4) == test
        assert fold_subjects(subjects, groups, k, n_splits=3, seed=4, part="train") == train
    with pytest.raises(ValueError, match="part must be 'train' or 'test'"):
        fold_subjects(subjects, groups, 0, n_splits=3, part="val")
    with pytest.raises(ValueError, match="fold must be <= 2"):
        fold_subjects(subjects, groups, 3, n_splits=3)
