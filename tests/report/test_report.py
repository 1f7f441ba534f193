"""Tests of mmac.report and tools/report.py on fabricated results with hand-computed expectations."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mmac.report import check_results, format_table1, make_report, pvalues, slice_share_table, table1

TOOL = Path(__file__).resolve().parents[2] / "tools" / "report.py"

# Per-patient means by construction: translated B[subject][loss], original ORIGINAL[subject].
B = {"m1": {"L_C": 0.60, "L_AC": 0.70}, "m2": {"L_C": 0.64, "L_AC": 0.80},
     "s1": {"L_C": 0.50, "L_AC": 0.62}, "s2": {"L_C": 0.40, "L_AC": 0.58}}
ORIGINAL = {"m1": 0.55, "m2": 0.65, "s1": 0.45, "s2": 0.35}
GROUP = {"m1": "moderate", "m2": "moderate", "s1": "severe", "s2": "severe"}


def fabricated(phantom: bool = False) -> pd.DataFrame:
    """2 losses x w_c=1 x 2 repetitions x 4 patients x 2 slices; offsets cancel in every per-patient mean.

    translated = B + (-0.02, +0.02)[slice] + (-0.01, +0.01)[repetition]; original = O + (-0.025, +0.025)[slice].
    """
    rows = []
    for loss in ("L_C", "L_AC"):
        for rep in (0, 1):
            for subject, group in GROUP.items():
                for k, z in enumerate((0, 4)):
                    row = dict(run=f"{loss}_r{rep}", loss=loss, w_c=1.0, fold=rep, repetition=rep, subject=subject,
                               group=group, slice=z, dice_original=ORIGINAL[subject] + (-0.025, 0.025)[k],
                               dice_translated=B[subject][loss] + (-0.02, 0.02)[k] + (-0.01, 0.01)[rep],
                               lo_original=0.0, hi_original=1.0, lo_translated=0.0, hi_translated=1.0)
                    if phantom:
                        row.update(psnr=20.0 + rep, ssim=0.5, ff_true=0.3, ff_est=0.2 if loss == "L_AC" else 0.5)
                    rows.append(row)
    return pd.DataFrame(rows)


def cell(long: pd.DataFrame, group: str, setting: str) -> pd.Series:
    row = long[(long["group"] == group) & (long["setting"] == setting)]
    assert len(row) == 1
    return row.iloc[0]


def test_table1_against_hand_computation():
    long = table1(check_results(fabricated()))
    sqrt2 = np.sqrt(2)
    expected = {  # (group, setting): (mean, sample std over patients, n)
        ("Moderate", "original"): (0.60, 0.10 / sqrt2, 2),
        ("Moderate", "L_C"): (0.62, 0.04 / sqrt2, 2),
        ("Moderate", "L_AC"): (0.75, 0.10 / sqrt2, 2),
        ("Severe", "original"): (0.40, 0.10 / sqrt2, 2),
        ("Severe", "L_C"): (0.45, 0.10 / sqrt2, 2),
        ("Severe", "L_AC"): (0.60, 0.04 / sqrt2, 2),
        # pathological L_AC: 0.70, 0.80, 0.62, 0.58 -> mean 0.675, squared deviations sum 0.0283
        ("Pathological", "L_AC"): (0.675, np.sqrt(0.0283 / 3), 4),
        # pathological original: 0.55, 0.65, 0.45, 0.35 -> mean 0.5, squared deviations sum 0.05
        ("Pathological", "original"): (0.50, np.sqrt(0.05 / 3), 4),
    }
    for (group, setting), (mean, std, n) in expected.items():
        row = cell(long, group, setting)
        assert row["mean"] == pytest.approx(mean, abs=1e-12), (group, setting)
        assert row["std"] == pytest.approx(std, abs=1e-12), (group, setting)
        assert row["n_patients"] == n


def test_table1_layout():
    wide = format_table1(table1(check_results(fabricated())))
    assert list(wide.index) == ["Moderate", "Severe", "Pathological"]
    assert list(wide.columns) == ["Original (c)", "L_C (b), w_c=1", "L_AC (a), w_c=1"]
    assert wide.loc["Moderate", "L_AC (a), w_c=1"] == "0.750 ± 0.071"


def test_repetitions_are_averaged_per_patient_before_patients():
    # one patient; repetition 0 has slices 0.2 and 0.4 (mean 0.3), repetition 1 one slice 0.9:
    # per patient (0.3 + 0.9) / 2 = 0.6, not the pooled slice mean 0.5
    frame = pd.DataFrame(dict(run=["a", "a", "b"], loss="L_AC", w_c=1.0, fold=0, repetition=[0, 0, 1],
                              subject="s1", group="severe", slice=[0, 4, 0], dice_original=0.5,
                              dice_translated=[0.2, 0.4, 0.9]))
    long = table1(check_results(frame))
    assert cell(long, "Severe", "L_AC")["mean"] == pytest.approx(0.6)
    assert np.isnan(cell(long, "Severe", "L_AC")["std"])  # one patient: sample std undefined


def test_pvalues_follow_the_exact_wilcoxon_test():
    tests = pvalues(check_results(fabricated()))
    row = tests[(tests["comparison"] == "L_AC vs L_C") & (tests["group"] == "Pathological")].iloc[0]
    # 4 patients, all L_AC - L_C > 0 (0.10, 0.16, 0.12, 0.18): exact two-sided p = 2 / 2**4, W = 0
    assert row["pvalue"] == pytest.approx(2 / 16)
    assert row["statistic"] == 0
    assert row["n_patients"] == 4
    assert row["mean_difference"] == pytest.approx(np.mean([0.10, 0.16, 0.12, 0.18]))
    # Hodges-Lehmann: the 10 Walsh averages 0.10 0.11 0.12 0.13 0.14 0.14 0.15 0.16 0.17 0.18 -> median 0.14;
    # 4 patients cannot bound it at 95 % (smallest p 0.125)
    assert row["shift"] == pytest.approx(0.14)
    assert (row["ci_low"], row["ci_high"]) == (-np.inf, np.inf)
    row = tests[(tests["comparison"] == "L_AC vs L_C") & (tests["group"] == "Moderate")].iloc[0]
    assert row["pvalue"] == pytest.approx(2 / 4)  # 2 patients, both positive
    row = tests[(tests["comparison"] == "L_AC vs original") & (tests["group"] == "Severe")].iloc[0]
    assert row["mean_difference"] == pytest.approx(np.mean([0.62 - 0.45, 0.58 - 0.35]))
    assert set(tests["comparison"]) == {"L_AC vs L_C", "L_AC vs original", "L_C vs original"}


def test_pvalues_pair_a_loss_with_the_reference_on_their_shared_repetitions():
    frame = fabricated()
    extra = frame[(frame["loss"] == "L_AC") & (frame["repetition"] == 1)].assign(
        repetition=2, fold=2, run="L_AC_r2", dice_translated=lambda f: f["dice_translated"] - 0.31)
    tests = pvalues(check_results(pd.concat([frame, extra], ignore_index=True)))
    row = tests[(tests["comparison"] == "L_AC vs L_C") & (tests["group"] == "Pathological")].iloc[0]
    # L_C has repetitions 0 and 1 only: L_AC's repetition 2 (B - 0.30) takes no part.
    assert row["mean_difference"] == pytest.approx(np.mean([0.10, 0.16, 0.12, 0.18]))
    assert row["n_patients"] == 4
    # Against the original, each loss keeps all its repetitions: L_AC per patient B + (-0.01 + 0.01 - 0.30) / 3.
    row = tests[(tests["comparison"] == "L_AC vs original") & (tests["group"] == "Severe")].iloc[0]
    assert row["mean_difference"] == pytest.approx(np.mean([0.62 - 0.45, 0.58 - 0.35]) - 0.10)
    # Only the reference's repetition 0 for a patient: that patient is compared on repetition 0 alone.
    one = frame[~((frame["loss"] == "L_C") & (frame["repetition"] == 1) & (frame["subject"] == "s1"))]
    tests = pvalues(check_results(one))
    row = tests[(tests["comparison"] == "L_AC vs L_C") & (tests["group"] == "Severe")].iloc[0]
    assert row["mean_difference"] == pytest.approx(np.mean([0.12, 0.18]))  # the repetition offset is shared


def test_seed_table_keeps_the_training_seeds_apart():
    from mmac.report.report import _seed_section
    from mmac.report.tables import seed_table

    frame = fabricated()
    # repetition 1 of L_AC 0.20 lower: L_AC - L_C per severe patient 0.12, 0.18 in repetition 0; -0.08, -0.02 in 1
    frame.loc[(frame["loss"] == "L_AC") & (frame["repetition"] == 1), "dice_translated"] -= 0.20
    seeds = seed_table(check_results(frame))
    severe = seeds[seeds["group"] == "Severe"].set_index("repetition")
    assert list(severe.index) == [0, 1] and set(severe["comparison"]) == {"L_AC - L_C"}
    assert severe.loc[0, "mean"] == pytest.approx(0.15) and severe.loc[1, "mean"] == pytest.approx(-0.05)
    assert severe.loc[0, "loss"] == pytest.approx(np.mean([0.62, 0.58]) - 0.01)
    assert severe.loc[1, "reference"] == pytest.approx(np.mean([0.50, 0.40]) + 0.01)
    assert list(severe["n_ahead"]) == [2, 0] and list(severe["n_patients"]) == [2, 2]
    pathological = seeds[(seeds["group"] == "Pathological") & (seeds["repetition"] == 0)].iloc[0]
    assert pathological["mean"] == pytest.approx(np.mean([0.10, 0.16, 0.12, 0.18]))
    text = "\n".join(_seed_section(seeds))
    assert "the sign changes with the seed: above zero in 1, below in 1 of 2 (+0.1500, -0.0500)" in text
    same = "\n".join(_seed_section(seed_table(check_results(fabricated()))))
    assert "the sign is the same in all 2 seeds (+0.1500, +0.1500)" in same
    one = fabricated()
    assert _seed_section(seed_table(check_results(one[one["repetition"] == 0]))) == []  # one seed: nothing to add


def _seeds_frame(means):
    return pd.DataFrame({"comparison": "L_AC - L_C", "w_c": 1.0, "group": "Severe",
                         "repetition": range(len(means)), "n_patients": 6, "loss": 0.8, "reference": 0.8,
                         "mean": means, "n_ahead": 3})


def test_seed_section_gives_the_interval_over_three_seeds_and_the_seeds_it_would_need():
    """Seeds 0.01, 0.03, -0.01: mean 0.01, s 0.02, half-width t_{.975,2} 4.303 * 0.02 / sqrt(3) = 0.0497; with
    tabled t_{.975,16} = 2.120, t_{.975,17} = 2.110: 2.120 * 0.02 / sqrt(17) = 0.0103 > 0.01, 2.110 * 0.02 /
    sqrt(18) = 0.0099 < 0.01, so 18 seeds. Seeds 0.10, 0.12, 0.11: 0.11 +- 0.0248, zero outside."""
    from mmac.report.report import _seed_section

    text = "\n".join(_seed_section(_seeds_frame([0.01, 0.03, -0.01])))
    assert "Over the seeds +0.0100 (95 % t -0.0397 to +0.0597): zero is inside it; at this mean and spread " \
           "about 18 seeds would leave it out" in text
    text = "\n".join(_seed_section(_seeds_frame([0.10, 0.12, 0.11])))
    assert "Over the seeds +0.1100 (95 % t +0.0852 to +0.1348): zero is outside it." in text
    text = "\n".join(_seed_section(_seeds_frame([0.01, -0.01, 0.0])))
    assert "no number of seeds up to 1000" in text
    assert "Over the seeds" not in "\n".join(_seed_section(_seeds_frame([0.01, 0.03])))  # two seeds: signs only


def test_pvalues_of_the_infiltration_only_dice():
    frame = fabricated()
    # Per patient, L_AC - L_C on the composite = -0.01, -0.02, -0.03, +0.04 (slice offsets cancel in the means).
    offset = {"m1": -0.01, "m2": -0.02, "s1": -0.03, "s2": 0.04}
    frame["dice_infiltration_only"] = 0.8 + np.where(frame["loss"] == "L_AC", frame["subject"].map(offset), 0.0) \
        + np.where(frame["slice"] == 0, -0.01, 0.01)
    tests = pvalues(check_results(frame))
    row = tests[(tests["comparison"] == "L_AC vs L_C, F on the infiltration only")
                & (tests["group"] == "Pathological")].iloc[0]
    assert row["mean_difference"] == pytest.approx(-0.005)
    # Ranks of |d| 1, 2, 3, 4; the positive one has rank 4: W+ = 4, W- = 6. Of the 16 sign patterns, 7 give
    # W+ <= 4 ({}, {1}, {2}, {3}, {4}, {1,2}, {1,3}) and, by symmetry, 7 give W+ >= 6: exact two-sided p = 14/16.
    assert row["pvalue"] == pytest.approx(14 / 16)
    assert row["statistic"] == 4
    assert row["n_patients"] == 4
    # Results without the column give no such comparison.
    assert "L_AC vs L_C, F on the infiltration only" not in set(pvalues(check_results(fabricated()))["comparison"])


def test_pvalue_is_one_with_a_note_when_nothing_changes():
    frame = fabricated()
    frame["dice_translated"] = frame["dice_original"]
    tests = pvalues(check_results(frame))
    assert (tests["pvalue"] == 1.0).all()
    assert tests["note"].str.contains("all paired differences are zero").all()


def test_slice_shares_against_hand_count():
    shares = slice_share_table(check_results(fabricated()))
    # L_C, severe: translated - original = 0.05 + (+0.005, -0.005)[slice] + (-0.01, +0.01)[rep]
    #   -> 0.045, 0.065, 0.035, 0.055 for each patient: all improved, half by more than 0.05
    row = shares[(shares["loss"] == "L_C") & (shares["group"] == "Severe")].iloc[0]
    assert (row["n"], row["improved"], row["increased"], row["decreased"]) == (8, 1.0, 0.5, 0.0)
    # L_C, moderate: m1 as above; m2 = -0.01 + ... -> -0.015, 0.005, -0.025, -0.005: one improved
    row = shares[(shares["loss"] == "L_C") & (shares["group"] == "Moderate")].iloc[0]
    assert (row["n"], row["improved"], row["increased"], row["decreased"]) == (8, 5 / 8, 2 / 8, 0.0)


def write_results(folder: Path, frame: pd.DataFrame) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    frame.to_csv(folder / "results.csv", index=False)
    return folder


def test_make_report_writes_everything_and_notes_the_skipped_figure(tmp_path, caplog):
    folder = write_results(tmp_path / "cv", fabricated(phantom=True))
    with caplog.at_level("WARNING"):
        written = make_report(folder)
    out = folder / "report"
    for name in ("table1.md", "table1.csv", "table1_long.csv", "pvalues.csv", "slice_shares.csv", "boxplots.png",
                 "phantom_truth.csv", "fat_fraction.png", "loss_difference.csv", "report.md", "summary.md"):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    assert not (out / "fig3.png").exists() and not (out / "pathology_coverage.csv").exists()
    summary = (out / "summary.md").read_text()
    assert "| Moderate | 0.600 ± 0.071 | 0.620 ± 0.028 | 0.750 ± 0.071 |" in summary
    assert "L_AC ahead in all 2 units" in summary and "2 patients are too few to bound it at 95 %" in summary
    truth_rows = [line for line in summary.splitlines() if line.startswith("| L_AC (a), w_c=1 | Severe |")]
    assert len(truth_rows) == 1  # the phantom table, one row per setting and group
    assert any("Figure 3 skipped" in note for note in written["notes"])
    assert any("G's pathology coverage skipped" in note and "no DONE file" in note for note in written["notes"])
    assert "Figure 3 skipped" in caplog.text
    report = (out / "report.md").read_text()
    assert "How sure: L_AC - L_C" in report and "L_AC ahead in all 2 units" in report
    assert "| Moderate | 0.600 ± 0.071 | 0.620 ± 0.028 | 0.750 ± 0.071 |" in report
    assert "![Box plots](boxplots.png)" in report and "Figure 3 skipped" in report
    truth = pd.read_csv(out / "phantom_truth.csv")
    row = truth[(truth["loss"] == "L_AC") & (truth["group"] == "Pathological")].iloc[0]
    assert row["ff_mae_mean"] == pytest.approx(0.1) and row["psnr_mean"] == pytest.approx(20.5)
    assert pd.read_csv(out / "table1.csv").columns[0] == "Group"


def test_report_without_phantom_columns_skips_the_phantom_section(tmp_path):
    folder = write_results(tmp_path / "cv", fabricated())
    written = make_report(folder, tmp_path / "elsewhere")
    assert not (tmp_path / "elsewhere" / "phantom_truth.csv").exists()
    assert any("phantom" in note for note in written["notes"])


def load_tool():
    spec = importlib.util.spec_from_file_location("report_tool", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cli_errors_on_missing_file_and_columns(tmp_path, capsys):
    tool = load_tool()
    assert tool.main([str(tmp_path)]) == 2
    assert "results file not found" in capsys.readouterr().err
    write_results(tmp_path, fabricated().drop(columns=["repetition", "group"]))
    assert tool.main([str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "missing column(s) repetition, group" in err


def tiny_grid(tiny_model, folder: Path) -> Path:
    """results.csv of an L_C and an L_AC run (L_AC better on slice 4) whose DONE files both name the tiny model."""
    rows = []
    for loss in ("L_C", "L_AC"):
        for subject, group in (("M01", "moderate"), ("S01", "severe"), ("S02", "severe")):
            for z in (0, 4):
                rows.append(dict(run=f"{loss}_w1_f0_r0", loss=loss, w_c=1.0, fold=0, repetition=0, subject=subject,
                                 group=group, slice=z, dice_original=0.5,
                                 dice_translated=0.5 + (0.1 * z / 4 if loss == "L_AC" else 0.0)))
    folder = write_results(folder, pd.DataFrame(rows))
    for loss in ("L_C", "L_AC"):
        run_dir = folder / "runs" / f"{loss}_w1_f0_r0"
        run_dir.mkdir(parents=True)
        (run_dir / "DONE").write_text(json.dumps(dict(config=str(tiny_model.config),
                                                      checkpoint=str(tiny_model.checkpoint), loss=loss, w_c=1.0,
                                                      fold=0, repetition=0)))
    return folder


def test_cli_progress_bars_on_stderr_unless_no_progress(tiny_model, tmp_path, capsys):
    """Fig. 3 and the coverage read checkpoints: a bar each on stderr, none with --no-progress; stdout unchanged."""
    tool = load_tool()
    folder = tiny_grid(tiny_model, tmp_path / "cv")
    assert tool.main([str(folder), "--fig3-slices", "1"]) == 0
    shown = capsys.readouterr()
    assert "report: fig3: 100%" in shown.err and "1/1" in shown.err
    assert "report: coverage: 100%" in shown.err and "2/2" in shown.err
    assert "report:" not in shown.out and "# Summary" in shown.out
    assert tool.main([str(folder), "--fig3-slices", "1", "--no-progress"]) == 0
    quiet = capsys.readouterr()
    assert "report:" not in quiet.err and "%|" not in quiet.err
    assert quiet.out == shown.out


def test_fig3_from_done_files(tiny_model, tmp_path, capsys):
    """Fig. 3 re-translates slices with the runs' checkpoints (both runs point at the tiny model here)."""
    folder = tiny_grid(tiny_model, tmp_path / "cv")
    from mmac.report.figures import fig3

    path, chosen = fig3(check_results(pd.read_csv(folder / "results.csv")), folder, tmp_path / "fig3.png", n=2)
    assert path.is_file()
    assert list(chosen["subject"]) == ["S01", "S02"] and list(chosen["slice"]) == [4, 4]  # severe, largest gain
    # same checkpoint for both losses: same translation, same Dice
    np.testing.assert_allclose(chosen["dice_L_C_recomputed"], chosen["dice_L_AC_recomputed"])
    assert chosen["dice_original_recomputed"].between(0, 1).all()
    capsys.readouterr()
    written = make_report(folder)
    assert "%|" not in capsys.readouterr().err  # the library draws no bars unless asked (progress=True)
    report = (folder / "report" / "report.md").read_text()
    assert "fig3.png" in written["files"] and "![Fig. 3](fig3.png)" in report
    # G's pathology from the same checkpoints: both settings alike, beside the tiny cohort's patients.
    coverage = pd.read_csv(folder / "report" / "pathology_coverage.csv")
    assert list(coverage["what"]) == ["G(y), L_C (b), w_c=1", "G(y), L_AC (a), w_c=1", "patients, moderate",
                                      "patients, severe"]
    assert coverage["fat_fraction_mean"].iloc[0] == pytest.approx(coverage["fat_fraction_mean"].iloc[1])
    assert list(coverage["n"]) == [1, 1, 1, 2]
    assert coverage["fat_fraction_mean"].between(0, 1).all()
    assert "What L_AC's F learns from" in report
    # F's change of the held-out healthy subjects, from the same checkpoints: both settings alike.
    change = pd.read_csv(folder / "report" / "healthy_change.csv")
    assert list(change["setting"]) == ["L_C (b), w_c=1", "L_AC (a), w_c=1"]
    assert change["change_mean"].iloc[0] == pytest.approx(change["change_mean"].iloc[1])
    assert (change["change_mean"] > 0).all() and list(change["n_runs"]) == [1, 1]
    assert (change["n_subjects"] >= 1).all()
    assert "## What F does to healthy thighs" in report and "healthy_change.csv" in report
    runs = pd.read_csv(folder / "report" / "runs.csv")
    assert set(runs["run"]) == {"L_C_w1_f0_r0", "L_AC_w1_f0_r0"} and list(runs["n_lowered"]) == [0, 0]
    assert "## Runs" in report and "No run's F lowered the mean Dice" in report
    difference = pd.read_csv(folder / "report" / "healthy_change_difference.csv")
    assert list(difference["n_units"]) == [1] and difference["mean"].iloc[0] == pytest.approx(0.0, abs=1e-9)
    assert "Training: the paper's losses only (adversarial, cycle, identity); no run adds a fidelity term." in report


