"""The cohort map: where a cycle loss beats a reference loss, point by point, seed by seed, and why.

A map is a list of *points* (a cohort setting such as "13 muscles, slices along z" or "independent slices"),
each run on several *cohorts* (phantom seeds) with the CPU protocol. Per cohort, the per-patient mean Dice of a
``loss`` (default L_AC) and a ``reference`` (default L_C) are paired on one group of patients (default severe);
the loss's rows and the reference's may come from different result folders (a variant against the paper's L_C
of the same cohort). For each point the map gives:

* per seed and pooled over seeds: the Hodges-Lehmann shift ``loss - reference`` with its exact 95 % signed-rank
  interval over patients and the Wilcoxon p-value (:mod:`mmac.evaluation.stats`); pooled, the patients of all
  seeds count as independent patients, which ignores that a cohort shares a make-up;
* over seeds: the t-interval of the per-seed mean differences, which does count the cohort's own effect, and the
  share of the per-patient differences' variance that lies between seeds (one-way ANOVA's eta squared, with its
  F-test p-value, scipy), i.e. how much of the spread is the cohort's seed;
* where a point's cohorts were trained with several repetitions (training seeds): how far one run's mean
  difference moves with the training seed and with the cohort (:func:`seed_components`);
* the mechanism: how much infiltration F removed (``removal``), how much F changed outside the infiltration
  (``preservation``, in units of the noise) with each loss, and, when ``coverage`` is asked for, the fat fraction
  G adds to healthy muscle under the loss against the patients' own (:mod:`mmac.apis.coverage`).

The spec is JSON (``tools/cohort_map.py --spec``)::

    {"loss": "L_AC", "reference": "L_C", "group": "severe",
     "points": [{"name": "default", "axis": "slices", "cohorts": [
         {"seed": 3, "loss_dir": "work_dirs/map/default_s3", "reference_dir": "work_dirs/map/default_s3"}]}]}

A point may name its own ``loss`` and ``reference`` (e.g. a variant's L_AC runs against the paper's L_AC of the
same cohorts). ``reference_dir`` defaults to ``loss_dir``; relative folders are taken from the working directory
(the repository root when run from there). ``"repetitions": [0]`` on a point (or one of its cohorts) reads only
those training repetitions of the folders, e.g. one training seed of a folder that ``tools/cross_validate.py
--repetitions`` grew to two; absent, every repetition counts.

A written map grows by new points without the folders of its earlier ones (:func:`update_map`,
``tools/cohort_map.py --update``): the points it holds keep their rows as they were measured.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from mmac.evaluation.stats import hodges_lehmann, mean_interval, paired_wilcoxon, per_patient

MECHANISM = ("removal", "preservation")


@dataclass(frozen=True)
class Cohort:
    """One cohort of a point: its phantom seed and where the loss's and the reference's results lie."""

    seed: int
    loss_dir: Path
    reference_dir: Path
    repetitions: tuple[int, ...] | None = None  # the training repetitions read; None: all


@dataclass(frozen=True)
class Point:
    """One setting of the map, run on several cohorts."""

    name: str
    axis: str
    cohorts: tuple[Cohort, ...]
    loss: str | None = None        # this point's loss and reference, where they differ from the map's
    reference: str | None = None


def read_spec(path: str | Path) -> tuple[dict, list[Point]]:
    """Read a map spec (see the module docstring); returns ``(options, points)``.

    Raises:
        FileNotFoundError: The spec does not exist.
        ValueError: A missing key or a point without cohorts (the message names the point and key).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"map spec not found: {path}")
    spec = json.loads(path.read_text())
    options = {k: spec.get(k, d) for k, d in (("loss", "L_AC"), ("reference", "L_C"), ("group", "severe"))}
    points = []
    for i, raw in enumerate(spec.get("points", [])):
        name = raw.get("name") or f"point {i}"
        if not raw.get("cohorts"):
            raise ValueError(f"{path}: point {name!r} has no 'cohorts'")
        cohorts = []
        for c in raw["cohorts"]:
            if "seed" not in c or "loss_dir" not in c:
                raise ValueError(f"{path}: a cohort of point {name!r} lacks 'seed' or 'loss_dir': {c}")
            reps = c.get("repetitions", raw.get("repetitions"))
            if reps is not None and (not isinstance(reps, list) or not reps
                                     or not all(isinstance(r, int) and r >= 0 for r in reps)):
                raise ValueError(f"{path}: 'repetitions' of point {name!r} must be a non-empty list of integers "
                                 f">= 0, got {reps!r}")
            cohorts.append(Cohort(int(c["seed"]), Path(c["loss_dir"]), Path(c.get("reference_dir", c["loss_dir"])),
                                  None if reps is None else tuple(reps)))
        points.append(Point(name, raw.get("axis", ""), tuple(cohorts), raw.get("loss"), raw.get("reference")))
    if not points:
        raise ValueError(f"{path}: no 'points'")
    return options, points


