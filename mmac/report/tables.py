"""Table 1, p-values, slice shares and phantom scores of a cross-validation (Gadermayr et al., ISBI 2021).

Gadermayr et al., "An Asymmetric Cycle-Consistency Loss for Dealing with Many-to-One Mappings in Image
Translation: A Study on Thigh MR Scans" (ISBI 2021), Table 1: mean ± std over patients of the per-patient
mean optimal two-threshold Dice of the muscle, for the groups 'Moderate', 'Severe' and 'Pathological' (both),
on the original slices (c) and on slices translated with the symmetric cycle loss L_C (b) and the asymmetric
loss L_AC (a), for each cycle weight w_c.

Input: ``results.csv`` of ``tools/cross_validate.py``, one row per test slice per run (see
:data:`REQUIRED_COLUMNS`; phantom runs add ``psnr``, ``ssim``, ``ff_true``, ``ff_est``).

Repetitions: the paper repeats every experiment (8 times). A patient's Dice is first averaged over its slices
within each run (:func:`mmac.evaluation.stats.per_patient`), then over the repetitions of the same setting
(loss, w_c), so that each patient counts once per setting; mean ± std (sample std, ddof=1) are then taken over
patients (:func:`mmac.evaluation.stats.group_summary`). The original column uses ``dice_original``, the same
in every run for a given slice; it is averaged the same way over all runs.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from mmac.evaluation.stats import (
    VALUE_KEYS,
    group_summary,
    hodges_lehmann,
    mean_interval,
    paired_wilcoxon,
    per_patient,
    slice_shares,
)
from mmac.protocol.grid import REFERENCE

__all__ = ["REQUIRED_COLUMNS", "PHANTOM_COLUMNS", "ROW_LABELS", "LOSS_ORDER", "read_results", "check_results",
           "patient_table", "table1", "format_table1", "pvalues", "slice_share_table", "phantom_truth",
           "setting_label", "has_scores", "has_phantom_truth", "loss_difference_spread", "coverage_table",
           "healthy_change_table", "healthy_change_difference", "run_table", "seed_table"]

REQUIRED_COLUMNS = ("run", "loss", "w_c", "fold", "repetition", "subject", "group", "slice", "dice_original",
                    "dice_translated")
PHANTOM_COLUMNS = ("psnr", "ssim", "ff_true", "ff_est")
# mmac.evaluation.faithfulness; only in runs made since each score was added (older results.csv lack them)
FAITHFULNESS_COLUMNS = ("removal", "removal_heavy", "preservation", "preservation_blur", "bias_bright", "bias_dark",
                        "dice_infiltration_only")
ROW_LABELS = {"moderate": "Moderate", "severe": "Severe", "pathological": "Pathological"}
LOSS_ORDER = ("L_C", "L_AC")  # the paper's columns (b), (a); other losses follow by name
PAPER_LETTER = {"L_AC": "a", "L_C": "b", "original": "c"}
CI_LEVEL = 0.95  # the confidence level of every interval in the tables


def setting_label(loss: str, w_c: float) -> str:
    """``'L_AC (a), w_c=1'`` style column label."""
    letter = PAPER_LETTER.get(loss)
    return f"{loss}{f' ({letter})' if letter else ''}, w_c={w_c:g}"


def check_results(results: pd.DataFrame, source: str = "results") -> pd.DataFrame:
    """Validate a results frame and normalise its dtypes.

    Raises:
        ValueError: Missing columns, no rows, a group other than moderate/severe.
    """
    missing = [c for c in REQUIRED_COLUMNS if c not in results.columns]
    if missing:
        raise ValueError(f"{source}: missing column(s) {', '.join(missing)}; required: {', '.join(REQUIRED_COLUMNS)}"
                         f" (got {', '.join(map(str, results.columns))})")
    if len(results) == 0:
        raise ValueError(f"{source}: no rows")
    frame = results.copy()
    frame["loss"] = frame["loss"].astype(str)
    frame["group"] = frame["group"].astype(str)
    frame["subject"] = frame["subject"].astype(str)
    frame["w_c"] = pd.to_numeric(frame["w_c"], errors="raise").astype(float)
    bad = sorted(set(frame["group"]) - {"moderate", "severe"})
    if bad:
        raise ValueError(f"{source}: unknown group(s) {bad}; results hold pathological test slices, groups "
                         "'moderate' and 'severe'")
    return frame


def read_results(path: str | Path) -> pd.DataFrame:
    """Read and validate ``results.csv``.

    Raises:
        FileNotFoundError: The file does not exist.
        ValueError: See :func:`check_results`.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"results file not found: {path} (written by tools/cross_validate.py)")
    return check_results(pd.read_csv(path), str(path))