def _units_frame(differences):
    """One severe and one moderate patient per (fold, repetition) unit; L_AC - L_C = differences[unit]."""
    rows = []
    for unit, diff in enumerate(differences):
        for loss, dice in (("L_C", 0.6), ("L_AC", 0.6 + diff)):
            for subject, group in ((f"s{unit}", "severe"), (f"m{unit}", "moderate")):
                for z, offset in ((0, -0.01), (4, 0.01)):  # slice offsets cancel in the patient mean
                    rows.append(dict(run=f"{loss}_u{unit}", loss=loss, w_c=1.0, fold=unit, repetition=0,
                                     subject=subject, group=group, slice=z, dice_original=0.5,
                                     dice_translated=dice + offset))
    return check_results(pd.DataFrame(rows))


def test_loss_difference_spread_by_hand():
    from mmac.report.tables import loss_difference_spread

    mixed = loss_difference_spread(_units_frame([0.10, -0.05]))
    severe = mixed[mixed["group"] == "Severe"].iloc[0]
    assert severe["n_units"] == 2
    assert severe["mean"] == pytest.approx(0.025)
    assert severe["std"] == pytest.approx(np.sqrt(2 * 0.075 ** 2))
    assert (severe["min"], severe["max"]) == (pytest.approx(-0.05), pytest.approx(0.10))
    assert severe["verdict"].startswith("within the spread")
    ahead = loss_difference_spread(_units_frame([0.02, 0.04, 0.03]))
    assert set(ahead["verdict"]) == {"L_AC ahead in all 3 units"}
    behind = loss_difference_spread(_units_frame([-0.02, -0.01]))
    assert set(behind["verdict"]) == {"L_C ahead in all 2 units"}
    # 95 % t-interval of the mean over the 2 units: 0.025 ± t(0.975, 1) · s / sqrt(2), t(0.975, 1) = 12.7062
    half = 12.7062047 * np.sqrt(2 * 0.075 ** 2) / np.sqrt(2)
    assert (severe["ci_low"], severe["ci_high"]) == (pytest.approx(0.025 - half), pytest.approx(0.025 + half))
    single = loss_difference_spread(_units_frame([0.02]))
    assert set(single["verdict"]) == {"one unit: no spread measured"} and single["std"].isna().all()
    assert (single["ci_low"] == -np.inf).all() and (single["ci_high"] == np.inf).all()
    only_one_loss = _units_frame([0.02])
    assert loss_difference_spread(only_one_loss[only_one_loss["loss"] == "L_AC"]).empty
    # Another score: the spread of its L_AC - L_C, by the same units.
    frame = _units_frame([0.10, -0.05]).assign(dice_infiltration_only=lambda f: 2 * f["dice_translated"])
    doubled = loss_difference_spread(frame, column="dice_infiltration_only")
    severe = doubled[doubled["group"] == "Severe"].iloc[0]
    assert severe["mean"] == pytest.approx(0.05) and severe["max"] == pytest.approx(0.20)
    with pytest.raises(KeyError, match="ssim"):
        loss_difference_spread(frame, column="ssim")


