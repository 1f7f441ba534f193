"""``make_report``: the Markdown report of a cross-validation (Gadermayr et al., ISBI 2021, Table 1 and Fig. 3).

Reads ``<results_dir>/results.csv`` (``tools/cross_validate.py``) and writes into ``out_dir``: ``table1.md`` /
``table1.csv`` (paper layout) and ``table1_long.csv`` (numbers), ``pvalues.csv``, ``slice_shares.csv``,
``runs.csv`` (per run), ``seeds.csv`` (each loss minus the reference per training seed), ``boxplots.png``,
``fig3.png`` (when the runs' checkpoints are available), on phantom data
``phantom_truth.csv`` and ``fat_fraction.png``, ``pathology_coverage.csv`` (G's synthetic pathology beside the
patients', when the runs' checkpoints are available), ``healthy_change.csv`` (what F does to held-out healthy
subjects, which need no change; from the same translations) and ``report.md`` tying them together.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from mmac.fileio import write_text_atomic
from mmac.protocol.grid import REFERENCE
from mmac.report import figures
from mmac.report.tables import (
    comparisons,
    coverage_table,
    format_table1,
    has_phantom_truth,
    has_scores,
    healthy_change_difference,
    healthy_change_table,
    loss_difference_spread,
    phantom_truth,
    pvalues,
    read_results,
    run_table,
    seed_table,
    setting_label,
    slice_share_table,
    table1,
)

__all__ = ["make_report", "markdown_table"]

logger = logging.getLogger(__name__)


def _cell(value, digits: int, column: str = "") -> str:
    if column == "w_c" and isinstance(value, (int, float, np.number)) and np.isfinite(value):
        return f"{value:g}"
    if isinstance(value, (float, np.floating)):
        if np.isnan(value):
            return "–"
        if value != 0 and abs(value) < 10 ** -digits:
            return f"{value:.1e}"
        return f"{value:.{digits}f}"
    return str(value).replace("|", "\\|")


def markdown_table(frame: pd.DataFrame, digits: int = 3, index: bool = False) -> str:
    """A GitHub-flavoured Markdown table of ``frame``.

    Floats get ``digits`` decimals (``w_c`` as ``%g``), NaN becomes '–'.
    """
    if index:
        frame = frame.reset_index()
    header = "| " + " | ".join(str(c) for c in frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    columns = [str(c) for c in frame.columns]
    body = ["| " + " | ".join(_cell(v, digits, c) for v, c in zip(row, columns, strict=True)) + " |"
            for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *body])




def _write_csv(frame: pd.DataFrame, path: Path, index: bool = False) -> Path:
    return write_text_atomic(path, frame.to_csv(index=index))


def make_report(results_dir: str | Path, out_dir: str | Path | None = None, fig3_slices: int = 3,
                fig3_w_c: float | None = None, device: str = "cpu", formats: Sequence[str] = (),
                progress: bool = False, reference: str = REFERENCE) -> dict:
    """Write the report of a cross-validation.

    Args:
        results_dir: Folder with ``results.csv`` (and ``runs/<run>/DONE`` for Fig. 3).
        out_dir: Output folder. Defaults to ``<results_dir>/report``.
        fig3_slices: Rows of Fig. 3. Defaults to 3.
        fig3_w_c: w_c of Fig. 3; None takes 1 when present, else the largest. Defaults to None.
        device: Torch device for Fig. 3's translations. Defaults to ``'cpu'``.
        formats: Figure formats besides PNG (which report.md shows), from ``('pdf', 'svg')``; each figure is
            also written as ``<name>.<format>``. Defaults to ().
        progress: tqdm progress bars on stderr over the steps that read the runs' checkpoints ("report: fig3"
            over Fig. 3's slices, "report: coverage" over the runs). Defaults to False.
        reference: The loss every other loss is compared against (paired tests, spreads, Fig. 3). Defaults to
            ``'L_C'``, so the paper's grid compares L_AC with L_C.

    Returns:
        ``{'files': {name: path}, 'notes': [str]}``; notes say what was skipped and why.

    Raises:
        FileNotFoundError: ``results.csv`` is missing.
        ValueError: ``results.csv`` lacks columns or rows, or an unknown figure format.
    """
    formats = figures.check_formats(formats)
    results_dir = Path(results_dir)
    results = read_results(results_dir / "results.csv")
    out = Path(out_dir) if out_dir is not None else results_dir / "report"
    out.mkdir(parents=True, exist_ok=True)
    files: dict[str, Path] = {}
    notes: list[str] = []

    if reference not in set(results["loss"]):
        notes.append(f"the reference loss {reference} is not in the results (losses: "
                     f"{', '.join(sorted(set(results['loss'])))}): no loss is compared with another")
    pairs = comparisons(results["loss"].unique(), reference)
    table_md, tests, shares, spread, spread_oracle, runs, seeds = _tables_part(results, out, files, reference)
    files["boxplots.png"] = figures.boxplots(results, out / "boxplots.png", formats)

    fig3_text = _fig3_part(results, results_dir, out, files, notes, pairs, reference,
                           dict(n=fig3_slices, w_c=fig3_w_c, device=device, formats=formats, progress=progress))
    truth = None
    phantom_text = ""
    if has_phantom_truth(results):
        truth = phantom_truth(results)
        files["phantom_truth.csv"] = _write_csv(truth, out / "phantom_truth.csv")
        files["fat_fraction.png"] = figures.fat_fraction_scatter(results, out / "fat_fraction.png", formats)
        phantom_text = _phantom_section(truth)
    else:
        notes.append("no phantom truth columns (psnr, ssim, ff_true, ff_est): phantom table and fat-fraction "
                     "plot skipped")
    coverage_text = _coverage_part(results, results_dir, out, files, notes, reference, device, progress)

    try:
        training_text = training_terms(results, results_dir)
    except (FileNotFoundError, ValueError, KeyError, SyntaxError) as exc:
        training_text = f"Training terms not read from the runs' configs: {exc}"
        notes.append(training_text)

    for name in [n for n in files if n.endswith(".png")]:
        for fmt in formats:
            if fmt != "png":
                files[f"{name[:-4]}.{fmt}"] = files[name].with_suffix(f".{fmt}")
    report = _report_text(results, results_dir, table_md, tests, shares, fig3_text, phantom_text + coverage_text,
                          notes, spread, spread_oracle, training_text, runs, reference, seeds)
    files["report.md"] = write_text_atomic(out / "report.md", report)
    files["summary.md"] = write_text_atomic(out / "summary.md", summary_text(table_md, spread, tests, truth,
                                                                             reference, seeds))
    logger.info("report written to %s", out / "report.md")
    return {"files": files, "notes": notes}


def _tables_part(results: pd.DataFrame, out: Path, files: dict, reference: str) -> tuple:
    """Table 1, the paired tests, slice shares, the spreads over units, the runs' and the seeds' tables, written to
    ``out``: ``(Table 1 as Markdown, tests, shares, spread, spread on the infiltration-only Dice or None, runs,
    seeds)``."""
    long = table1(results)
    wide = format_table1(long)
    files["table1.csv"] = _write_csv(wide, out / "table1.csv", index=True)
    files["table1_long.csv"] = _write_csv(long, out / "table1_long.csv")
    table_md = markdown_table(wide, index=True)
    files["table1.md"] = write_text_atomic(out / "table1.md", table_md + "\n")
    tests = pvalues(results, reference)
    files["pvalues.csv"] = _write_csv(tests, out / "pvalues.csv")
    shares = slice_share_table(results)
    files["slice_shares.csv"] = _write_csv(shares, out / "slice_shares.csv")
    spread = loss_difference_spread(results, reference=reference)
    files["loss_difference.csv"] = _write_csv(spread, out / "loss_difference.csv")
    spread_oracle = None
    if has_scores(results, "dice_infiltration_only"):
        spread_oracle = loss_difference_spread(results, column="dice_infiltration_only", reference=reference)
        files["loss_difference_infiltration_only.csv"] = _write_csv(
            spread_oracle, out / "loss_difference_infiltration_only.csv")
    runs = run_table(results)
    files["runs.csv"] = _write_csv(runs, out / "runs.csv")
    seeds = seed_table(results, reference)
    files["seeds.csv"] = _write_csv(seeds, out / "seeds.csv")
    return table_md, tests, shares, spread, spread_oracle, runs, seeds


def _skipped(notes: list[str], what: str, exc: BaseException) -> str:
    note = f"{what} skipped: {exc}"
    logger.warning(note)
    notes.append(note)
    return note


def _fig3_part(results: pd.DataFrame, results_dir: Path, out: Path, files: dict, notes: list[str],
               pairs: list[tuple[str, str]], reference: str, options: dict) -> str:
    """Fig. 3 for the first loss compared with ``reference`` (``options``: :func:`figures.fig3`'s ``n``,
    ``w_c``, ``device``, ``formats``, ``progress``); its report section, or the note why it was skipped."""
    try:
        if not pairs:
            raise ValueError(f"it shows a loss beside the reference {reference}, and the results have no such pair")
        loss = pairs[0][0]
        files["fig3.png"], chosen = figures.fig3(results, results_dir, out / "fig3.png", loss=loss,
                                                 reference=reference, **options)
        return _fig3_section(chosen, loss, reference)
    except (FileNotFoundError, ValueError, KeyError) as exc:
        return f"*{_skipped(notes, 'Figure 3', exc)}*\n"


def _coverage_part(results: pd.DataFrame, results_dir: Path, out: Path, files: dict, notes: list[str],
                   reference: str, device: str, progress: bool) -> str:
    """G's pathology coverage and F's change of held-out healthy thighs, read from the runs' checkpoints:
    their files and report sections ('' with a note where skipped)."""
    text = ""
    try:
        coverage_rows = _coverage_rows(results, results_dir, device, progress=progress)
        coverage = coverage_table(coverage_rows)
        if coverage["what"].str.startswith("G(y)").any():
            files["pathology_coverage.csv"] = _write_csv(coverage, out / "pathology_coverage.csv")
            text = _coverage_section(coverage)
        else:
            notes.append("no healthy subject with a muscle mask: G's pathology coverage skipped")
        change = healthy_change_table(coverage_rows)
        if change.empty:
            notes.append("no held-out healthy subject in the runs' test folds: F's change of healthy thighs "
                         "skipped")
        else:
            files["healthy_change.csv"] = _write_csv(change, out / "healthy_change.csv")
            difference = healthy_change_difference(coverage_rows, reference)
            files["healthy_change_difference.csv"] = _write_csv(difference, out / "healthy_change_difference.csv")
            text += _healthy_change_section(change, difference)
    except (FileNotFoundError, ValueError, KeyError) as exc:
        _skipped(notes, "G's pathology coverage", exc)
    return text


def training_terms(results: pd.DataFrame, results_dir: Path) -> str:
    """One sentence on the generator loss terms beyond the paper's that the runs trained with, read from each
    run's config (``runs/<run>/DONE``): today the optional fidelity term (``model.fidelity_loss``).

    Raises:
        FileNotFoundError: A run has no DONE file or its config is gone (see :func:`figures.load_done`).
        ValueError: A DONE file is not valid.
    """
    from mmengine.config import Config

    terms: dict[str, list[str]] = {}
    for run in results["run"].drop_duplicates():
        config, _ = figures.load_done(results_dir, run)
        model = Config.fromfile(str(config), import_custom_modules=False).get("model", {})
        fidelity = model.get("fidelity_loss")
        if fidelity is None:
            key = ""
        else:
            fields = ", ".join(f"{k}={v!r}" for k, v in sorted(dict(fidelity).items()) if k != "type")
            key = f"`{fidelity.get('type')}({fields})`"
        terms.setdefault(key, []).append(str(run))
    if list(terms) == [""]:
        return "Training: the paper's losses only (adversarial, cycle, identity); no run adds a fidelity term."
    parts = []
    for key, runs in terms.items():
        who = "every run" if len(terms) == 1 else f"{len(runs)} run(s) ({', '.join(runs)})"
        parts.append(f"{who} without a fidelity term" if key == "" else
                     f"{who} adds a fidelity term on F that is not in the paper, {key} (`mmac.losses.fidelity`)")
    return "Training: " + "; ".join(parts) + "."


def _fig3_section(chosen: pd.DataFrame, loss: str = "L_AC", reference: str = "L_C") -> str:
    shown = chosen[["subject", "group", "slice", "fold", "repetition", "w_c", "dice_original", f"dice_{reference}",
                    f"dice_{loss}"]]
    return ("![Fig. 3](fig3.png)\n\n"
            f"Rows: the severe test slices (moderate when there are none) whose Dice improved most with {loss} "
            f"over the original slice. Columns: the original slice x, F(x) of the {reference} run and F(x) of the "
            f"{loss} run of the same fold and repetition. Red: the voxels between the optimal two thresholds; "
            "green outline: the reference muscle mask; panel titles give the Dice, recomputed from the "
            "checkpoints. The values of results.csv for these slices:\n\n" + markdown_table(shown) + "\n")


def _phantom_section(truth: pd.DataFrame) -> str:
    return ("## Against the phantom's ground truth\n\n"
            "The synthetic cohort knows what real data cannot: the healthy counterpart of each pathological "
            "slice and its true fat fraction. **removal** is the share of the infiltration error that F removed "
            "(1 - MAE(F(x), t) / MAE(x, t) where x and its counterpart t differ; 1 is perfect, 0 is F = "
            "identity); **removal_heavy** is the same on the heavily infiltrated pixels only (x - t above 30 % "
            "of the range: the fat the Dice needs removed; the light rest of the infiltration is within a few "
            "noise levels of t); **preservation** is how far F(x) departs from t on the rest of the thigh, in units of "
            "the noise a perfect denoiser would remove (0 is F = identity, 1 a perfect denoiser, above 1 F "
            "changed the anatomy); **preservation_blur** is the same score for x smoothed by a Gaussian of half a "
            "pixel, on the same slices: the score's scale at this slice size (the slightest smoothing moves thin "
            "structures by several noise levels at 64 px, by less than one at 256 px), so a preservation below it "
            "means F changed the rest of the thigh less than half a pixel of blur would; **bias_bright** and "
            "**bias_dark** are the mean signed error F(x) - t there (grey "
            "levels on the 0-255 scale), where t is bright (above 60 % of the range: normal fat, marrow) and "
            "darker (muscle, vessels): the direction of what preservation measures, negative when F darkens "
            "tissue that needed no change; **dice_infiltration_only** is the optimal two-threshold Dice of x with F(x) "
            "pasted on the infiltration only (where x and t differ): what F's Dice would be had it left the rest "
            "of the thigh alone; its gap to the translated Dice is what F's changes elsewhere cost. See "
            "`mmac.evaluation.faithfulness`. PSNR (dB) and SSIM compare F(x) with the "
            "counterpart (0-255 "
            "scale); the fat-fraction MAE is |estimated - true| of the mean fat fraction over the muscle mask, "
            "the estimate taken from x - F(x) (`mmac.evaluation.fat_fraction.fat_fraction_estimate`). Mean and std "
            "over patients (each patient averaged over its slices and the repetitions).\n\n"
            + markdown_table(truth) + "\n\n" + _blur_comparison(truth) + "![Fat fraction](fat_fraction.png)\n\n"
            "Each point is one test slice of one run; points on the dashed line are estimated exactly.\n")


def _blur_comparison(truth: pd.DataFrame) -> str:
    """One plain line per group: each setting's preservation against half a pixel of blur on the same slices
    ('' when the results lack ``preservation_blur``, as runs made before it was scored do)."""
    if "preservation_blur_mean" not in truth.columns:
        return ""
    lines = []
    for group in ("Moderate", "Severe"):
        rows = truth[(truth["group"] == group) & truth["preservation_mean"].notna()
                     & truth["preservation_blur_mean"].notna()]
        if rows.empty:
            continue
        blur = float(rows["preservation_blur_mean"].iloc[0])  # the same slices for every setting
        parts = []
        for _, row in rows.iterrows():
            value = float(row["preservation_mean"])
            side = "more" if value > blur else "less"
            parts.append(f"{setting_label(row['loss'], row['w_c'])} {value:.2f} ({side} than the blur)")
        lines.append(f"- {group}: half a pixel of blur scores {blur:.2f}; " + ", ".join(parts) + ".")
    if not lines:
        return ""
    return ("**Preservation against half a pixel of blur** (F changed the thigh outside the infiltration more or "
            "less than smoothing x by a Gaussian of 0.5 px would, on the same slices):\n\n"
            + "\n".join(lines) + "\n\n")


def _coverage_rows(results: pd.DataFrame, results_dir: Path, device: str, progress: bool = False) -> pd.DataFrame:
    """Per run and subject: G's synthetic fat fraction and F's change (healthy subjects) or the patient's own
    fat fraction (see mmac.apis.coverage); a progress bar over the runs with ``progress``.

    Raises:
        FileNotFoundError: A run has no DONE file or its checkpoint is gone.
        ValueError: No healthy subject in the runs' cohort.
    """
    from tqdm import tqdm

    from mmac.apis.coverage import model_coverage

    rows, cohorts = [], {}  # the runs share their cohort: loaded once
    runs = results[["run", "loss", "w_c", "fold", "repetition"]].drop_duplicates("run")
    done = {run: figures.load_done(results_dir, run) for run in runs["run"]}  # a missing run fails before the bar
    for run, loss, w_c, fold, repetition in tqdm(list(runs.itertuples(index=False)), desc="report: coverage",
                                                 unit="run", disable=not progress):
        config, checkpoint = done[run]
        rows += [dict(run=run, loss=loss, w_c=float(w_c), fold=fold, repetition=repetition, **row)
                 for row in model_coverage(config, checkpoint, device=device, cohorts=cohorts)]
    frame = pd.DataFrame(rows)
    if frame.empty or not (frame["source"] == "G(y)").any():
        raise ValueError("no healthy subject in the runs' cohort")
    return frame


def _coverage_section(coverage: pd.DataFrame) -> str:
    return ("\n## What L_AC's F learns from: G's pathology against the patients'\n\n"
            "Under L_AC the only loss that shows F an infiltrated slice with its healthy answer is the healthy "
            "cycle F(G(y)) = y, on the pathology G makes. Each run's G translated the cohort's healthy subjects "
            "(every 4th slice with muscle); the fat fraction it added to their muscle is clip((G(y) - y) / "
            "(1 - y), 0, 1) over the muscle mask, set beside the patients' own (their fat-fraction maps). Where "
            "G's is well below the severe patients', F was not taught their slices by the cycle. "
            "(`pathology_coverage.csv`, `tools/pathology_coverage.py`)\n\n" + markdown_table(coverage) + "\n")


def _healthy_change_section(change: pd.DataFrame, difference: pd.DataFrame) -> str:
    scored = change.dropna(subset=["change_mean"])
    if scored.empty:  # no slice had air to measure the noise in (a zeroed or tightly cropped background)
        largest = ("change is undefined in every run: no slice had enough air around the thigh to estimate the "
                   "noise (a background set to 0 or cropped away). The shifts of bright and dark tissue need no "
                   "noise estimate and are given.")
    else:
        worst = scored.loc[scored["change_mean"].idxmax()]
        largest = (f"Largest: {worst['setting']} changes held-out healthy thighs by {worst['change_mean']:.1f} "
                   f"times the noise, fat and marrow shifted by {worst['bias_bright_mean']:+.1f} and muscle by "
                   f"{worst['bias_dark_mean']:+.1f} grey levels.")
    paired = ""
    if not difference.empty:
        paired = ("\n\nEach loss minus the reference (comparison) of change over the paired units (fold, "
                  "repetition), negative where the loss's F changes the healthy thighs less "
                  "(`healthy_change_difference.csv`):\n\n"
                  + markdown_table(difference, digits=2))
    return ("\n## What F does to healthy thighs\n\n"
            "A healthy slice y is its own pseudo-healthy version, so F(y) should be y up to its noise. Each run's"
            " F translated the healthy subjects of its test fold (never seen in training; every 4th slice with "
            "muscle, or with the thigh where a subject has no mask). change = MAE(F(y), y) over the thigh divided"
            " by the noise's mean absolute value (estimated from the air around the thigh): 0 is the identity, "
            "about 1 a perfect denoiser, above 1 F altered the healthy anatomy. bias_bright and bias_dark = mean "
            "F(y) - y on bright tissue (fat, marrow; above 60 % of the range) and on darker tissue (muscle), in "
            "grey levels of the 0-255 scale. Each run's mean over its held-out healthy subjects, then mean and "
            "std over runs. This score needs no ground truth: on real data it is the one check of what F changes "
            "that should stay. "
            "(`healthy_change.csv`, `tools/pathology_coverage.py`)\n\n" + markdown_table(change, digits=2)
            + "\n\n" + largest + paired + "\n")


def _runs_section(runs: pd.DataFrame | None) -> list[str]:
    if runs is None or runs.empty:
        return []
    lowered = runs[runs["gain"] < 0]
    outliers = runs[runs["outlier"]] if "outlier" in runs else runs.iloc[:0]
    far = ""
    if len(outliers):
        far = (f" **{len(outliers)} run(s) lie far below the other runs of their setting** (modified z-score "
               "below -3.5): " + ", ".join(f"{r.run} ({r.gain:+.3f})" for r in outliers.itertuples()) + ".")
    if lowered.empty:
        first = runs.iloc[0]
        verdict = (f"No run's F lowered the mean Dice of its pathological test patients; the smallest gain is "
                   f"{first['gain']:+.3f} ({first['run']}).")
    else:
        verdict = (f"**{len(lowered)} of {len(runs)} runs lowered the mean Dice of their pathological test "
                   f"patients**: " + ", ".join(f"{r.run} ({r.gain:+.3f})" for r in lowered.itertuples())
                   + ". A translation that lowers the Dice failed to remove the infiltration or damaged the "
                   "muscle; look at the run's `vis/` grids before pooling it.")
    return ["## Runs", "",
            "Per run, the mean over its pathological test patients of the Dice gain (translated − original), "
            "lowest first (`runs.csv`, with the severe patients' gain and the number of patients each run "
            "lowered).", "", verdict + far, "", markdown_table(runs.head(5)), ""]


SUMMARY_TRUTH = ("removal_heavy", "preservation", "preservation_blur", "ssim")


def summary_text(table_md: str, spread: pd.DataFrame, tests: pd.DataFrame, truth: pd.DataFrame | None,
                 reference: str = REFERENCE, seeds: pd.DataFrame | None = None) -> str:
    """The report's headline in a screenful (``summary.md``, printed by ``tools/demo.py``): Table 1, how sure
    each loss minus the reference (L_AC - L_C) is, and, on the synthetic cohort, how much heavy fat F removed and
    how much else it changed.

    Args:
        table_md: Table 1 as Markdown.
        spread: :func:`~mmac.report.tables.loss_difference_spread`.
        tests: :func:`~mmac.report.tables.pvalues`.
        truth: :func:`~mmac.report.tables.phantom_truth`, or None without the phantom's truth.
        reference: The loss the others are compared against. Defaults to ``'L_C'``.
        seeds: :func:`~mmac.report.tables.seed_table`, shown for the severe patients where a comparison has
            two training seeds or more; None or empty: not shown.
    """
    lines = ["# Summary (details in report.md)", "", "Optimal two-threshold Dice, mean ± std over patients:", "",
             table_md, ""]
    if not spread.empty:
        compact = spread[["comparison", "w_c", "group", "n_units", "mean", "ci_low", "ci_high", "verdict"]]
        lines += [f"Each loss minus {reference} over the paired units (fold, repetition), with the 95 % interval "
                  "of the mean:", "", markdown_table(compact, digits=4), "", *_interval_lines(tests, reference)]
    lines += _seed_section(seeds)
    if truth is not None and not truth.empty:
        keep = [c for c in SUMMARY_TRUTH if f"{c}_mean" in truth.columns]
        rows = truth[truth["group"].isin(["Moderate", "Severe"])]
        settings = [setting_label(loss, w) for loss, w in zip(rows["loss"], rows["w_c"], strict=True)]
        table = pd.DataFrame({"setting": settings,
                              "group": rows["group"].to_numpy(),
                              **{c: rows[f"{c}_mean"].to_numpy(float) for c in keep}})
        lines += ["Against the phantom's truth (means over patients; removal_heavy: share of the heavy fat's error "
                  "removed, 1 is perfect; preservation: change of the rest of the thigh in noise units, 1 is a "
                  "perfect denoiser, preservation_blur what half a pixel of blur scores there; SSIM to the healthy "
                  "counterpart):", "", markdown_table(table, digits=2), ""]
    return "\n".join(lines)


def _seed_section(seeds: pd.DataFrame | None, group: str = "Severe") -> list[str]:
    """Each loss minus the reference per training seed for ``group``, and whether its sign held over the seeds;
    [] when no comparison has two seeds."""
    if seeds is None or seeds.empty:
        return []
    part = seeds[seeds["group"] == group]
    counts = part.groupby(["comparison", "w_c"])["repetition"].nunique()
    if part.empty or counts.max() < 2:
        return []
    table = pd.DataFrame({"comparison": part["comparison"], "w_c": part["w_c"], "seed": part["repetition"],
                          "patients": part["n_patients"], "loss": part["loss"], "reference": part["reference"],
                          "difference": part["mean"],
                          "ahead": [f"{a}/{n}" for a, n in zip(part["n_ahead"], part["n_patients"], strict=True)]})
    lines = [f"Per training seed (repetition), {group.lower()} patients: each loss and the reference, means over "
             "patients, their difference and the patients where the loss is ahead (`seeds.csv` has every group):",
             "", markdown_table(table, digits=4), ""]
    for (comparison, w_c), rows in part.groupby(["comparison", "w_c"], sort=False):
        if len(rows) < 2:
            continue
        above, below = int((rows["mean"] > 0).sum()), int((rows["mean"] < 0).sum())
        values = ", ".join(f"{v:+.4f}" for v in rows["mean"])
        verdict = (f"the sign is the same in all {len(rows)} seeds" if max(above, below) == len(rows) else
                   f"the sign changes with the seed: above zero in {above}, below in {below} of {len(rows)}")
        lines.append(f"- {comparison} at w_c={w_c:g}, {group.lower()}: {verdict} ({values})."
                     + (_over_seeds(rows["mean"].to_numpy(float)) if len(rows) >= 3 else ""))
    return lines + [""]


def _over_seeds(means) -> str:
    """The mean of the seeds' differences with its t-interval over seeds and, when zero is inside it, about how
    many seeds a mean of this size at this spread would need (:func:`mmac.evaluation.stats.seeds_needed`)."""
    from mmac.evaluation.stats import mean_interval, seeds_needed

    over = mean_interval(means)
    text = f" Over the seeds {over.estimate:+.4f} (95 % t {over.low:+.4f} to {over.high:+.4f})"
    if over.low > 0 or over.high < 0:
        return text + ": zero is outside it."
    limit = 1000
    needed = seeds_needed(means, limit=limit)
    if needed is None:
        return (text + ": zero is inside it, and at this mean and spread no number of seeds up to "
                f"{limit} would leave it out.")
    return (text + f": zero is inside it; at this mean and spread about {needed} seeds would leave it out "
            "(a plug-in estimate).")


def _interval_lines(tests: pd.DataFrame | None, reference: str = REFERENCE) -> list[str]:
    """Per comparison and w_c, loss minus reference (L_AC - L_C) per patient with its 95 % interval, in words:
    what this run rules out."""
    if tests is None or tests.empty:
        return []
    rows = tests[tests["comparison"].str.endswith(f" vs {reference}") & tests["group"].isin(["Severe", "Pathological"])]
    lines = []
    for row in rows.itertuples(index=False):
        what = row.comparison.replace(" vs ", " - ")
        if np.isfinite(row.ci_low) and np.isfinite(row.ci_high):
            lines.append(f"- w_c={row.w_c:g}, {row.group.lower()} patients ({row.n_patients}): {what} "
                         f"{row.shift:+.4f} per patient (Hodges-Lehmann), 95 % interval {row.ci_low:+.4f} to "
                         f"{row.ci_high:+.4f}. The signed-rank test at 5 % rejects every difference outside it; "
                         + ("zero is inside it." if row.ci_low <= 0 <= row.ci_high else "zero is not."))
        else:
            lines.append(f"- w_c={row.w_c:g}, {row.group.lower()} patients ({row.n_patients}): {what} "
                         f"{row.shift:+.4f} per patient; {row.n_patients} patients are too few to bound it at "
                         "95 %.")
    if not lines:
        return []
    return [f"What this run rules out: each loss minus {reference} per patient with its 95 % interval (from the "
            "Wilcoxon "
            "signed-rank test, `pvalues.csv`):", "", *lines, ""]


def _spread_section(spread: pd.DataFrame, oracle: pd.DataFrame | None = None,
                    tests: pd.DataFrame | None = None, reference: str = REFERENCE) -> list[str]:
    if spread.empty:
        return []
    lines = [
        f"## How sure: {', '.join(dict.fromkeys(spread['comparison']))} over folds and repetitions",
        "",
        "GAN training varies with the seed, so a difference is only a finding when it holds across the runs. "
        "A unit is one fold and repetition, trained once with each loss from the same seed; its difference is "
        "the mean over its test patients of the loss minus the reference (comparison; L_AC - L_C in the "
        "paper's grid), per-patient Dice. Mean, std, min and max are over "
        "units; ci_low and ci_high bound the mean with 95 % confidence (t-interval, the units taken as "
        "independent draws); the verdict says whether the sign held in every unit or the difference lies "
        "within the spread. (`loss_difference.csv`)",
        "",
        markdown_table(spread, digits=4),
        "",
        *_interval_lines(tests, reference),
    ]
    if oracle is not None and not oracle.empty:
        lines += [
            "The same on the Dice of x with F(x) on the infiltration only (`dice_infiltration_only`, see the "
            "phantom section): how the two losses compare on what F does to the infiltration, without what it "
            "does to the rest of the thigh. (`loss_difference_infiltration_only.csv`)",
            "",
            markdown_table(oracle, digits=4),
            "",
        ]
    return lines


def _report_text(results: pd.DataFrame, results_dir: Path, table_md: str, tests: pd.DataFrame,
                 shares: pd.DataFrame, fig3_text: str, phantom_text: str, notes: list[str],
                 spread: pd.DataFrame | None = None, spread_oracle: pd.DataFrame | None = None,
                 training_text: str = "", runs: pd.DataFrame | None = None, reference: str = REFERENCE,
                 seeds: pd.DataFrame | None = None) -> str:
    n_patients = results.groupby("group")["subject"].nunique()
    reps = results.groupby(["loss", "w_c"])["repetition"].nunique()
    settings = ", ".join(f"{loss} at w_c={w:g} ({n} repetition{'s' if n != 1 else ''})"
                         for (loss, w), n in reps.items())
    lines = [
        "# Cross-validation report: asymmetric vs. symmetric cycle consistency",
        "",
        f"Source: `{results_dir / 'results.csv'}`: {len(results)} slice evaluations from "
        f"{results['run'].nunique()} runs; test patients: "
        + ", ".join(f"{n_patients.get(g, 0)} {g}" for g in ("moderate", "severe")) + f". Settings: {settings}.",
        "",
        *([training_text, ""] if training_text else []),
        "Every number scores how well the muscle can be segmented by two intensity thresholds: for each test "
        "slice, the Dice of the best pair of thresholds against the reference muscle mask (optimal two-threshold "
        "Dice), on the original slice x and on its translation F(x) to a pseudo-healthy slice (Gadermayr et "
        "al., ISBI 2021). A higher Dice after translation means the fat infiltration was removed without "
        "losing the muscle.",
        "",
        "## Table 1: optimal two-threshold Dice, mean ± std over patients",
        "",
        "Each patient's Dice is the mean over its test slices, averaged over the repetitions of a setting; "
        "mean ± std (sample std) are over patients. (c) original slices, (b) translated with the symmetric "
        "cycle loss L_C, (a) translated with the asymmetric loss L_AC; w_c is the cycle-loss weight. "
        "Pathological = moderate and severe patients together. Also in `table1.csv` (this layout) and "
        "`table1_long.csv` (numbers).",
        "",
        table_md,
        "",
        *_spread_section(spread if spread is not None else pd.DataFrame(), spread_oracle, tests, reference),
        *_seed_section(seeds),
        "## Paired Wilcoxon signed-rank tests over patients",
        "",
        "Two-sided, paired by patient, on the per-patient Dice of Table 1 (scipy's `wilcoxon`, zero "
        "differences dropped; with all differences zero the p-value is set to 1). mean_difference is the first "
        "setting minus the second; shift is the Hodges-Lehmann estimate of that difference (the median of the "
        "patients' pairwise averages of it) and ci_low, ci_high its 95 % confidence interval from the same "
        "signed-rank distribution: without ties or zero differences it excludes 0 exactly when the exact test "
        "gives p <= 0.05. Patients tested in one fold share that fold's trained models, so neither the test nor "
        "the interval is exact about the training's variation: read them beside the spread over units. With few "
        "patients the smallest attainable p-value is large (e.g. 0.0625 for 5 patients, whose interval is unbounded), "
        "so read p together with n_patients. (`pvalues.csv`)",
        "",
        markdown_table(tests.drop(columns=["note"]) if not tests["note"].astype(bool).any() else tests, digits=4),
        "",
        "## Slice-level changes",
        "",
        "Share of test slices whose Dice after translation is higher than on the original slice (improved), "
        "higher by more than 0.05 (increased) or lower by more than 0.05 (decreased); n counts slice "
        "evaluations pooled over repetitions. (`slice_shares.csv`)",
        "",
        markdown_table(shares),
        "",
        *_runs_section(runs),
        "## Per-patient Dice",
        "",
        "![Box plots](boxplots.png)",
        "",
        "Boxes: quartiles and median over patients; whiskers: 1.5 IQR; points: individual patients.",
        "",
        "## Figure 3: examples",
        "",
        fig3_text,
    ]
    if phantom_text:
        lines += [phantom_text]
    if notes:
        lines += ["## Notes", ""] + [f"- {note}" for note in notes] + [""]
    return "\n".join(lines)