def _patients(results_dir: Path, loss: str, group: str, by: tuple[str, ...] = ("loss",),
              repetitions: tuple[int, ...] | None = None) -> pd.DataFrame:
    """Per-patient means of ``loss`` on ``group`` in ``results_dir/results.csv``, indexed by subject.

    ``by`` are the keys a patient is averaged within (:func:`mmac.evaluation.stats.per_patient`); a key the
    results lack counts as one value (0) for every row.
    """
    path = results_dir / "results.csv"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found (is the protocol run in {results_dir} finished?)")
    frame = pd.read_csv(path)
    frame = frame[(frame["loss"] == loss) & (frame["group"] == group)]
    if repetitions is not None:
        frame = frame[frame["repetition"].isin(repetitions)]
    if frame.empty:
        within = "" if repetitions is None else f" in repetitions {list(repetitions)}"
        raise ValueError(f"{path} has no {group} rows of loss {loss!r}{within}")
    frame = frame.assign(**{key: 0 for key in by if key not in frame.columns})
    columns = [c for c in MECHANISM if c in frame.columns]
    return per_patient(frame, by=list(by), columns=columns).set_index("subject")


def cohort_differences(cohort: Cohort, loss: str = "L_AC", reference: str = "L_C",
                       group: str = "severe") -> pd.DataFrame:
    """Per patient of one cohort: Dice and mechanism scores under ``loss`` and ``reference``, paired.

    Returns:
        One row per patient: ``subject``, ``seed``, ``dice_loss``, ``dice_reference``, ``difference``
        (loss - reference), and ``removal_*`` / ``preservation_*`` for both losses where the results have them.

    Raises:
        ValueError: The two result sets test different patients.
    """
    a = _patients(cohort.loss_dir, loss, group, repetitions=cohort.repetitions)
    b = _patients(cohort.reference_dir, reference, group, repetitions=cohort.repetitions)
    if set(a.index) != set(b.index):
        raise ValueError(f"{cohort.loss_dir} and {cohort.reference_dir} test different {group} patients: "
                         f"{sorted(set(a.index) ^ set(b.index))}")
    b = b.loc[a.index]
    out = pd.DataFrame({"subject": a.index, "seed": cohort.seed, "dice_loss": a["dice_translated"].to_numpy(),
                        "dice_reference": b["dice_translated"].to_numpy(),
                        "dice_original": a["dice_original"].to_numpy()})
    out["difference"] = out["dice_loss"] - out["dice_reference"]
    for column in MECHANISM:
        if column in a.columns and column in b.columns:
            out[f"{column}_loss"] = a[column].to_numpy()
            out[f"{column}_reference"] = b[column].to_numpy()
    return out.reset_index(drop=True)