def test_coverage_table_by_hand():
    from mmac.report.tables import coverage_table

    rows = pd.DataFrame([
        # two L_AC runs: G's mean over healthy subjects 0.2 and 0.4; one L_C run: 0.3
        dict(run="a0", loss="L_AC", w_c=1.0, subject="H1", group="healthy", source="G(y)", fat_fraction=0.1),
        dict(run="a0", loss="L_AC", w_c=1.0, subject="H2", group="healthy", source="G(y)", fat_fraction=0.3),
        dict(run="a1", loss="L_AC", w_c=1.0, subject="H1", group="healthy", source="G(y)", fat_fraction=0.4),
        dict(run="c0", loss="L_C", w_c=1.0, subject="H1", group="healthy", source="G(y)", fat_fraction=0.3),
        # patients, listed once per run: counted once
        *[dict(run=r, loss="L_AC", w_c=1.0, subject=s, group=g, source="real", fat_fraction=f)
          for r in ("a0", "a1") for s, g, f in (("M1", "moderate", 0.2), ("S1", "severe", 0.4),
                                                ("S2", "severe", 0.6))],
    ])
    table = coverage_table(rows)
    assert list(table["what"]) == ["G(y), L_C (b), w_c=1", "G(y), L_AC (a), w_c=1", "patients, moderate",
                                   "patients, severe"]
    np.testing.assert_allclose(table["fat_fraction_mean"], [0.3, 0.3, 0.2, 0.5])
    np.testing.assert_allclose(table["fat_fraction_std"], [np.nan, np.sqrt(0.02), np.nan, np.sqrt(0.02)])
    assert list(table["n"]) == [1, 2, 1, 2] and list(table["over"]) == ["runs", "runs", "patients", "patients"]
    # A healthy subject without a muscle mask (NaN) is left out; with none measured, only the patients remain.
    extra = pd.DataFrame([dict(run="c0", loss="L_C", w_c=1.0, subject="H9", group="healthy", source="G(y)",
                               fat_fraction=np.nan)])
    pd.testing.assert_frame_equal(coverage_table(pd.concat([rows, extra], ignore_index=True)), table)
    no_masks = rows.assign(fat_fraction=lambda f: f["fat_fraction"].where(f["source"] == "real"))
    assert list(coverage_table(no_masks)["what"]) == ["patients, moderate", "patients, severe"]


