"""Per-patient statistics of the evaluation of Gadermayr et al., ISBI 2021.

Gadermayr et al., "An Asymmetric Cycle-Consistency Loss for Dealing with Many-to-One Mappings in Image
Translation: A Study on Thigh MR Scans", ISBI 2021, report the optimal two-threshold Dice (see
:mod:`mmac.evaluation.threshold_dice`) of the original and of the translated slice, averaged per patient,
as mean ± std over the patients of the groups 'moderate', 'severe' and 'pathological' (= both), compare
configurations with a paired two-sided Wilcoxon signed-rank test over patients, and give slice-level shares
of improved slices and of slices whose Dice rises or falls by more than 0.05. Beside the test's p-value this
module gives how large the difference is and how sure: the Hodges-Lehmann estimate with the confidence interval
that the same signed-rank test inverts (:func:`hodges_lehmann`), a t-interval of a mean over training units
(:func:`mean_interval`), and how many such units a mean of the measured size would need (:func:`seeds_needed`).

Records come as a list of dicts, a dict of columns, or a pandas DataFrame, with the keys ``subject``,
``group``, ``dice_original``, ``dice_translated`` and optionally ``run``, ``loss``, ``w_c``, ``fold`` and
``repetition``. Tables come back as pandas DataFrames.
"""
from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as _sps

__all__ = [
    "REQUIRED_KEYS",
    "OPTIONAL_KEYS",
    "SCORE_KEYS",
    "GROUPS",
    "to_frame",
    "per_patient",
    "group_summary",
    "WilcoxonResult",
    "paired_wilcoxon",
    "signed_rank_null",
    "ShiftInterval",
    "hodges_lehmann",
    "mean_interval",
    "seeds_needed",
    "slice_shares",
]

REQUIRED_KEYS = ("subject", "group", "dice_original", "dice_translated")
OPTIONAL_KEYS = ("run", "loss", "w_c", "fold", "repetition")
VALUE_KEYS = ("dice_original", "dice_translated")
# Per-slice scores the evaluation adds on the synthetic cohort (mmac.evaluation.metrics): against the true
# healthy counterpart (PSNR, SSIM, mmac.evaluation.faithfulness, the Dice of F(x) on the infiltration only) and
# the true and estimated fat fraction.
SCORE_KEYS = ("psnr", "ssim", "removal", "removal_heavy", "preservation", "preservation_blur", "bias_bright",
              "bias_dark", "dice_infiltration_only", "ff_true", "ff_est")
# Summary groups: each maps to the per-patient groups it pools.
GROUPS = {"moderate": ("moderate",), "severe": ("severe",), "pathological": ("moderate", "severe")}


