"""Tests for mmac.evaluation.stats: hand-worked aggregates and an independent Wilcoxon computation."""
import itertools
import math

import numpy as np
import pandas as pd
import pytest

from mmac.evaluation.stats import group_summary, paired_wilcoxon, per_patient, slice_shares, to_frame


def records():
    # subject A (moderate): slices (0.5, 0.7), (0.7, 0.9) -> means 0.6, 0.8
    # subject B (moderate): one slice (0.4, 0.4)          -> 0.4, 0.4
    # subject C (severe):   slices (0.2, 0.6), (0.4, 0.6), (0.3, 0.6) -> 0.3, 0.6
    rows = [("A", "moderate", 0.5, 0.7), ("A", "moderate", 0.7, 0.9), ("B", "moderate", 0.4, 0.4),
            ("C", "severe", 0.2, 0.6), ("C", "severe", 0.4, 0.6), ("C", "severe", 0.3, 0.6)]
    return [dict(subject=s, group=g, dice_original=o, dice_translated=t) for s, g, o, t in rows]


def test_per_patient_means():
    table = per_patient(records())
    assert list(table["subject"]) == ["A", "B", "C"]
    np.testing.assert_allclose(table["dice_original"], [0.6, 0.4, 0.3])
    np.testing.assert_allclose(table["dice_translated"], [0.8, 0.4, 0.6])
    assert list(table["n_slices"]) == [2, 1, 3]


def test_per_patient_accepts_columns_and_separates_runs():
    recs = records()
    both = [dict(r, loss="ac") for r in recs] + [dict(r, loss="c", dice_translated=0.5) for r in recs]
    columns = {key: [r[key] for r in both] for key in both[0]}
    table = per_patient(columns)
    assert len(table) == 6 and list(table.columns[:2]) == ["loss", "subject"]
    np.testing.assert_allclose(table.loc[table["loss"] == "c", "dice_translated"], 0.5)


def test_per_patient_averages_score_columns_and_skips_nan_slices():
    recs = records()
    for r, removal in zip(recs, [0.2, 0.4, float("nan"), 0.1, float("nan"), 0.4]):
        r["removal"] = removal
    table = per_patient(recs, columns=["removal"])
    # A: (0.2 + 0.4) / 2; B: its one slice has no score; C: (0.1 + 0.4) / 2, the NaN slice left out
    np.testing.assert_allclose(table["removal"], [0.3, np.nan, 0.25])
    assert list(table["n_slices"]) == [2, 1, 3]
    with pytest.raises(KeyError, match="ssim"):
        per_patient(recs, columns=["ssim"])


def test_group_summary_hand_worked():
    summary = group_summary(per_patient(records())).set_index("group")
    # moderate: original {0.6, 0.4}: mean 0.5, sample std sqrt(((0.1)^2 + (0.1)^2) / 1) = 0.141421
    assert summary.loc["moderate", "n_patients"] == 2
    assert summary.loc["moderate", "dice_original_mean"] == pytest.approx(0.5)
    assert summary.loc["moderate", "dice_original_std"] == pytest.approx(math.sqrt(0.02))
    # severe: one patient -> std undefined (NaN with ddof=1)
    assert summary.loc["severe", "dice_translated_mean"] == pytest.approx(0.6)
    assert math.isnan(summary.loc["severe", "dice_translated_std"])
    # pathological: translated {0.8, 0.4, 0.6}: mean 0.6, sample std sqrt((0.04 + 0.04 + 0) / 2) = 0.2
    assert summary.loc["pathological", "n_patients"] == 3
    assert summary.loc["pathological", "dice_translated_mean"] == pytest.approx(0.6)
    assert summary.loc["pathological", "dice_translated_std"] == pytest.approx(0.2)


def test_subject_with_two_groups_raises():
    recs = records()
    recs[1]["group"] = "severe"
    with pytest.raises(ValueError, match="'A'.*several groups"):
        per_patient(recs)