def test_run_table_by_hand():
    from mmac.report.tables import run_table

    rows = []
    # run a (L_AC): M1 0.5 -> 0.6, S1 0.4 -> 0.3 (two slices, mean gain -0.1); run b (L_C): M1 0.5 -> 0.55 only
    for run, loss, subject, group, pairs in (
            ("a", "L_AC", "M1", "moderate", [(0.5, 0.6)]), ("a", "L_AC", "S1", "severe", [(0.4, 0.2), (0.4, 0.4)]),
            ("b", "L_C", "M1", "moderate", [(0.5, 0.55)])):
        for z, (orig, trans) in enumerate(pairs):
            rows.append(dict(run=run, loss=loss, w_c=1.0, fold=0, repetition=0, subject=subject, group=group,
                             slice=z, dice_original=orig, dice_translated=trans))
    table = run_table(check_results(pd.DataFrame(rows)))
    assert list(table["run"]) == ["a", "b"]  # lowest gain first: a's (0.1 - 0.1) / 2 = 0.0 < b's 0.05
    np.testing.assert_allclose(table["gain"], [0.0, 0.05], atol=1e-12)
    np.testing.assert_allclose(table["dice_original"], [0.45, 0.5])
    np.testing.assert_allclose(table["severe_gain"], [-0.1, np.nan])
    assert list(table["n_lowered"]) == [1, 0] and list(table["n_patients"]) == [2, 1]
    assert not table["outlier"].any()  # fewer than 5 runs per setting: not judged
    from mmac.report.report import _runs_section

    lowered = "\n".join(_runs_section(table.assign(gain=[-0.02, 0.05])))
    assert "**1 of 2 runs lowered the mean Dice of their pathological test patients**: a (-0.020)" in lowered