def seed_share(differences: pd.DataFrame) -> tuple[float, float]:
    """Share of the per-patient differences' variance between seeds (eta squared) and its F-test p-value.

    Returns:
        ``(eta_squared, pvalue)``; NaN for fewer than two seeds or no spread within them.
    """
    groups = [g["difference"].to_numpy() for _, g in differences.groupby("seed")]
    if len(groups) < 2 or sum(len(g) for g in groups) <= len(groups):
        return float("nan"), float("nan")
    values = differences["difference"].to_numpy()
    total = float(((values - values.mean()) ** 2).sum())
    between = float(sum(len(g) * (g.mean() - values.mean()) ** 2 for g in groups))
    from scipy.stats import f_oneway

    pvalue = float(f_oneway(*groups).pvalue) if total > 0 else float("nan")
    return (between / total if total > 0 else float("nan")), pvalue


def repetition_differences(cohort: Cohort, loss: str = "L_AC", reference: str = "L_C",
                           group: str = "severe") -> pd.DataFrame:
    """Per training repetition of one cohort: the mean over its patients of ``loss - reference``.

    A repetition is one training seed per fold, shared by both losses (:mod:`mmac.protocol.grid`); only the
    repetitions that both result sets hold count.

    Returns:
        One row per repetition: ``seed`` (the cohort's), ``repetition``, ``difference`` (mean over patients of the
        per-patient differences) and ``patients``.
    """
    means = [_patients(folder, name, group, by=("loss", "repetition"), repetitions=cohort.repetitions)
             .set_index("repetition", append=True)
             ["dice_translated"] for folder, name in ((cohort.loss_dir, loss), (cohort.reference_dir, reference))]
    paired = pd.concat(means, axis=1, keys=["loss", "reference"], join="inner")
    paired["difference"] = paired["loss"] - paired["reference"]
    out = paired.groupby(level="repetition")["difference"].agg(["mean", "size"]).reset_index()
    return pd.DataFrame({"seed": cohort.seed, "repetition": out["repetition"].astype(int),
                         "difference": out["mean"], "patients": out["size"].astype(int)})


def seed_components(repetitions: pd.DataFrame) -> dict[str, float]:
    """How much a point's mean difference moves with the training seed and with the cohort (random effects).

    One-way random-effects ANOVA of the per-repetition mean differences (:func:`repetition_differences`) with
    the cohort as the group: the training seed's variance is the mean square within cohorts, the cohort's is
    ``(MS_between - MS_within) / R`` (at least 0). Needs at least two cohorts with the same number R >= 2 of
    repetitions each.

    Returns:
        ``training_sd`` and ``cohort_sd`` (standard deviations of one run's mean difference that each source
        adds) and ``cohort_share`` (the cohort's share of their sum of variances); NaN where the design does not
        allow them.
    """
    nan = dict(training_sd=float("nan"), cohort_sd=float("nan"), cohort_share=float("nan"))
    groups = [g["difference"].to_numpy(dtype=float) for _, g in repetitions.groupby("seed")]
    sizes = {len(g) for g in groups}
    if len(groups) < 2 or len(sizes) != 1 or min(sizes) < 2:
        return nan
    reps = sizes.pop()
    means = np.array([g.mean() for g in groups])
    within = sum(float(((g - g.mean()) ** 2).sum()) for g in groups) / (len(groups) * (reps - 1))
    between = reps * float(((means - means.mean()) ** 2).sum()) / (len(groups) - 1)
    cohort = max(0.0, (between - within) / reps)
    total = cohort + within
    return dict(training_sd=float(np.sqrt(within)), cohort_sd=float(np.sqrt(cohort)),
                cohort_share=cohort / total if total > 0 else float("nan"))