def has_scores(results: pd.DataFrame, *columns: str) -> bool:
    """Whether the results carry each of ``columns`` with at least one value (older runs lack newer scores)."""
    return all(c in results.columns and results[c].notna().any() for c in columns)


def has_phantom_truth(results: pd.DataFrame) -> bool:
    """Whether the results carry the phantom's PSNR/SSIM/fat-fraction columns with values."""
    return has_scores(results, *PHANTOM_COLUMNS)


def _loss_order(losses) -> list[str]:
    return [loss for loss in LOSS_ORDER if loss in set(losses)] + sorted(set(losses) - set(LOSS_ORDER))


def comparisons(losses, reference: str = REFERENCE) -> list[tuple[str, str]]:
    """``(loss, reference)`` for every loss of ``losses`` but the reference, in the report's order (the paper's
    L_AC first, then the others by name); [] when ``losses`` lacks the reference.

    Args:
        losses: The loss names of the results.
        reference: The loss every other one is compared against. Defaults to ``'L_C'``.
    """
    losses = set(losses)
    if reference not in losses:
        return []
    return [(loss, reference) for loss in _loss_order(losses) if loss != reference]


def _by_setting_and_group(frame: pd.DataFrame):
    """Yield ``(loss, w_c, group label, rows)`` per w_c, loss (in LOSS_ORDER) and non-empty summary group."""
    from mmac.evaluation.stats import GROUPS

    for w_c in sorted(frame["w_c"].unique()):
        for loss in _loss_order(frame["loss"].unique()):
            part = frame[(frame["loss"] == loss) & (frame["w_c"] == w_c)]
            for name, members in GROUPS.items():
                sub = part[part["group"].isin(members)]
                if len(sub):
                    yield loss, float(w_c), ROW_LABELS[name], sub


def patient_table(results: pd.DataFrame, columns: Sequence[str] = ()) -> pd.DataFrame:
    """Per-patient Dice per setting, averaged over slices within a run, then over repetitions.

    Args:
        results: Validated results (:func:`check_results`).
        columns: Extra per-slice columns to average the same way (e.g. ``'psnr'``). Defaults to ().

    Returns:
        One row per (loss, w_c, subject) with ``group``, ``dice_original``, ``dice_translated``,
        ``n_repetitions`` and the extra columns.
    """
    # slice means within each run
    patients = per_patient(results, by=["loss", "w_c", "repetition"], columns=columns)
    keys = ["loss", "w_c", "subject", "group"]
    agg = {c: (c, "mean") for c in ("dice_original", "dice_translated", *columns)}
    agg["n_repetitions"] = ("repetition", "nunique")
    return patients.groupby(keys, sort=True).agg(**agg).reset_index()


def table1(results: pd.DataFrame) -> pd.DataFrame:
    """Table 1 in long form: one row per (summary group, setting).

    Returns:
        Columns ``group`` ('Moderate', 'Severe', 'Pathological'), ``setting`` ('original' or the loss),
        ``w_c`` (NaN for 'original'), ``column`` (the paper-layout column label), ``mean``, ``std`` (over
        patients, ddof=1), ``n_patients``. Order: groups as in the paper; original first, then per w_c
        L_C, L_AC.
    """
    patients = patient_table(results)
    rows = []
    original = patients.groupby(["subject", "group"], sort=True)["dice_original"].mean().reset_index()
    for _, r in group_summary(original, by=[], columns=["dice_original"]).iterrows():
        rows.append(dict(group=ROW_LABELS[r["group"]], setting="original", w_c=np.nan, column="Original (c)",
                         mean=r["dice_original_mean"], std=r["dice_original_std"], n_patients=r["n_patients"]))
    summary = group_summary(patients, by=["loss", "w_c"], columns=["dice_translated"])
    for w_c in sorted(summary["w_c"].unique()):
        for loss in _loss_order(summary["loss"]):
            part = summary[(summary["loss"] == loss) & (summary["w_c"] == w_c)]
            for _, r in part.iterrows():
                rows.append(dict(group=ROW_LABELS[r["group"]], setting=loss, w_c=float(w_c),
                                 column=setting_label(loss, w_c), mean=r["dice_translated_mean"],
                                 std=r["dice_translated_std"], n_patients=r["n_patients"]))
    table = pd.DataFrame(rows)
    table["n_patients"] = table["n_patients"].astype(int)
    order = {label: i for i, label in enumerate(ROW_LABELS.values())}
    table["_g"] = table["group"].map(order)
    table["_c"] = table["column"].map({c: i for i, c in enumerate(dict.fromkeys(table["column"]))})
    return table.sort_values(["_g", "_c"]).drop(columns=["_g", "_c"]).reset_index(drop=True)