def test_run_table_marks_a_run_far_below_its_setting():
    from mmac.report.tables import run_table

    # Six L_AC runs with gains 0.05, 0.06, 0.07, 0.08, 0.09 and -0.10: median 0.065, MAD 0.015;
    # modified z of -0.10 = 0.6745 * (-0.165) / 0.015 = -7.4 < -3.5; of 0.05: -0.67. Five L_C runs alike, no outlier.
    rows = []
    for loss, gains in (("L_AC", [0.05, 0.06, 0.07, 0.08, 0.09, -0.10]), ("L_C", [0.05, 0.06, 0.07, 0.08, 0.09])):
        for k, gain in enumerate(gains):
            rows.append(dict(run=f"{loss}_{k}", loss=loss, w_c=1.0, fold=k, repetition=0, subject="S1",
                             group="severe", slice=0, dice_original=0.5, dice_translated=0.5 + gain))
    table = run_table(check_results(pd.DataFrame(rows)))
    assert list(table.loc[table["outlier"], "run"]) == ["L_AC_5"]
    from mmac.report.report import _runs_section

    text = "\n".join(_runs_section(table))
    assert "**1 of 11 runs lowered" in text and "1 run(s) lie far below the other runs of their setting" in text
    assert "L_AC_5 (-0.100)." in text
    # A run only a little below its setting's others is not marked: 0.04 among 0.05-0.09 has z = -1.12.
    rows[5]["dice_translated"] = 0.54
    assert not run_table(check_results(pd.DataFrame(rows)))["outlier"].any()