def run_signs(repetitions: pd.DataFrame) -> dict[str, int]:
    """How often one training run puts the loss ahead, and in how many cohorts every run agrees on the sign.

    Args:
        repetitions: :func:`repetition_differences` of one cohort or of several (column ``seed`` tells them
            apart).

    Returns:
        ``runs`` (training repetitions, over all cohorts), ``runs_ahead`` (those whose mean difference is above
        zero; a tie counts as not ahead) and ``cohorts_one_sign`` (cohorts with two runs or more that are all
        ahead or all behind; a cohort of one run counts as none).
    """
    ahead = repetitions["difference"].to_numpy(dtype=float) > 0
    one_sign = 0
    for _, runs in repetitions.groupby("seed"):
        values = runs["difference"].to_numpy(dtype=float)
        one_sign += int(len(values) >= 2 and ((values > 0).all() or (values < 0).all()))
    return dict(runs=len(ahead), runs_ahead=int(ahead.sum()), cohorts_one_sign=one_sign)


def _row(point: Point, seed: str, diffs: pd.DataFrame) -> dict:
    shift = hodges_lehmann(diffs["dice_loss"], diffs["dice_reference"])
    test = paired_wilcoxon(diffs["dice_loss"], diffs["dice_reference"])
    row = dict(point=point.name, axis=point.axis, seed=seed, patients=len(diffs),
               original=float(diffs["dice_original"].mean()), loss=float(diffs["dice_loss"].mean()),
               reference=float(diffs["dice_reference"].mean()), shift=shift.estimate, ci_low=shift.low,
               ci_high=shift.high, p=test.pvalue, ahead=int((diffs["difference"] > 0).sum()))
    for column in MECHANISM:
        if f"{column}_loss" in diffs:
            row[f"{column}_loss"] = float(diffs[f"{column}_loss"].mean())
            row[f"{column}_reference"] = float(diffs[f"{column}_reference"].mean())
    return row


def cohort_map(points: list[Point], loss: str = "L_AC", reference: str = "L_C",
               group: str = "severe") -> tuple[pd.DataFrame, pd.DataFrame]:
    """The map: one row per point and seed, and one ``pooled`` row per point.

    Returns:
        ``(table, patients)``: the table (columns ``point``, ``axis``, ``seed``, ``patients``, the mean Dice
        ``original``, ``loss``, ``reference``, the Hodges-Lehmann ``shift`` with ``ci_low``/``ci_high``, the
        Wilcoxon ``p``, ``ahead`` (patients where the loss is ahead), mechanism means, and on pooled rows the
        t-interval over seeds ``seeds_low``/``seeds_high`` and ``seed_share``/``seed_share_p``) and every
        patient's paired values.
    """
    rows, patients = [], []
    for point in points:
        pair = (point.loss or loss, point.reference or reference, group)
        diffs = [cohort_differences(c, *pair) for c in point.cohorts]
        runs = [repetition_differences(c, *pair) for c in point.cohorts]
        for cohort, d, r in zip(point.cohorts, diffs, runs, strict=True):
            rows.append(dict(_row(point, str(cohort.seed), d), **run_signs(r)))
            patients.append(d.assign(point=point.name))
        pooled = pd.concat(diffs, ignore_index=True)
        row = _row(point, "pooled", pooled)
        seed_means = [float(d["difference"].mean()) for d in diffs]
        if len(seed_means) >= 2:
            over = mean_interval(seed_means)
            row.update(seeds_mean=over.estimate, seeds_low=over.low, seeds_high=over.high)
        row["seed_share"], row["seed_share_p"] = seed_share(pooled)
        runs = pd.concat(runs, ignore_index=True)
        row.update(run_signs(runs))
        row.update(seed_components(runs))
        rows.append(row)
    return pd.DataFrame(rows), pd.concat(patients, ignore_index=True)