def to_frame(records: pd.DataFrame | Mapping[str, Sequence[Any]] | Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """Per-slice records as a validated DataFrame.

    Args:
        records: A DataFrame, a dict of equally long columns, or an iterable of per-slice dicts, with at
            least the keys in :data:`REQUIRED_KEYS`.

    Returns:
        A new DataFrame, one row per slice, with float Dice columns.

    Raises:
        KeyError: If a required key is missing.
        ValueError: If there are no records or a Dice value is not finite or outside [0, 1].
    """
    if isinstance(records, pd.DataFrame):
        frame = records.copy()
    elif isinstance(records, Mapping):
        frame = pd.DataFrame(dict(records))
    else:
        frame = pd.DataFrame(list(records))
    if len(frame) == 0:
        raise ValueError("no records to aggregate")
    missing = [key for key in REQUIRED_KEYS if key not in frame.columns]
    if missing:
        raise KeyError(f"records lack the key(s) {missing}; required are {list(REQUIRED_KEYS)}, "
                       f"got {list(frame.columns)}")
    for key in VALUE_KEYS:
        values = pd.to_numeric(frame[key], errors="coerce").to_numpy(dtype=np.float64)
        bad = ~np.isfinite(values) | (values < 0) | (values > 1)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise ValueError(f"{key} must be a finite Dice in [0, 1]; record {row} has {frame[key].iloc[row]!r}")
        frame[key] = values
    return frame


def per_patient(records: pd.DataFrame | Mapping[str, Sequence[Any]] | Iterable[Mapping[str, Any]],
                by: Sequence[str] | None = None, columns: Sequence[str] = ()) -> pd.DataFrame:
    """Mean Dice per patient (and per run, when the records hold several).

    Args:
        records: Per-slice records, see :func:`to_frame`.
        by: Keys that separate independent evaluations (e.g. ``('loss', 'w_c', 'repetition')``); each
            patient is averaged within each combination. ``None`` uses the keys of :data:`OPTIONAL_KEYS`
            present in the records except ``fold`` (a patient is tested in one fold per repetition).
            Defaults to None.
        columns: Further per-slice values to average the same way (e.g. :data:`SCORE_KEYS`); NaN slices
            (a score a slice has too few pixels for) are left out of a patient's mean. Defaults to ().

    Returns:
        One row per (``*by``, subject) with the columns ``*by``, ``subject``, ``group``,
        ``dice_original``, ``dice_translated`` (means over the patient's slices), ``n_slices`` and then
        ``columns``; sorted by those keys.

    Raises:
        KeyError: If a key of ``by`` or a column is missing.
        ValueError: If a subject appears with more than one group.
    """
    frame = to_frame(records)
    if by is None:
        by = [key for key in OPTIONAL_KEYS if key in frame.columns and key != "fold"]
    by, columns = list(by), list(columns)
    missing = [key for key in by if key not in frame.columns]
    if missing:
        raise KeyError(f"by names key(s) {missing} that the records lack; they have {list(frame.columns)}")
    missing = [key for key in columns if key not in frame.columns]
    if missing:
        raise KeyError(f"columns names value(s) {missing} that the records lack; they have {list(frame.columns)}")
    groups_per_subject = frame.groupby("subject")["group"].nunique()
    if (groups_per_subject > 1).any():
        subject = groups_per_subject.index[groups_per_subject > 1][0]
        found = sorted(frame.loc[frame["subject"] == subject, "group"].unique())
        raise ValueError(f"subject {subject!r} appears with several groups {found}; a patient has one group")
    keys = by + ["subject", "group"]
    table = frame.groupby(keys, sort=True, dropna=False).agg(
        dice_original=("dice_original", "mean"),
        dice_translated=("dice_translated", "mean"),
        n_slices=("dice_original", "size"),
        **{column: (column, "mean") for column in columns},
    )
    return table.reset_index()


def group_summary(patients: pd.DataFrame, by: Sequence[str] | None = None,
                  columns: Sequence[str] = VALUE_KEYS, ddof: int = 1) -> pd.DataFrame:
    """Mean ± std over patients for 'moderate', 'severe' and 'pathological' (= moderate + severe).

    Args:
        patients: Per-patient table, one row per patient (and run), as returned by :func:`per_patient`.
        by: Keys that separate runs, summarised separately. ``None`` takes the :data:`OPTIONAL_KEYS`
            present except ``fold``. Defaults to None.
        columns: Value columns to summarise. Defaults to ``('dice_original', 'dice_translated')``.
        ddof: Delta degrees of freedom of the std (1: sample std; a single patient gives NaN).
            Defaults to 1.

    Returns:
        One row per (``*by``, summary group) with ``group``, ``n_patients`` and ``<column>_mean`` /
        ``<column>_std`` for each column. Summary groups without patients are left out.

    Raises:
        KeyError: If ``group``, a column or a key of ``by`` is missing.
    """
    if by is None:
        by = [key for key in OPTIONAL_KEYS if key in patients.columns and key != "fold"]
    by = list(by)
    missing = [key for key in by + ["group", *columns] if key not in patients.columns]
    if missing:
        raise KeyError(f"patients table lacks the column(s) {missing}; it has {list(patients.columns)}")
    rows = []
    runs = patients.groupby(by, sort=True, dropna=False) if by else [((), patients)]
    for run_key, run in runs:
        run_key = run_key if isinstance(run_key, tuple) else (run_key,)
        for name, members in GROUPS.items():
            part = run[run["group"].isin(members)]
            if len(part) == 0:
                continue
            row = dict(zip(by, run_key, strict=True))
            row.update(group=name, n_patients=len(part))
            for column in columns:
                values = part[column].to_numpy(dtype=np.float64)
                row[f"{column}_mean"] = float(values.mean())
                row[f"{column}_std"] = float(values.std(ddof=ddof)) if len(values) > ddof else float("nan")
            rows.append(row)
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class WilcoxonResult:
    """Result of :func:`paired_wilcoxon`.

    Attributes:
        statistic: scipy's two-sided statistic, ``min(W+, W-)`` over the non-zero differences.
        pvalue: Two-sided p-value.
        n: Number of pairs (patients).
        n_nonzero: Pairs with a non-zero difference (the ones ranked, zero_method 'wilcox').
        note: Empty, or why the p-value is a convention rather than a test (all differences zero).
    """

    statistic: float
    pvalue: float
    n: int
    n_nonzero: int
    note: str = ""


def _paired_differences(a, b, needs: str) -> np.ndarray:
    """``a - b`` as float64 of shape (n,), after checking that a and b are paired, non-empty and finite."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.ndim != 1 or a.shape != b.shape:
        raise ValueError(f"a and b must be 1-D of the same length (paired patients), got shapes {a.shape} "
                         f"and {b.shape}")
    if a.size == 0:
        raise ValueError(f"a and b are empty; {needs} needs at least one pair")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("a and b must be finite; found NaN or inf")
    return a - b


def paired_wilcoxon(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray) -> WilcoxonResult:
    """Paired two-sided Wilcoxon signed-rank test over patients, ``a`` against ``b``.

    Uses ``scipy.stats.wilcoxon(a, b, alternative='two-sided')`` with its defaults (zero differences are
    dropped, ``method='auto'``: the exact null distribution for small samples without ties or zeros, the
    normal approximation otherwise).

    When every difference is zero there is nothing to rank; instead of scipy's warning and NaN this returns
    ``statistic = 0.0``, ``pvalue = 1.0`` and a ``note`` saying so (no evidence of a difference).

    Args:
        a: Per-patient values of shape (n,), e.g. mean translated Dice of configuration A.
        b: Paired per-patient values of shape (n,), same patient order.

    Returns:
        The statistic, two-sided p-value, n and a note.

    Raises:
        ValueError: If the shapes differ, are not 1-D, are empty, or hold non-finite values.
    """
    diff = _paired_differences(a, b, "the test")
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    nonzero = int(np.count_nonzero(diff))
    if nonzero == 0:
        return WilcoxonResult(0.0, 1.0, int(a.size), 0,
                              "all paired differences are zero: no test possible, p-value set to 1.0")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*[Ss]ample size too small.*")
        result = _sps.wilcoxon(a, b, alternative="two-sided")
    return WilcoxonResult(float(result.statistic), float(result.pvalue), int(a.size), nonzero)


EXACT_MAX_N = 1000  # exact signed-rank null up to this many pairs (0.3 s at 1,000)


def signed_rank_null(n: int) -> np.ndarray:
    """Null distribution of the Wilcoxon signed-rank statistic W+ for ``n`` pairs without ties or zeros.

    Each of the ranks 1..n carries a + or a - with probability 1/2, independently; W+ is the sum of the ranks
    with a +. The probabilities are built rank by rank (adding rank r mixes the distribution half and half with
    itself shifted by r), so they stay finite for any n.

    Args:
        n: Number of pairs, >= 0.

    Returns:
        Probabilities of shape (n (n + 1) / 2 + 1,): entry t is P(W+ = t).
    """
    probs = np.zeros(n * (n + 1) // 2 + 1, dtype=np.float64)
    probs[0] = 1.0
    for rank in range(1, n + 1):  # rank carries + or - with probability 1/2: halve and add the shifted copy
        shifted = probs[:-rank].copy()
        probs *= 0.5
        probs[rank:] += 0.5 * shifted
    return probs


@dataclass(frozen=True)
class ShiftInterval:
    """How large a paired difference is, and how sure: an estimate with a confidence interval.

    Attributes:
        estimate: The point estimate (Hodges-Lehmann: the median of the Walsh averages; or a mean).
        low: Lower end of the interval; ``-inf`` when the sample is too small to bound it.
        high: Upper end; ``inf`` when the sample is too small to bound it.
        level: The confidence level the interval achieves (the exact signed-rank interval is discrete, so it
            achieves at least the level asked for, e.g. 0.961 for 0.95).
        n: Number of pairs (or units).
        method: ``'exact'`` (signed-rank null enumerated), ``'normal'`` (its normal approximation, more than
            :data:`EXACT_MAX_N` pairs), ``'t'`` (t-interval of a mean) or ``'none'`` (too few values).
    """

    estimate: float
    low: float
    high: float
    level: float
    n: int
    method: str


def _check_level(level: float) -> float:
    if isinstance(level, bool) or not isinstance(level, (int, float, np.floating)) or not 0 < level < 1:
        raise ValueError(f"level must be a number in (0, 1), e.g. 0.95; got {level!r}")
    return float(level)


def hodges_lehmann(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray,
                   level: float = 0.95) -> ShiftInterval:
    """Hodges-Lehmann estimate of the paired shift ``a - b`` and its signed-rank confidence interval.

    The estimate is the median of the n (n + 1) / 2 Walsh averages (d_i + d_j) / 2, i <= j, of the differences
    d = a - b. The interval [W_(c), W_(N + 1 - c)] (sorted Walsh averages, 1-based) holds every shift that the
    two-sided Wilcoxon signed-rank test at 1 - ``level`` would not reject: c is the largest integer with
    P(W+ <= c - 1) <= (1 - level) / 2 under the null. So, without ties or zero differences, it excludes 0
    exactly when the exact test's p-value is at most 1 - level. Up to :data:`EXACT_MAX_N` pairs the null is
    exact (:func:`signed_rank_null`); beyond it, c comes from the normal approximation with a continuity
    correction. Zero differences are kept
    (they are Walsh averages like any other). When even the widest interval does not reach the level (5 or
    fewer pairs for 0.95), the interval is unbounded: so few patients cannot bound the shift.

    Args:
        a: Per-patient values of shape (n,), e.g. the Dice with L_AC.
        b: Paired per-patient values of shape (n,), same patient order, e.g. the Dice with L_C.
        level: Confidence level in (0, 1). Defaults to 0.95.

    Returns:
        The estimate, the interval, the level it achieves, n and the method.

    Raises:
        ValueError: If the shapes differ, are not 1-D, are empty, hold non-finite values, or ``level`` is not
            in (0, 1).
    """
    level = _check_level(level)
    diff = _paired_differences(a, b, "an interval")
    n = diff.size
    upper = np.triu_indices(n)
    walsh = np.sort((diff[upper[0]] + diff[upper[1]]) / 2.0)
    total = walsh.size
    alpha = 1.0 - level
    if n <= EXACT_MAX_N:
        cdf = np.cumsum(signed_rank_null(n))           # cdf[t] = P(W+ <= t)
        c = int(np.searchsorted(cdf, alpha / 2 * (1 + 1e-12), side="right"))  # largest c: cdf[c - 1] <= alpha/2
        achieved = 1.0 - 2.0 * (float(cdf[c - 1]) if c > 0 else 0.0)
        method = "exact"
    else:
        z = float(_sps.norm.ppf(1.0 - alpha / 2))
        c = int(np.floor(n * (n + 1) / 4.0 + 0.5 - z * np.sqrt(n * (n + 1) * (2 * n + 1) / 24.0)))  # continuity
        achieved, method = level, "normal"
    if c <= 0:
        low, high = -np.inf, np.inf
    else:
        low, high = float(walsh[c - 1]), float(walsh[total - c])
    return ShiftInterval(float(np.median(walsh)), low, high, min(1.0, achieved), n, method)


def mean_interval(values: Sequence[float] | np.ndarray, level: float = 0.95) -> ShiftInterval:
    """Mean of ``values`` with its t-interval (e.g. L_AC - L_C over (fold, repetition) units).

    The interval is mean ± t_{(1 + level) / 2, n - 1} · s / sqrt(n) (scipy's ``ttest_1samp`` interval): it
    treats the values as independent draws of a roughly normal quantity. With one value there is no spread and
    the interval is unbounded (method ``'none'``).

    Args:
        values: Shape (n,), finite.
        level: Confidence level in (0, 1). Defaults to 0.95.

    Returns:
        The mean, the interval, ``level``, n and the method.

    Raises:
        ValueError: If ``values`` is empty, not 1-D or not finite, or ``level`` is not in (0, 1).
    """
    level = _check_level(level)
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1 or values.size == 0:
        raise ValueError(f"values must be 1-D and non-empty, got shape {values.shape}")
    if not np.isfinite(values).all():
        raise ValueError("values must be finite; found NaN or inf")
    mean = float(values.mean())
    if values.size == 1:
        return ShiftInterval(mean, -np.inf, np.inf, level, 1, "none")
    if np.ptp(values) == 0:  # no spread: the interval is the point itself (scipy would return NaN)
        return ShiftInterval(mean, mean, mean, level, int(values.size), "t")
    interval = _sps.ttest_1samp(values, 0.0).confidence_interval(confidence_level=level)
    return ShiftInterval(mean, float(interval.low), float(interval.high), level, int(values.size), "t")


def seeds_needed(values: Sequence[float] | np.ndarray, level: float = 0.95, limit: int = 1000) -> int | None:
    """How many units (e.g. training seeds) a mean like that of ``values`` needs before its t-interval
    (:func:`mean_interval`) leaves zero out: the smallest n >= 2 with t_{(1 + level) / 2, n - 1} · s / sqrt(n)
    < |mean|, taking the mean and the spread s (ddof 1) of ``values`` as the truth.

    A plug-in planning figure, not a guarantee: with few values the mean and the spread are themselves uncertain,
    and the true n may be far larger or smaller. With no spread two units suffice.

    Args:
        values: Shape (n,), n >= 2, finite: one number per unit (a seed's mean difference over its patients).
        level: Confidence level in (0, 1). Defaults to 0.95.
        limit: Largest n looked at. Defaults to 1000.

    Returns:
        That n, or None when the mean is zero or n would exceed ``limit``.

    Raises:
        ValueError: If ``values`` has fewer than two values, is not 1-D or not finite, ``level`` is not in
            (0, 1), or ``limit`` < 2.
    """
    level = _check_level(level)
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1 or values.size < 2:
        raise ValueError(f"values must be 1-D with at least two values, got shape {values.shape}")
    if not np.isfinite(values).all():
        raise ValueError("values must be finite; found NaN or inf")
    if limit < 2:
        raise ValueError(f"limit must be >= 2, got {limit}")
    mean, spread = abs(float(values.mean())), float(values.std(ddof=1))
    if mean == 0:
        return None
    n = np.arange(2, limit + 1)
    enough = _sps.t.ppf((1 + level) / 2, n - 1) * spread / np.sqrt(n) < mean
    return int(n[enough][0]) if enough.any() else None


def slice_shares(dice_original: Sequence[float] | np.ndarray, dice_translated: Sequence[float] | np.ndarray,
                 margin: float = 0.05) -> dict[str, float]:
    """Slice-level shares of the paper: improved, increased by more than ``margin``, decreased by more.

    Args:
        dice_original: Dice of the original slices, shape (n,).
        dice_translated: Dice of the translated slices, shape (n,).
        margin: The change that counts as large (strict ``>``). Defaults to 0.05.

    Returns:
        ``{'n': n, 'improved': share with translated > original, 'increased': share with translated -
        original > margin, 'decreased': share with original - translated > margin}``; shares in [0, 1].

    Raises:
        ValueError: If the shapes differ, are empty or hold non-finite values, or ``margin < 0``.
    """
    orig = np.asarray(dice_original, dtype=np.float64).ravel()
    trans = np.asarray(dice_translated, dtype=np.float64).ravel()
    if np.shape(dice_original) != np.shape(dice_translated):
        raise ValueError(f"dice_original and dice_translated must have the same shape, got "
                         f"{np.shape(dice_original)} and {np.shape(dice_translated)}")
    if orig.size == 0:
        raise ValueError("no slices given")
    if not (np.isfinite(orig).all() and np.isfinite(trans).all()):
        raise ValueError("Dice values must be finite; found NaN or inf")
    if margin < 0:
        raise ValueError(f"margin must be >= 0, got {margin}")
    change = trans - orig
    return {
        "n": int(orig.size),
        "improved": float(np.mean(change > 0)),
        "increased": float(np.mean(change > margin)),
        "decreased": float(np.mean(-change > margin)),
    }