def test_healthy_change_table_by_hand():
    from mmac.report.tables import healthy_change_table

    def healthy(run, loss, subject, held_out, change, bright, dark):
        return dict(run=run, loss=loss, w_c=1.0, subject=subject, group="healthy", source="G(y)", fat_fraction=0.2,
                    held_out=held_out, change=change, bias_bright=bright, bias_dark=dark)

    rows = pd.DataFrame([
        # L_AC run a0: held-out H1, H2 (means 2.0 / -10 / -4); H3 is a training subject and left out
        healthy("a0", "L_AC", "H1", True, 1.0, -8.0, -3.0), healthy("a0", "L_AC", "H2", True, 3.0, -12.0, -5.0),
        healthy("a0", "L_AC", "H3", False, 9.0, -90.0, -90.0),
        # L_AC run a1 (another fold): held-out H3 (4.0 / -20 / -6)
        healthy("a1", "L_AC", "H3", True, 4.0, -20.0, -6.0), healthy("a1", "L_AC", "H1", False, 9.0, 0.0, 0.0),
        healthy("c0", "L_C", "H1", True, 1.5, -2.0, 1.0),
        dict(run="a0", loss="L_AC", w_c=1.0, subject="S1", group="severe", source="real", fat_fraction=0.5),
    ])
    table = healthy_change_table(rows)
    assert list(table["setting"]) == ["L_C (b), w_c=1", "L_AC (a), w_c=1"]
    np.testing.assert_allclose(table["change_mean"], [1.5, 3.0])
    np.testing.assert_allclose(table["change_std"], [np.nan, np.sqrt(2.0)])
    np.testing.assert_allclose(table["bias_bright_mean"], [-2.0, -15.0])
    np.testing.assert_allclose(table["bias_dark_mean"], [1.0, -5.0])
    assert list(table["n_runs"]) == [1, 2] and list(table["n_subjects"]) == [1, 3]
    # No held-out healthy subject, or rows from before the scores existed: an empty table.
    assert healthy_change_table(rows.assign(held_out=False)).empty
    assert healthy_change_table(rows.drop(columns=["change"])).empty