def _fmt(mean: float, std: float, digits: int) -> str:
    if np.isnan(std):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def format_table1(long: pd.DataFrame, digits: int = 3) -> pd.DataFrame:
    """The paper's layout: rows Moderate / Severe / Pathological, one ``mean ± std`` column per setting."""
    cells = long.assign(cell=[_fmt(m, s, digits) for m, s in zip(long["mean"], long["std"], strict=True)])
    wide = cells.pivot(index="group", columns="column", values="cell")
    rows = [g for g in ROW_LABELS.values() if g in wide.index]
    columns = list(dict.fromkeys(long["column"]))
    wide = wide.loc[rows, columns]
    wide.index.name = "Group"
    wide.columns.name = None
    return wide.fillna("–")


def _paired(a: pd.DataFrame, b: pd.DataFrame, comparison: str, w_c: float, rows: list) -> None:
    """Wilcoxon of ``a`` (columns subject, group, value) against ``b`` (subject, value), per summary group."""
    from mmac.evaluation.stats import GROUPS

    pairs = a.merge(b, on="subject", suffixes=("_a", "_b"))
    for name, members in GROUPS.items():
        part = pairs[pairs["group"].isin(members)]
        if len(part) == 0:
            continue
        va, vb = part["value_a"].to_numpy(float), part["value_b"].to_numpy(float)
        test = paired_wilcoxon(va, vb)
        shift = hodges_lehmann(va, vb, level=CI_LEVEL)
        rows.append(dict(comparison=comparison, w_c=w_c, group=ROW_LABELS[name], n_patients=test.n,
                         n_nonzero=test.n_nonzero, mean_difference=float(np.mean(va - vb)),
                         shift=shift.estimate, ci_low=shift.low, ci_high=shift.high,
                         statistic=test.statistic, pvalue=test.pvalue, note=test.note))


def _paired_runs(runs: pd.DataFrame, loss: str, reference: str) -> pd.DataFrame:
    """``loss``'s rows of ``runs`` (per patient and repetition, at one w_c) beside the ``reference``'s of the same
    patient and repetition (its columns suffixed ``_ref``); patients and repetitions one of them lacks are left
    out."""
    return runs[runs["loss"] == loss].merge(runs[runs["loss"] == reference], on=["subject", "repetition"],
                                            suffixes=("", "_ref"))


