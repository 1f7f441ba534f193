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
    for r, removal in zip(recs, [0.2, 0.4, float("nan"), 0.1, float("nan"), 0.4], strict=True):
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
    null = [sum(r for r, s in zip(ranks, signs, strict=True) if s)
            for signs in itertools.product([0, 1], repeat=len(diff))]
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


# --- how large and how sure: the signed-rank null, Hodges-Lehmann intervals, t-intervals of a mean ---

def _brute_null(n):
    """P(W+ = t) by enumerating all 2^n sign patterns of the ranks 1..n."""
    sums = [sum(r for r, s in zip(range(1, n + 1), signs, strict=True) if s)
            for signs in itertools.product([0, 1], repeat=n)]
    return np.bincount(sums, minlength=n * (n + 1) // 2 + 1) / 2 ** n


@pytest.mark.parametrize("n", [0, 1, 2, 5, 9, 12])
def test_signed_rank_null_matches_enumeration(n):
    from mmac.evaluation.stats import signed_rank_null

    np.testing.assert_allclose(signed_rank_null(n), _brute_null(n), rtol=0, atol=1e-15)


def test_hodges_lehmann_hand_worked():
    from mmac.evaluation.stats import hodges_lehmann

    # d = 1, 2, 4, -3, 6, 5 (n = 6). Walsh averages (21): the 6 values and the 15 pairwise means
    # 1.5 2.5 -1 3.5 3 | 3 0.5 4 3.5 | 0.5 5 4.5 | 1.5 1 | 5.5  -> sorted, the 11th of 21 is 3.0.
    # n = 6: P(W+ <= 0) = 1/64 <= 0.025 < P(W+ <= 1) = 2/64, so c = 1: [W_(1), W_(21)] = [-3, 6], level 62/64.
    d = np.array([1.0, 2.0, 4.0, -3.0, 6.0, 5.0])
    result = hodges_lehmann(d, np.zeros(6))
    assert result.estimate == 3.0
    assert (result.low, result.high) == (-3.0, 6.0)
    assert result.level == pytest.approx(62 / 64)
    assert (result.n, result.method) == (6, "exact")
    # five pairs cannot reach 95 %: the smallest two-sided p is 2/32 = 0.0625
    five = hodges_lehmann(d[:5], np.zeros(5))
    assert five.low == -np.inf and five.high == np.inf and five.level == 1.0


def test_hodges_lehmann_textbook_example():
    """Hollander & Wolfe (1973), p. 29: Hamilton depression scale before (x) and after (y) a tranquilizer, the
    example of R's wilcox.test documentation, which gives V = 40, p = 0.03906, the (pseudo)median 0.46 and the
    95 % interval 0.010 to 0.786."""
    from mmac.evaluation.stats import hodges_lehmann

    x = [1.83, 0.50, 1.62, 2.48, 1.68, 1.88, 1.55, 3.06, 1.30]
    y = [0.878, 0.647, 0.598, 2.05, 1.06, 1.29, 1.06, 3.14, 1.29]
    result = hodges_lehmann(x, y)
    assert result.estimate == pytest.approx(0.46)
    assert (result.low, result.high) == (pytest.approx(0.010), pytest.approx(0.786))
    assert paired_wilcoxon(x, y).pvalue == pytest.approx(0.0390625)


def _walsh_brute(d):
    return sorted((d[i] + d[j]) / 2 for i in range(len(d)) for j in range(i, len(d)))


@pytest.mark.parametrize("seed", range(6))
def test_hodges_lehmann_estimate_is_median_of_walsh_averages(seed):
    from mmac.evaluation.stats import hodges_lehmann

    rng = np.random.default_rng(seed)
    n = int(rng.integers(6, 30))
    a, b = rng.uniform(0.6, 0.9, n), rng.uniform(0.6, 0.9, n)
    assert hodges_lehmann(a, b).estimate == pytest.approx(float(np.median(_walsh_brute(a - b))), abs=1e-15)


def test_hodges_lehmann_interval_inverts_the_exact_wilcoxon_test():
    """0 lies outside the 95 % interval exactly when scipy's exact signed-rank test gives p <= 0.05."""
    from scipy import stats

    from mmac.evaluation.stats import hodges_lehmann

    rng = np.random.default_rng(11)
    agree = 0
    for _ in range(300):
        n = int(rng.integers(6, 21))
        d = rng.normal(rng.uniform(-0.02, 0.02), 0.02, n)
        result = hodges_lehmann(d, np.zeros(n))
        p = stats.wilcoxon(d, method="exact").pvalue
        excluded = not (result.low <= 0.0 <= result.high)
        assert excluded == (p <= 0.05), (n, p, result)
        agree += excluded
    assert 30 < agree < 270  # both outcomes were exercised


def test_hodges_lehmann_interval_ends_are_where_the_test_turns():
    """Shifting the data by a value just inside an end keeps p > 0.05; just outside gives p <= 0.05."""
    from scipy import stats

    from mmac.evaluation.stats import hodges_lehmann

    rng = np.random.default_rng(3)
    d = rng.normal(0.01, 0.02, 13)
    result = hodges_lehmann(d, np.zeros(13))
    gaps = np.diff(np.sort(_walsh_brute(d)))
    eps = float(gaps[gaps > 0].min()) / 4
    for end, inward in [(result.low, eps), (result.high, -eps)]:
        assert stats.wilcoxon(d - (end + inward), method="exact").pvalue > 0.05
        assert stats.wilcoxon(d - (end - inward), method="exact").pvalue <= 0.05


def test_hodges_lehmann_coverage_by_simulation():
    from mmac.evaluation.stats import hodges_lehmann

    rng = np.random.default_rng(0)
    shift, n, trials = 0.01, 13, 1500
    covered = 0
    for _ in range(trials):
        d = shift + rng.standard_t(4, n) * 0.01  # symmetric, heavy-tailed
        r = hodges_lehmann(d, np.zeros(n))
        covered += r.low <= shift <= r.high
    level = hodges_lehmann(np.arange(1.0, 14.0), np.zeros(13)).level
    assert 0.95 <= level < 0.96
    assert abs(covered / trials - level) < 3 * np.sqrt(level * (1 - level) / trials)


def test_hodges_lehmann_normal_path_close_to_exact():
    from mmac.evaluation.stats import EXACT_MAX_N, hodges_lehmann, signed_rank_null

    rng = np.random.default_rng(1)
    n = EXACT_MAX_N + 10
    d = rng.normal(0.005, 0.02, n)
    approx = hodges_lehmann(d, np.zeros(n))
    assert approx.method == "normal" and approx.level == 0.95
    walsh = np.sort((d[:, None] + d[None, :])[np.triu_indices(n)] / 2)
    c = int(np.sum(np.cumsum(signed_rank_null(n)) <= 0.025))  # exact, still finite at this n
    # the normal approximation's c is within two ranks of the exact one
    assert min(abs(approx.low - walsh[c - 1 + k]) for k in (-2, -1, 0, 1, 2)) == 0.0


def test_signed_rank_null_matches_a_plain_recursion_at_60():
    from mmac.evaluation.stats import signed_rank_null

    np.testing.assert_allclose(signed_rank_null(60), _brute_null_dp(60), rtol=1e-12, atol=1e-300)


def _brute_null_dp(n):
    """The signed-rank null for larger n by a plain dictionary recursion (independent of the vectorised one)."""
    counts = {0: 1}
    for r in range(1, n + 1):
        new = dict(counts)
        for t, c in counts.items():
            new[t + r] = new.get(t + r, 0) + c
        counts = new
    total = 2 ** n
    return np.array([counts.get(t, 0) / total for t in range(n * (n + 1) // 2 + 1)])


def test_seeds_needed_from_tabled_t_values():
    """[1, 3]: mean 2, s = sqrt(2). Tabled t_{0.975, n-1} = 12.706, 4.303, 3.182, 2.776 for n = 2..5, so
    t · s / sqrt(n) = 12.71, 3.51, 2.25, 1.76: n = 5 is the first below 2."""
    from mmac.evaluation.stats import seeds_needed

    assert seeds_needed([1.0, 3.0]) == 5
    assert seeds_needed([-1.0, -3.0]) == 5  # the sign does not matter
    assert seeds_needed([1.0, 3.0], limit=4) is None
    assert seeds_needed([0.5, 0.5, 0.5]) == 2  # no spread
    assert seeds_needed([-1.0, 1.0]) is None  # mean zero
    # level 0.90: tabled t_{0.95, n-1} = 6.314, 2.920, 2.353 -> 6.31, 2.38, 1.66: n = 4
    assert seeds_needed([1.0, 3.0], level=0.90) == 4
    for bad in ([1.0], [[1.0, 2.0]], [1.0, np.nan]):
        with pytest.raises(ValueError, match="values"):
            seeds_needed(bad)
    with pytest.raises(ValueError, match="limit"):
        seeds_needed([1.0, 3.0], limit=1)


def test_mean_interval_hand_formula():
    from scipy import stats

    from mmac.evaluation.stats import mean_interval

    units = np.array([0.01, 0.02, -0.005, 0.012])
    m, s = units.mean(), units.std(ddof=1)
    half = stats.t.ppf(0.975, 3) * s / 2.0  # sqrt(4) = 2
    result = mean_interval(units)
    assert result.estimate == pytest.approx(m)
    assert (result.low, result.high) == (pytest.approx(m - half), pytest.approx(m + half))
    assert (result.n, result.method, result.level) == (4, "t", 0.95)
    one = mean_interval([0.3])
    assert (one.low, one.high, one.method) == (-np.inf, np.inf, "none")
    flat = mean_interval([0.2, 0.2, 0.2])
    assert flat.low == flat.high == pytest.approx(0.2)


@pytest.mark.parametrize("call, match", [
    (lambda f: f([1.0, 2.0], [1.0]), "same length"),
    (lambda f: f([], []), "empty"),
    (lambda f: f([1.0, np.inf], [1.0, 2.0]), "finite"),
    (lambda f: f([1.0, 2.0], [1.0, 2.0], level=1.0), "level"),
    (lambda f: f([1.0, 2.0], [1.0, 2.0], level=True), "level"),
])
def test_hodges_lehmann_errors(call, match):
    from mmac.evaluation.stats import hodges_lehmann

    with pytest.raises(ValueError, match=match):
        call(hodges_lehmann)


def test_mean_interval_errors():
    from mmac.evaluation.stats import mean_interval

    for values, match in [([], "non-empty"), ([[1.0, 2.0]], "1-D"), ([1.0, np.nan], "finite")]:
        with pytest.raises(ValueError, match=match):
            mean_interval(values)
    with pytest.raises(ValueError, match="level"):
        mean_interval([1.0, 2.0], level=0)