def test_healthy_change_section_without_a_noise_level():
    """Scans with a zeroed background give no change (NaN): the section says why instead of failing."""
    from mmac.report.report import _healthy_change_section

    change = pd.DataFrame([dict(setting="L_AC (a), w_c=1", change_mean=np.nan, change_std=np.nan,
                                bias_bright_mean=-3.0, bias_bright_std=1.0, bias_dark_mean=-1.0,
                                bias_dark_std=0.5, n_runs=2, n_subjects=3)])
    text = _healthy_change_section(change, pd.DataFrame())
    assert "change is undefined in every run" in text and "Largest" not in text
    # One setting scored: the largest is named among the scored ones only.
    both = pd.concat([change, change.assign(setting="L_C (b), w_c=1", change_mean=2.5)], ignore_index=True)
    assert "Largest: L_C (b), w_c=1 changes held-out healthy thighs by 2.5 times" in _healthy_change_section(
        both, pd.DataFrame())


def test_healthy_change_difference_by_hand():
    from mmac.report.tables import healthy_change_difference

    def healthy(loss, fold, subject, change, held_out=True, w_c=1.0):
        return dict(run=f"{loss}_{fold}_{w_c}", loss=loss, w_c=w_c, fold=fold, repetition=0, subject=subject,
                    group="healthy", source="G(y)", held_out=held_out, change=change)

    rows = pd.DataFrame([
        # fold 0: L_AC 2.0 (mean of 1 and 3), L_C 3.0 -> -1.0; fold 1: L_AC 2.0, L_C 4.5 -> -2.5
        healthy("L_AC", 0, "H1", 1.0), healthy("L_AC", 0, "H2", 3.0), healthy("L_C", 0, "H1", 2.0),
        healthy("L_C", 0, "H2", 4.0), healthy("L_AC", 0, "H9", 50.0, held_out=False),
        healthy("L_AC", 1, "H3", 2.0), healthy("L_C", 1, "H3", 4.5),
        # w_c = 4: one unit, L_AC changes more; a fold with L_AC only is not a unit
        healthy("L_AC", 0, "H1", 5.0, w_c=4.0), healthy("L_C", 0, "H1", 4.0, w_c=4.0),
        healthy("L_AC", 1, "H3", 9.0, w_c=4.0),
    ])
    table = healthy_change_difference(rows)
    assert list(table["w_c"]) == [1.0, 4.0] and list(table["n_units"]) == [2, 1]
    np.testing.assert_allclose(table["mean"], [-1.75, 1.0])
    np.testing.assert_allclose(table["std"], [np.sqrt(2 * 0.75 ** 2), np.nan])
    np.testing.assert_allclose(table[["min", "max"]].to_numpy(), [[-2.5, -1.0], [1.0, 1.0]])
    assert list(table["verdict"]) == ["L_AC changes less in all 2 units", "one unit: no spread measured"]
    mixed = rows.copy()
    mixed.loc[(mixed["loss"] == "L_C") & (mixed["fold"] == 1), "change"] = 1.0  # fold 1: +1.0
    assert healthy_change_difference(mixed)["verdict"].iloc[0] == "within the spread: the sign changes between units"
    assert healthy_change_difference(rows[rows["loss"] == "L_AC"]).empty
    assert healthy_change_difference(rows.drop(columns=["fold"])).empty