def cohort_coverage(cohort: Cohort, loss: str = "L_AC", group: str = "severe") -> dict[str, float]:
    """G's pathology against the patients' in one cohort, over the ``loss`` runs of ``cohort.loss_dir``.

    Returns:
        ``g_fat_fraction``: the mean fat fraction G added to healthy muscle (every 4th slice, all runs);
        ``patient_fat_fraction``: the ``group`` patients' own mean; ``healthy_change``: F's change of held-out
        healthy thighs in units of the noise (:func:`mmac.apis.coverage.healthy_change`).
    """
    from mmac.apis.coverage import model_coverage
    from mmac.protocol.runs import run_files

    rows, cohorts = [], {}
    runs = []
    for done in sorted((cohort.loss_dir / "runs").glob("*/DONE")):  # the loss and repetition DONE records
        info = json.loads(done.read_text())
        if info.get("loss") == loss and (cohort.repetitions is None or info.get("repetition") in cohort.repetitions):
            runs.append(done.parent.name)
    if not runs:
        within = "" if cohort.repetitions is None else f" in repetitions {list(cohort.repetitions)}"
        raise FileNotFoundError(f"{cohort.loss_dir / 'runs'} has no finished {loss} run{within}")
    for run in runs:
        config, checkpoint = run_files(cohort.loss_dir, run)
        rows += model_coverage(config, checkpoint, cohorts=cohorts)
    frame = pd.DataFrame(rows)
    synthetic = frame[frame["source"] == "G(y)"]
    real = frame[(frame["source"] == "real") & (frame["group"] == group)].drop_duplicates("subject")
    held_out = synthetic[synthetic.get("held_out", False) == True]  # noqa: E712
    return dict(g_fat_fraction=float(synthetic["fat_fraction"].mean()),
                patient_fat_fraction=float(real["fat_fraction"].mean()),
                healthy_change=float(held_out["change"].mean()) if "change" in held_out else float("nan"))


def add_coverage(table: pd.DataFrame, points: list[Point], loss: str = "L_AC", group: str = "severe",
                 log=print) -> pd.DataFrame:
    """``table`` with :func:`cohort_coverage` per seed row (and the mean over seeds on pooled rows).

    Points that read the same runs (one loss's runs of one folder and repetitions, e.g. a variant against L_C and
    against L_AC) share one measurement: the models are translated once.
    """
    table = table.copy()
    measured: dict[tuple, dict[str, float]] = {}
    for point in points:
        found = []
        for cohort in point.cohorts:
            key = (cohort.seed, Path(cohort.loss_dir).resolve(), point.loss or loss, group, cohort.repetitions)
            if key in measured:
                log(f"coverage: {point.name}, seed {cohort.seed}: the same runs as an earlier point")
            else:
                log(f"coverage: {point.name}, seed {cohort.seed}")
                measured[key] = cohort_coverage(cohort, point.loss or loss, group)
            values = measured[key]
            found.append(values)
            at = (table["point"] == point.name) & (table["seed"] == str(cohort.seed))
            for key, value in values.items():
                table.loc[at, key] = value
        at = (table["point"] == point.name) & (table["seed"] == "pooled")
        for key in found[0]:
            table.loc[at, key] = float(np.nanmean([v[key] for v in found]))
    return table