def _shared_repetitions(runs: pd.DataFrame, loss: str, reference: str,
                        columns: Sequence[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-patient means of ``loss`` and of ``reference`` over the repetitions both have for that patient.

    Args:
        runs: :func:`mmac.evaluation.stats.per_patient` by loss, w_c and repetition, at one w_c.
        loss, reference: The two losses.
        columns: The per-patient columns to average.

    Returns:
        Two frames (columns ``subject``, ``group``, ``*columns``) with the same subjects in the same order: a
        patient that one loss has more repetitions of than the other is compared on the shared ones only, so
        that the difference is never between training seeds.
    """
    pairs = _paired_runs(runs, loss, reference)
    means = pairs.groupby(["subject", "group"], sort=True)[
        [*columns, *(f"{c}_ref" for c in columns)]].mean().reset_index()
    mine = means[["subject", "group", *columns]]
    theirs = means[["subject", "group", *(f"{c}_ref" for c in columns)]].rename(
        columns={f"{c}_ref": c for c in columns})
    return mine, theirs


def pvalues(results: pd.DataFrame, reference: str = REFERENCE) -> pd.DataFrame:
    """Paired two-sided Wilcoxon signed-rank tests over patients, per w_c and group.

    Comparisons: every loss against ``reference`` (:func:`comparisons`; for the paper's grid ``'L_AC vs L_C'``,
    translated Dice of the two losses at the same w_c), every loss against the original slices' Dice
    (``'L_AC vs original'``, ``'L_C vs original'``, ...), and, when the results carry ``dice_infiltration_only``
    (phantom runs), each loss against the reference on that Dice (``'L_AC vs L_C, F on the infiltration only'``).
    Patients are paired by subject (only patients present in both settings); values are the per-patient means of
    :func:`patient_table`, averaged for a loss and its reference over the repetitions both have (a loss run with
    fewer training seeds than the reference is compared on those seeds only). The test is
    :func:`mmac.evaluation.stats.paired_wilcoxon` (scipy's ``wilcoxon``, zero differences dropped; all differences
    zero gives p = 1 and a note).

    Beside the test, how large and how sure: ``shift`` is the Hodges-Lehmann estimate of the per-patient
    difference (the median of its Walsh averages) and [``ci_low``, ``ci_high``] its 95 % confidence interval from
    the same signed-rank distribution (:func:`mmac.evaluation.stats.hodges_lehmann`; without ties or zero
    differences it excludes 0 exactly when the exact test gives p <= 0.05, and is unbounded with 5 patients or
    fewer).

    Returns:
        Columns ``comparison``, ``w_c``, ``group``, ``n_patients``, ``n_nonzero``, ``mean_difference``
        (first minus second), ``shift``, ``ci_low``, ``ci_high``, ``statistic``, ``pvalue``, ``note``.
    """
    oracle = "dice_infiltration_only"
    has_oracle = has_scores(results, oracle)
    extra = [oracle] if has_oracle else []
    patients = patient_table(results, columns=extra)
    runs = per_patient(results, by=["loss", "w_c", "repetition"], columns=extra)
    rows: list = []

    def values(frame: pd.DataFrame, column: str, with_group: bool = False) -> pd.DataFrame:
        keep = ["subject", "group", column] if with_group else ["subject", column]
        return frame[keep].rename(columns={column: "value"})

    for w_c in sorted(patients["w_c"].unique()):
        at = patients[patients["w_c"] == w_c]
        by_loss = {loss: at[at["loss"] == loss] for loss in at["loss"].unique()}
        for loss, ref in comparisons(by_loss, reference):
            mine, theirs = _shared_repetitions(runs[runs["w_c"] == w_c], loss, ref, ["dice_translated", *extra])
            _paired(values(mine, "dice_translated", True), values(theirs, "dice_translated"),
                    f"{loss} vs {ref}", float(w_c), rows)
            if has_oracle:
                _paired(values(mine, oracle, True), values(theirs, oracle),
                        f"{loss} vs {ref}, F on the infiltration only", float(w_c), rows)
        for loss in _loss_order(by_loss)[::-1]:
            frame = by_loss[loss]
            _paired(values(frame, "dice_translated", True), values(frame, "dice_original"),
                    f"{loss} vs original", float(w_c), rows)
    columns = ["comparison", "w_c", "group", "n_patients", "n_nonzero", "mean_difference", "shift", "ci_low",
               "ci_high", "statistic", "pvalue", "note"]
    return pd.DataFrame(rows, columns=columns)


def seed_table(results: pd.DataFrame, reference: str = REFERENCE) -> pd.DataFrame:
    """Each loss minus the reference per training seed (repetition), per w_c and summary group.

    Does the sign hold from one training seed to the next? Pooled tables mix the seeds; this one keeps them apart.
    Per repetition, a patient's Dice is the mean over its slices in that repetition's run (every patient is
    tested once per repetition); a patient counts where both losses have that repetition.

    Args:
        results: Validated results (:func:`check_results`).
        reference: The loss subtracted (:func:`comparisons`). Defaults to ``'L_C'``.

    Returns:
        Columns ``comparison`` (``'L_AC - L_C'``), ``w_c``, ``group``, ``repetition``, ``n_patients``, ``loss``
        and ``reference`` (their means over patients), ``mean`` (the mean per-patient difference) and
        ``n_ahead`` (patients where the loss is above the reference); ordered by comparison, w_c, group and
        repetition.
    """
    from mmac.evaluation.stats import GROUPS

    runs = per_patient(results, by=["loss", "w_c", "repetition"])
    rows = []
    for w_c in sorted(runs["w_c"].unique()):
        at = runs[runs["w_c"] == w_c]
        for loss, ref in comparisons(at["loss"].unique(), reference):
            pairs = _paired_runs(at, loss, ref)
            for name, members in GROUPS.items():
                part = pairs[pairs["group"].isin(members)]
                for repetition, seed in part.groupby("repetition", sort=True):
                    difference = seed["dice_translated"] - seed["dice_translated_ref"]
                    rows.append(dict(comparison=f"{loss} - {ref}", w_c=float(w_c), group=ROW_LABELS[name],
                                     repetition=int(repetition), n_patients=len(seed),
                                     loss=float(seed["dice_translated"].mean()),
                                     reference=float(seed["dice_translated_ref"].mean()),
                                     mean=float(difference.mean()), n_ahead=int((difference > 0).sum())))
    return pd.DataFrame(rows, columns=["comparison", "w_c", "group", "repetition", "n_patients", "loss",
                                       "reference", "mean", "n_ahead"])


def slice_share_table(results: pd.DataFrame, margin: float = 0.05) -> pd.DataFrame:
    """Slice-level shares per loss, w_c and group (:func:`mmac.evaluation.stats.slice_shares`).

    Every (run, slice) pair counts once, i.e. the shares are pooled over repetitions (equal to the mean of
    the per-repetition shares when every repetition tests the same slices).

    Returns:
        Columns ``loss``, ``w_c``, ``group``, ``n`` (slice evaluations), ``improved`` (share with translated
        > original), ``increased`` (translated - original > margin), ``decreased`` (original - translated >
        margin).
    """
    rows = []
    for loss, w_c, group, sub in _by_setting_and_group(results):
        shares = slice_shares(sub["dice_original"].to_numpy(float), sub["dice_translated"].to_numpy(float),
                              margin=margin)
        rows.append(dict(loss=loss, w_c=w_c, group=group, **shares))
    return pd.DataFrame(rows, columns=["loss", "w_c", "group", "n", "improved", "increased", "decreased"])


def phantom_truth(results: pd.DataFrame) -> pd.DataFrame:
    """Faithfulness, PSNR and SSIM of F(x) against the true healthy counterpart and fat-fraction MAE.

    ``removal``, ``removal_heavy``, ``preservation``, ``preservation_blur``, ``bias_bright``, ``bias_dark`` and
    ``dice_infiltration_only`` (:mod:`mmac.evaluation.faithfulness`) come first when the results carry them;
    per setting and group.

    Per patient, each score is averaged over slices within a run and then over repetitions (as the Dice of
    :func:`table1`); the table gives mean ± std over patients. The fat-fraction error of a slice is
    ``|ff_est - ff_true|`` (means over the muscle mask).

    Returns:
        Columns ``loss``, ``w_c``, ``group``, ``n_patients``, then ``<score>_mean`` and ``<score>_std`` for
        ``removal``, ``removal_heavy``, ``preservation``, ``preservation_blur``, ``bias_bright``, ``bias_dark``
        and ``dice_infiltration_only`` (when present), ``psnr``,
        ``ssim`` and ``ff_mae``.

    Raises:
        ValueError: The results lack the phantom columns.
    """
    missing = [c for c in PHANTOM_COLUMNS if c not in results.columns]
    if missing:
        raise ValueError(f"results lack the phantom column(s) {missing}; they come from runs on the synthetic "
                         "cohort only")
    frame = results.assign(ff_error=(results["ff_est"] - results["ff_true"]).abs())
    faithful = [c for c in FAITHFULNESS_COLUMNS if has_scores(frame, c)]
    patients = patient_table(frame, columns=[*faithful, "psnr", "ssim", "ff_error"])
    rows = []
    for loss, w_c, group, sub in _by_setting_and_group(patients):
        row = dict(loss=loss, w_c=w_c, group=group, n_patients=len(sub))
        for column, key in [(c, c) for c in faithful] + [("psnr", "psnr"), ("ssim", "ssim"), ("ff_error", "ff_mae")]:
            values = sub[column].to_numpy(float)
            values = values[np.isfinite(values)]
            row[f"{key}_mean"] = float(values.mean()) if values.size else np.nan
            row[f"{key}_std"] = float(values.std(ddof=1)) if values.size > 1 else np.nan
        rows.append(row)
    return pd.DataFrame(rows)


def loss_difference_spread(results: pd.DataFrame, column: str = "dice_translated",
                           reference: str = REFERENCE) -> pd.DataFrame:
    """How sure is each loss minus the reference (L_AC - L_C in the paper's grid)? Its spread over the paired
    units (fold, repetition) that were run.

    A unit is one fold and repetition, trained once with each loss from the same seed. Within a unit the
    difference is the mean over its test patients of (loss - reference) per-patient Dice (slice means). The table
    gives the mean, sample std, min and max of that difference over units, the 95 % t-interval of the mean
    (:func:`mmac.evaluation.stats.mean_interval`: the units taken as independent draws), and a plain verdict:
    the sign holds in every unit, or the difference lies within the spread (the sign changes between units),
    or one unit only, which measures no spread.

    Args:
        results: Validated results (:func:`check_results`).
        column: The per-slice score compared, ``'dice_translated'`` (the default) or another one, such as
            ``'dice_infiltration_only'``.
        reference: The loss subtracted (:func:`comparisons`). Defaults to ``'L_C'``.

    Returns:
        Columns ``comparison`` (``'L_AC - L_C'``), ``w_c``, ``group``, ``n_units``, ``mean``, ``std``,
        ``ci_low``, ``ci_high``, ``min``, ``max``, ``verdict``; empty when the results lack the reference or
        every other loss.

    Raises:
        KeyError: The results lack ``column``.
    """
    from mmac.evaluation.stats import GROUPS

    columns = ["comparison", "w_c", "group", "n_units", "mean", "std", "ci_low", "ci_high", "min", "max",
               "verdict"]
    pairs = comparisons(results["loss"].unique(), reference)
    if not pairs:
        return pd.DataFrame(columns=columns)
    extra = [] if column in VALUE_KEYS else [column]  # per_patient averages the Dice columns anyway
    patients = per_patient(results, by=["loss", "w_c", "fold", "repetition"], columns=extra)
    wide = patients.pivot_table(index=["w_c", "fold", "repetition", "subject", "group"], columns="loss",
                                values=column).reset_index()
    rows = []
    for loss, ref in pairs:
        paired = wide.dropna(subset=[loss, ref]).assign(difference=lambda f, a=loss, b=ref: f[a] - f[b])
        for w_c in sorted(paired["w_c"].unique()):
            for name, members in GROUPS.items():
                part = paired[(paired["w_c"] == w_c) & paired["group"].isin(members)]
                if part.empty:
                    continue
                units = part.groupby(["fold", "repetition"])["difference"].mean().to_numpy(float)
                rows.append(dict(comparison=f"{loss} - {ref}", w_c=float(w_c), group=ROW_LABELS[name],
                                 **_unit_spread(units, f"{loss} ahead", f"{ref} ahead")))
    return pd.DataFrame(rows, columns=columns)


def _unit_spread(units: np.ndarray, positive: str, negative: str) -> dict:
    """``n_units``, ``mean``, ``std`` (ddof=1), the 95 % t-interval of the mean (``ci_low``, ``ci_high``;
    unbounded for one unit), ``min``, ``max`` of per-unit differences and the verdict: the sign holds in every
    unit (``'<positive> in all N units'`` or ``'<negative> ...'``), or it changes between units (within the
    spread), or one unit measures no spread."""
    low, high = float(units.min()), float(units.max())
    if len(units) == 1:
        verdict = "one unit: no spread measured"
    elif low > 0:
        verdict = f"{positive} in all {len(units)} units"
    elif high < 0:
        verdict = f"{negative} in all {len(units)} units"
    else:
        verdict = "within the spread: the sign changes between units"
    interval = mean_interval(units, level=CI_LEVEL)
    return dict(n_units=len(units), mean=interval.estimate,
                std=float(units.std(ddof=1)) if len(units) > 1 else np.nan, ci_low=interval.low,
                ci_high=interval.high, min=low, max=high, verdict=verdict)


def coverage_table(rows: pd.DataFrame) -> pd.DataFrame:
    """G's synthetic pathology beside the patients' (:mod:`mmac.apis.coverage`), one row per setting and group.

    Args:
        rows: One row per run and subject: ``run``, ``loss``, ``w_c``, ``subject``, ``group``, ``source``
            (``'G(y)'`` for a healthy subject translated by the run's G, ``'real'`` for a patient's own fat
            fraction) and ``fat_fraction`` (mean over the muscle mask).

    Returns:
        Columns ``what``, ``fat_fraction_mean``, ``fat_fraction_std``, ``n`` and ``over``: for each (loss, w_c)
        the mean over runs of G's mean over healthy subjects (std and n over runs), then for each patient group
        the mean over patients (each counted once, std and n over patients).
    """
    columns = ["what", "fat_fraction_mean", "fat_fraction_std", "n", "over"]

    def row(what: str, values: pd.Series, over: str) -> dict:
        return dict(what=what, fat_fraction_mean=float(values.mean()),
                    fat_fraction_std=float(values.std(ddof=1)) if len(values) > 1 else np.nan, n=len(values),
                    over=over)

    out = []
    synthetic = rows[(rows["source"] == "G(y)") & rows["fat_fraction"].notna()]  # NaN: no muscle mask
    per_run = synthetic.groupby(["loss", "w_c", "run"])["fat_fraction"].mean().reset_index()
    for loss in _loss_order(per_run["loss"].unique()):
        for w_c in sorted(per_run.loc[per_run["loss"] == loss, "w_c"].unique()):
            values = per_run.loc[(per_run["loss"] == loss) & (per_run["w_c"] == w_c), "fat_fraction"]
            out.append(row(f"G(y), {setting_label(loss, w_c)}", values, "runs"))
    real = rows[rows["source"] == "real"].drop_duplicates("subject")
    for group in ("moderate", "severe"):
        values = real.loc[real["group"] == group, "fat_fraction"]
        if len(values):
            out.append(row(f"patients, {group}", values, "patients"))
    return pd.DataFrame(out, columns=columns)


def _held_out_healthy(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows of healthy subjects in their run's test fold."""
    return rows[(rows["source"] == "G(y)") & rows["held_out"].astype(bool)]


def healthy_change_table(rows: pd.DataFrame) -> pd.DataFrame:
    """F's change of held-out healthy subjects (:func:`mmac.apis.coverage.healthy_change`), one row per setting.

    Args:
        rows: The rows of :func:`coverage_table` with, on healthy subjects (``source == 'G(y)'``), ``held_out``
            and the scores ``change``, ``bias_bright``, ``bias_dark``.

    Returns:
        Columns ``setting``, then ``<score>_mean`` and ``<score>_std`` for each score, ``n_runs`` and
        ``n_subjects``: each run's mean over its held-out healthy subjects, then mean and std (ddof=1) over the
        runs of the setting; ``n_subjects`` counts the distinct held-out subjects. Empty when no run has a
        held-out healthy subject.
    """
    from mmac.apis.coverage import CHANGE_KEYS as keys  # the package's __init__ loads the translator: not at import

    columns = ["setting"] + [f"{k}_{s}" for k in keys for s in ("mean", "std")] + ["n_runs", "n_subjects"]
    if "held_out" not in rows or not all(k in rows for k in keys):
        return pd.DataFrame(columns=columns)
    held = _held_out_healthy(rows)
    per_run = held.groupby(["loss", "w_c", "run"])[list(keys)].mean().reset_index()
    out = []
    for loss in _loss_order(per_run["loss"].unique()):
        for w_c in sorted(per_run.loc[per_run["loss"] == loss, "w_c"].unique()):
            chosen = (per_run["loss"] == loss) & (per_run["w_c"] == w_c)
            runs = per_run[chosen]
            row = dict(setting=setting_label(loss, w_c))
            for key in keys:
                row[f"{key}_mean"] = float(runs[key].mean())
                row[f"{key}_std"] = float(runs[key].std(ddof=1)) if len(runs) > 1 else np.nan
            subjects = held.loc[(held["loss"] == loss) & (held["w_c"] == w_c), "subject"].nunique()
            out.append(dict(row, n_runs=len(runs), n_subjects=subjects))
    return pd.DataFrame(out, columns=columns)


def healthy_change_difference(rows: pd.DataFrame, reference: str = REFERENCE) -> pd.DataFrame:
    """Each loss minus the reference (L_AC - L_C) of F's ``change`` of held-out healthy subjects, over the
    paired units (fold, repetition).

    Args:
        rows: As for :func:`healthy_change_table`, with ``fold`` and ``repetition`` of each run.
        reference: The loss subtracted (:func:`comparisons`). Defaults to ``'L_C'``.

    Returns:
        Columns ``comparison`` (``'L_AC - L_C'``), ``w_c``, ``n_units``, ``mean``, ``std``, ``ci_low``,
        ``ci_high`` (95 % t-interval of the mean), ``min``, ``max`` and ``verdict`` (negative: the loss's F
        changes the healthy thighs less), one row per comparison and w_c run with both losses; empty without
        such units.
    """
    columns = ["comparison", "w_c", "n_units", "mean", "std", "ci_low", "ci_high", "min", "max", "verdict"]
    if not {"held_out", "change", "fold", "repetition"} <= set(rows.columns):
        return pd.DataFrame(columns=columns)
    per_run = _held_out_healthy(rows).pivot_table(index=["w_c", "fold", "repetition"], columns="loss",
                                                  values="change", aggfunc="mean")
    out = []
    for loss, ref in comparisons(per_run.columns, reference):
        units = (per_run[loss] - per_run[ref]).dropna()
        out += [dict(comparison=f"{loss} - {ref}", w_c=float(w_c),
                     **_unit_spread(part.to_numpy(float), f"{loss} changes more", f"{loss} changes less"))
                for w_c, part in units.groupby(level="w_c")]
    return pd.DataFrame(out, columns=columns)


def run_table(results: pd.DataFrame) -> pd.DataFrame:
    """One row per run: what its F did to its own test patients, to find a training that failed.

    GAN trainings fail now and then (a run that darkens or blurs every slice); pooled tables hide one such run
    among many. Per run: the mean over its pathological test patients (each the mean over its slices) of the
    original and translated Dice and their difference ``gain``, the same for the severe patients alone, and the
    number of patients whose Dice F lowered.

    Args:
        results: Validated results (:func:`check_results`).

    Returns:
        Columns ``run``, ``loss``, ``w_c``, ``fold``, ``repetition``, ``n_patients``, ``dice_original``,
        ``dice_translated``, ``gain``, ``severe_gain`` (NaN without severe test patients), ``n_lowered`` and
        ``outlier``; sorted by ``gain``, lowest first. ``outlier`` marks a run whose gain lies far below the
        other runs of its setting (loss, w_c): a modified z-score ``0.6745 (gain - median) / MAD`` below -3.5
        (Iglewicz and Hoaglin's rule), judged only where the setting has at least 5 runs and a non-zero MAD.
    """
    keys = ["run", "loss", "w_c", "fold", "repetition"]
    patients = per_patient(results, by=keys).assign(gain=lambda f: f["dice_translated"] - f["dice_original"])
    rows = []
    for values, part in patients.groupby(keys, sort=False):
        severe = part.loc[part["group"] == "severe", "gain"]
        rows.append(dict(zip(keys, values, strict=True), n_patients=len(part),
                         dice_original=float(part["dice_original"].mean()),
                         dice_translated=float(part["dice_translated"].mean()), gain=float(part["gain"].mean()),
                         severe_gain=float(severe.mean()) if len(severe) else np.nan,
                         n_lowered=int((part["gain"] < 0).sum())))
    columns = keys + ["n_patients", "dice_original", "dice_translated", "gain", "severe_gain", "n_lowered",
                      "outlier"]
    table = pd.DataFrame(rows, columns=columns[:-1])
    table["outlier"] = False
    for _, part in table.groupby(["loss", "w_c"]):
        median = part["gain"].median()
        mad = (part["gain"] - median).abs().median()
        if len(part) >= 5 and mad > 0:
            table.loc[part.index, "outlier"] = 0.6745 * (part["gain"] - median) / mad < -3.5
    return table[columns].sort_values(["gain", "run"], ignore_index=True)