def test_training_terms_name_each_runs_fidelity_term(tmp_path):
    """The report's training line comes from each run's own config: with, without, and a run it cannot read."""
    from mmac.report.report import training_terms

    folder = tmp_path / "cv"
    configs = {"L_AC_a": "model = dict(type='M', fidelity_loss=dict(type='TranslationFidelityLoss', "
                         "loss_weight=4.0, scale=0.1))\n",
               "L_C_a": "model = dict(type='M')\n"}
    for run, text in configs.items():
        run_dir = folder / "runs" / run
        run_dir.mkdir(parents=True)
        (run_dir / "run_config.py").write_text(text)
        (run_dir / "iter_1.pth").write_bytes(b"")
        (run_dir / "DONE").write_text(json.dumps(dict(config=str(run_dir / "run_config.py"),
                                                      checkpoint=str(run_dir / "iter_1.pth"))))
    results = pd.DataFrame(dict(run=["L_AC_a", "L_AC_a", "L_C_a"]))
    assert training_terms(results, folder) == (
        "Training: 1 run(s) (L_AC_a) adds a fidelity term on F that is not in the paper, "
        "`TranslationFidelityLoss(loss_weight=4.0, scale=0.1)` (`mmac.losses.fidelity`); "
        "1 run(s) (L_C_a) without a fidelity term.")
    assert training_terms(results[results["run"] == "L_AC_a"], folder).startswith(
        "Training: every run adds a fidelity term on F")
    with pytest.raises(FileNotFoundError, match="no DONE file"):
        training_terms(pd.DataFrame(dict(run=["missing"])), folder)


def test_report_sets_preservation_against_half_a_pixel_of_blur(tmp_path):
    """Per group, each setting's preservation is said to be above or below the blur's on the same slices."""
    frame = fabricated(phantom=True)
    # L_C moves the rest of the thigh by 3.0 noise levels, L_AC by 1.0; the blur scores 2.0 on every slice.
    frame = frame.assign(preservation=np.where(frame["loss"] == "L_C", 3.0, 1.0), preservation_blur=2.0)
    folder = write_results(tmp_path / "cv", frame)
    make_report(folder)
    report = (folder / "report" / "report.md").read_text()
    assert "**Preservation against half a pixel of blur**" in report
    for group in ("Moderate", "Severe"):
        assert (f"- {group}: half a pixel of blur scores 2.00; L_C (b), w_c=1 3.00 (more than the blur), "
                f"L_AC (a), w_c=1 1.00 (less than the blur).") in report
    # Results without the column (runs scored before it existed) get no such line.
    older = write_results(tmp_path / "older", fabricated(phantom=True).assign(preservation=1.0))
    make_report(older)
    assert "half a pixel of blur scores" not in (older / "report" / "report.md").read_text()


def test_report_states_the_interval_of_l_ac_minus_l_c():
    from mmac.report.report import _interval_lines

    # 7 severe patients, L_AC - L_C = 0.01 k for k = 1..7 (one slice each, one unit).
    rows = [dict(run=f"{loss}_0", loss=loss, w_c=1.0, fold=0, repetition=0, subject=f"s{k}", group="severe",
                 slice=0, dice_original=0.5, dice_translated=0.6 + (0.01 * k if loss == "L_AC" else 0.0))
            for loss in ("L_C", "L_AC") for k in range(1, 8)]
    tests = pvalues(check_results(pd.DataFrame(rows)))
    row = tests[(tests["comparison"] == "L_AC vs L_C") & (tests["group"] == "Severe")].iloc[0]
    # Walsh averages of 0.01 k: 0.01, 0.015, 0.02 (twice), ... 0.06 (twice), 0.065, 0.07; the median is 0.04.
    # n = 7: P(W+ <= 2) = 3/128 <= 0.025 < P(W+ <= 3) = 5/128, so c = 3: [W_(3), W_(26)] = [0.02, 0.06].
    assert row["shift"] == pytest.approx(0.04)
    assert (row["ci_low"], row["ci_high"]) == (pytest.approx(0.02), pytest.approx(0.06))
    assert row["pvalue"] == pytest.approx(2 / 128)
    text = "\n".join(_interval_lines(tests))
    assert ("w_c=1, severe patients (7): L_AC - L_C +0.0400 per patient (Hodges-Lehmann), 95 % interval +0.0200 "
            "to +0.0600") in text
    assert "zero is not." in text
    few = "\n".join(_interval_lines(pvalues(check_results(fabricated()))))
    assert "2 patients are too few to bound it at 95 %." in few