def test_missing_key_and_bad_values_raise():
    with pytest.raises(KeyError, match="group"):
        to_frame([{"subject": "A", "dice_original": 0.1, "dice_translated": 0.2}])
    with pytest.raises(ValueError, match="dice_translated.*record 0"):
        to_frame([{"subject": "A", "group": "severe", "dice_original": 0.1, "dice_translated": float("nan")}])
    with pytest.raises(ValueError, match="no records"):
        to_frame([])


def exact_two_sided_p(diff):
    """Signed-rank null by enumerating all 2^n sign patterns (no zeros, no ties in |diff|)."""
    ranks = np.argsort(np.argsort(np.abs(diff))) + 1
    w_plus = ranks[diff > 0].sum()
    total = ranks.sum()
    observed = min(w_plus, total - w_plus)
    null = [sum(r for r, s in zip(ranks, signs) if s) for signs in itertools.product([0, 1], repeat=len(diff))]
    return observed, min(1.0, 2 * np.mean(np.array(null) <= observed))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_wilcoxon_matches_exact_enumeration(seed):
    rng = np.random.default_rng(seed)
    a = rng.uniform(0.5, 0.9, 9)
    b = a - rng.normal(0.03, 0.05, 9)
    statistic, p = exact_two_sided_p(a - b)
    result = paired_wilcoxon(a, b)
    assert result.n == result.n_nonzero == 9
    assert result.statistic == statistic
    assert result.pvalue == pytest.approx(p, rel=1e-12)


def test_wilcoxon_hand_worked():
    # differences 1, 2, 3, -4 (ranks 1..4): W+ = 6, W- = 4 -> statistic 4.
    # Null over 16 sign patterns: W+ <= 4 for {}, {1}, {2}, {3}, {1,2}, {1,3}, {4} -> 7/16; p = 14/16.
    result = paired_wilcoxon([1.0, 2.0, 3.0, 0.0], [0.0, 0.0, 0.0, 4.0])
    assert result.statistic == 4.0
    assert result.pvalue == pytest.approx(14 / 16)


def test_wilcoxon_large_sample_normal_approximation():
    rng = np.random.default_rng(5)
    diff = rng.normal(0.02, 0.05, 80)
    ranks = np.argsort(np.argsort(np.abs(diff))) + 1
    n = diff.size
    w_plus = ranks[diff > 0].sum()
    z = (w_plus - n * (n + 1) / 4) / math.sqrt(n * (n + 1) * (2 * n + 1) / 24)
    expected = math.erfc(abs(z) / math.sqrt(2))
    assert paired_wilcoxon(diff, np.zeros(n)).pvalue == pytest.approx(expected, rel=1e-9)


def test_wilcoxon_all_zero_differences():
    result = paired_wilcoxon([0.5, 0.6, 0.7], [0.5, 0.6, 0.7])
    assert (result.statistic, result.pvalue, result.n, result.n_nonzero) == (0.0, 1.0, 3, 0)
    assert "all paired differences are zero" in result.note


@pytest.mark.parametrize("a, b, match", [([1.0, 2.0], [1.0], "same length"), ([], [], "empty"),
                                         ([1.0, np.nan], [1.0, 2.0], "finite")])
def test_wilcoxon_errors(a, b, match):
    with pytest.raises(ValueError, match=match):
        paired_wilcoxon(a, b)


def test_slice_shares_hand_worked():
    # changes: +0.10, +0.02, -0.01, -0.20, 0.00 -> improved 2/5, increased (> 0.05) 1/5, decreased 1/5
    original = [0.50, 0.60, 0.70, 0.80, 0.40]
    translated = [0.60, 0.62, 0.69, 0.60, 0.40]
    shares = slice_shares(original, translated)
    assert shares == {"n": 5, "improved": 0.4, "increased": 0.2, "decreased": 0.2}


def test_slice_shares_errors():
    with pytest.raises(ValueError, match="same shape"):
        slice_shares([0.1, 0.2], [0.1])
    with pytest.raises(ValueError, match="margin"):
        slice_shares([0.1], [0.2], margin=-1)


def test_per_patient_accepts_dataframe():
    table = per_patient(pd.DataFrame(records()))
    assert len(table) == 3