def read_map(out_dir: str | Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A written map's ``map.csv`` and ``patients.csv`` (:func:`write_map`), seeds as strings in the table.

    Raises:
        FileNotFoundError: ``out_dir`` lacks either file.
    """
    out = Path(out_dir)
    for name in ("map.csv", "patients.csv"):
        if not (out / name).is_file():
            raise FileNotFoundError(f"{out / name} not found: there is no map in {out} to update")
    return pd.read_csv(out / "map.csv", dtype={"seed": str}), pd.read_csv(out / "patients.csv")


def update_map(points: list[Point], kept: tuple[pd.DataFrame, pd.DataFrame],
               compute) -> tuple[pd.DataFrame, pd.DataFrame, list[Point]]:
    """Grow a written map by the spec's points it lacks, keeping its other points as they were measured.

    A point whose name is already in the map keeps its rows (statistics, mechanism and coverage) and its
    patients without reading any result folder, so a map can grow after the folders of its earlier points are
    gone; the spec still lists every point, in the order the map shows them.

    Args:
        points: The spec's points.
        kept: The written map (:func:`read_map`).
        compute: ``compute(points) -> (table, patients)`` for the new points (:func:`cohort_map`, with
            :func:`add_coverage` where asked for).

    Returns:
        ``(table, patients, new_points)`` in the spec's point order.

    Raises:
        ValueError: The map holds points the spec does not list (named).
    """
    table, patients = kept
    names, mapped = [p.name for p in points], set(table["point"])
    unknown = sorted(mapped - set(names))
    if unknown:
        raise ValueError(f"the map holds points the spec does not list: {unknown}; add them to the spec or start "
                         "a new map")
    new = [p for p in points if p.name not in mapped]
    if new:
        new_table, new_patients = compute(new)
        table = pd.concat([table, new_table], ignore_index=True)
        patients = pd.concat([patients, new_patients], ignore_index=True)
    order = {name: i for i, name in enumerate(names)}

    def ordered(frame: pd.DataFrame) -> pd.DataFrame:
        rank = frame["point"].map(order)
        return frame.iloc[np.argsort(rank.to_numpy(), kind="stable")].reset_index(drop=True)

    return ordered(table), ordered(patients), new


def map_figure(table: pd.DataFrame, path: str | Path, loss: str = "L_AC", reference: str = "L_C",
               title: str = "", source: str = "") -> Path:
    """Forest plot: per point, each seed's shift with its interval and the pooled one; 0 marked.

    ``source`` (the spec's path), when given, is named under the title with the command that makes the figure.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    from mmac.report.figures import save_figure

    names = list(dict.fromkeys(table["point"]))
    fig, ax = plt.subplots(figsize=(9.0, 1.2 + 0.75 * len(names)))
    for i, name in enumerate(names):
        part = table[table["point"] == name]
        seeds = part[part["seed"] != "pooled"]
        offsets = np.linspace(-0.25, 0.1, max(len(seeds), 1))
        for off, (_, r) in zip(offsets, seeds.iterrows(), strict=True):
            low, high = np.clip([r["ci_low"], r["ci_high"]], -1, 1)
            ax.plot([low, high], [i + off] * 2, color="#9e9e9e", lw=1)
            ax.plot(r["shift"], i + off, "o", color="#616161", ms=4)
            ax.annotate(f"s{r['seed']}", (high, i + off), xytext=(3, -3), textcoords="offset points", fontsize=7,
                        color="#616161")
        pooled = part[part["seed"] == "pooled"].iloc[0]
        low, high = np.clip([pooled["ci_low"], pooled["ci_high"]], -1, 1)
        colour = "#d62728" if low > 0 else ("#1f77b4" if high < 0 else "black")
        ax.plot([low, high], [i + 0.3] * 2, color=colour, lw=3)
        ax.plot(pooled["shift"], i + 0.3, "D", color=colour, ms=6)
    ax.axvline(0, color="black", lw=0.8, ls="--")
    ax.set_yticks(range(len(names)))
    ax.set_yticklabels(names, fontsize=8)
    ax.invert_yaxis()
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(nbins=7))
    ax.tick_params(axis="x", labelsize=8)
    ax.set_xlabel(f"severe Dice, {loss} - {reference} (or the row's pair) per patient\n"
                  "Hodges-Lehmann shift, 95 % interval", fontsize=9)
    title = title or f"Where {loss} beats {reference}: grey = one phantom seed, thick = pooled"
    if source:
        title += f"\n(python tools/cohort_map.py --spec {source}; seeds as labelled)"
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return save_figure(fig, path)


def format_table(table: pd.DataFrame) -> pd.DataFrame:
    """The map table as strings for markdown: shift with interval, p, ahead/patients, mechanism."""
    out = pd.DataFrame({"point": table["point"], "seed": table["seed"], "patients": table["patients"]})
    out["original"] = table["original"].map("{:.3f}".format)
    out["loss"] = table["loss"].map("{:.3f}".format)
    out["reference"] = table["reference"].map("{:.3f}".format)
    out["shift (95 % CI)"] = [f"{s:+.4f} ({lo:+.4f} to {hi:+.4f})"
                              for s, lo, hi in zip(table["shift"], table["ci_low"], table["ci_high"], strict=True)]
    out["p"] = table["p"].map("{:.2g}".format)
    out["ahead"] = [f"{a}/{n}" for a, n in zip(table["ahead"], table["patients"], strict=True)]
    if "runs" in table:
        out["runs ahead"] = ["" if pd.isna(n) else f"{a:.0f}/{n:.0f}"
                             for a, n in zip(table["runs_ahead"], table["runs"], strict=True)]
        cohorts = table[table["seed"] != "pooled"].groupby("point", sort=False)["runs"].apply(
            lambda runs: int((runs >= 2).sum()))  # cohorts with two runs or more: those a sign can hold over
        out["one sign over runs"] = [
            "" if pd.isna(k) or cohorts.get(name, 0) == 0 or (seed != "pooled" and n < 2) else
            (f"{k:.0f} of {cohorts[name]} cohorts" if seed == "pooled" else ("yes" if k else "no"))
            for name, seed, k, n in zip(table["point"], table["seed"], table["cohorts_one_sign"], table["runs"],
                                        strict=True)]
    if "seeds_low" in table:
        out["over seeds (95 % t)"] = [
            "" if pd.isna(lo) else f"{m:+.4f} ({lo:+.4f} to {hi:+.4f})"
            for m, lo, hi in zip(table.get("seeds_mean", table["shift"]), table["seeds_low"], table["seeds_high"],
                                 strict=True)]
    if "seed_share" in table:
        out["seed share"] = ["" if pd.isna(v) else f"{v:.2f} (p {p:.2g})"
                             for v, p in zip(table["seed_share"], table["seed_share_p"], strict=True)]
    if "training_sd" in table and table["training_sd"].notna().any():
        out["sd: training seed / cohort"] = [
            "" if pd.isna(t) else f"{t:.4f} / {c:.4f} ({share:.0%} cohort)"
            for t, c, share in zip(table["training_sd"], table["cohort_sd"], table["cohort_share"], strict=True)]
    for column in MECHANISM:
        if f"{column}_loss" in table:
            pairs = zip(table[f"{column}_loss"], table[f"{column}_reference"], strict=True)
            out[column] = [f"{a:.2f} / {b:.2f}" for a, b in pairs]
    if "g_fat_fraction" in table:
        pairs = zip(table["g_fat_fraction"], table["patient_fat_fraction"], strict=True)
        out["G's FF / patients'"] = ["" if pd.isna(g) else f"{g:.2f} / {r:.2f}" for g, r in pairs]
        out["F change, healthy"] = table["healthy_change"].map(lambda v: "" if pd.isna(v) else f"{v:.2f}")
    return out


def write_map(table: pd.DataFrame, patients: pd.DataFrame, out_dir: str | Path, loss: str = "L_AC",
              reference: str = "L_C", group: str = "severe", source: str = "") -> str:
    """Write a map's ``map.csv``, ``patients.csv``, ``map.md`` and ``map.png`` into ``out_dir``; return the text.

    Args:
        table, patients: :func:`cohort_map`'s result (with :func:`add_coverage` where asked for).
        out_dir: Output folder, made if missing.
        loss, reference, group: What the map compares, for the headline and the figure's axis.
        source: Where the map came from (e.g. the spec's path), named in the headline.
    """
    from mmac.fileio import atomic_path, write_text_atomic
    from mmac.report.report import markdown_table

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name, frame in (("map.csv", table), ("patients.csv", patients)):
        with atomic_path(out / name) as tmp:
            frame.to_csv(tmp, index=False)
    text = (f"{group} patients, {loss} - {reference}" + (f" (spec: {source})" if source else "") + "\n\n"
            + markdown_table(format_table(table)) + "\n")
    write_text_atomic(out / "map.md", text)
    map_figure(table, out / "map.png", loss, reference, source=source)
    return text

