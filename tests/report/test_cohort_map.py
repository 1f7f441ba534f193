"""The cohort map (mmac.report.cohort_map): pairing, statistics against independent computations, the CLI."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mmac.report.cohort_map import Cohort, Point, cohort_differences, cohort_map, read_spec, seed_share

REPO = Path(__file__).resolve().parents[2]


def _write_results(folder: Path, dice: dict[str, dict[str, list[float]]], removal: float = 0.5) -> Path:
    """results.csv with, per loss and severe subject, one row per slice Dice given; a healthy row for noise."""
    rows = []
    for loss, by_subject in dice.items():
        for subject, values in by_subject.items():
            for k, value in enumerate(values):
                rows.append(dict(run=f"{loss}_wc1_f0_r0", loss=loss, w_c=1.0, fold=0, repetition=0, subject=subject,
                                 group="severe", slice=k, dice_original=0.7, dice_translated=value,
                                 removal=removal if loss == "L_AC" else removal / 2, preservation=3.0))
        rows.append(dict(run=f"{loss}_wc1_f0_r0", loss=loss, w_c=1.0, fold=0, repetition=0, subject="H01",
                         group="healthy", slice=0, dice_original=0.9, dice_translated=0.1, removal=np.nan,
                         preservation=np.nan))
    folder.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(folder / "results.csv", index=False)
    return folder


def _cohort(tmp_path, name, seed, ac, c):
    subjects = [f"S{i:02d}" for i in range(1, len(ac) + 1)]
    folder = _write_results(tmp_path / name, {
        "L_AC": {s: [v, v] for s, v in zip(subjects, ac, strict=True)},
        "L_C": {s: [v - 0.01, v + 0.01] for s, v in zip(subjects, c, strict=True)}})
    return Cohort(seed, folder, folder)


def test_differences_are_per_patient_means_paired_by_subject(tmp_path):
    cohort = _cohort(tmp_path, "a", 3, ac=[0.80, 0.70, 0.90], c=[0.78, 0.75, 0.85])
    d = cohort_differences(cohort)
    assert list(d["subject"]) == ["S01", "S02", "S03"]
    np.testing.assert_allclose(d["difference"], [0.02, -0.05, 0.05], atol=1e-12)
    np.testing.assert_allclose(d["removal_loss"], 0.5)
    np.testing.assert_allclose(d["removal_reference"], 0.25)
    assert (d["seed"] == 3).all()


def test_a_variant_is_paired_with_the_reference_of_another_folder(tmp_path):
    variant = _write_results(tmp_path / "v", {"L_AC": {"S01": [0.9], "S02": [0.8]}})
    paper = _write_results(tmp_path / "p", {"L_C": {"S01": [0.7], "S02": [0.75]}})
    d = cohort_differences(Cohort(0, variant, paper))
    np.testing.assert_allclose(d["difference"], [0.2, 0.05])
    other = _write_results(tmp_path / "o", {"L_C": {"S01": [0.7], "S09": [0.75]}})
    with pytest.raises(ValueError, match="different severe patients"):
        cohort_differences(Cohort(0, variant, other))


def test_seed_share_is_eta_squared_of_a_hand_example():
    # Seed 1: 1, 3 (mean 2); seed 2: 5, 7 (mean 6); grand mean 4. SS_between = 4 * 4 = 16, SS_total = 9+1+1+9 = 20.
    frame = pd.DataFrame({"seed": [1, 1, 2, 2], "difference": [1.0, 3.0, 5.0, 7.0]})
    share, p = seed_share(frame)
    assert share == pytest.approx(16 / 20)
    # F = (16 / 1) / (4 / 2) = 8 with (1, 2) degrees of freedom.
    from scipy.stats import f
    assert p == pytest.approx(f.sf(8.0, 1, 2))
    assert np.isnan(seed_share(frame[frame["seed"] == 1])[0])


def test_map_rows_pool_the_seeds_and_match_brute_force_hodges_lehmann(tmp_path):
    rng = np.random.default_rng(0)
    cohorts = []
    for seed in (3, 4, 5):
        ac = rng.uniform(0.7, 0.9, 8)
        c = ac - rng.normal(0.01 * seed - 0.04, 0.01, 8)
        cohorts.append(_cohort(tmp_path, f"s{seed}", seed, ac, c))
    table, patients = cohort_map([Point("p", "axis", tuple(cohorts))])
    assert list(table["seed"]) == ["3", "4", "5", "pooled"]
    pooled = table[table["seed"] == "pooled"].iloc[0]
    assert pooled["patients"] == 24 == len(patients)
    d = patients["difference"].to_numpy()
    walsh = [(d[i] + d[j]) / 2 for i in range(len(d)) for j in range(i, len(d))]
    assert pooled["shift"] == pytest.approx(np.median(walsh))
    assert pooled["ci_low"] <= pooled["shift"] <= pooled["ci_high"]
    means = [d[patients["seed"] == s].mean() for s in (3, 4, 5)]
    half = 4.302652729911275 * np.std(means, ddof=1) / np.sqrt(3)  # t(0.975, 2)
    assert pooled["seeds_low"] == pytest.approx(np.mean(means) - half)
    assert pooled["seeds_high"] == pytest.approx(np.mean(means) + half)
    assert pooled["ahead"] == int((d > 0).sum())


def test_spec_errors_name_the_point(tmp_path):
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"points": [{"name": "indep", "cohorts": []}]}))
    with pytest.raises(ValueError, match="indep"):
        read_spec(spec)
    with pytest.raises(FileNotFoundError):
        read_spec(tmp_path / "missing.json")


def test_cli_writes_table_and_figure(tmp_path):
    a = _cohort(tmp_path, "a", 3, ac=[0.80, 0.70, 0.90, 0.85, 0.8, 0.77], c=[0.78, 0.75, 0.85, 0.8, 0.81, 0.7])
    b = _cohort(tmp_path, "b", 4, ac=[0.81, 0.72, 0.91, 0.86, 0.8, 0.78], c=[0.79, 0.70, 0.85, 0.82, 0.79, 0.7])
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"points": [{"name": "default", "cohorts": [
        {"seed": 3, "loss_dir": str(a.loss_dir)}, {"seed": 4, "loss_dir": str(b.loss_dir)}]}]}))
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, str(REPO / "tools" / "cohort_map.py"), "--spec", str(spec), "--out",
                           str(out)], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    assert (out / "map.png").stat().st_size > 1000
    table = pd.read_csv(out / "map.csv")
    assert list(table["seed"].astype(str)) == ["3", "4", "pooled"]
    assert "pooled" in (out / "map.md").read_text()
    bad = subprocess.run([sys.executable, str(REPO / "tools" / "cohort_map.py"), "--spec", str(tmp_path / "x.json"),
                          "--out", str(out)], capture_output=True, text=True, cwd=REPO)
    assert bad.returncode != 0 and bad.stderr.strip().startswith("error:") and len(bad.stderr.strip().splitlines()) == 1


def test_a_point_may_compare_two_runs_of_the_same_loss(tmp_path):
    variant = _write_results(tmp_path / "v", {"L_AC": {"S01": [0.9], "S02": [0.8]}})
    paper = _write_results(tmp_path / "p", {"L_AC": {"S01": [0.85], "S02": [0.8]}, "L_C": {"S01": [0.1], "S02": [0.1]}})
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"points": [{"name": "variant vs paper's L_AC", "reference": "L_AC", "cohorts": [
        {"seed": 3, "loss_dir": str(variant), "reference_dir": str(paper)}]}]}))
    options, points = read_spec(spec)
    table, patients = cohort_map(points, **options)
    np.testing.assert_allclose(patients["difference"], [0.05, 0.0], atol=1e-12)


def test_coverage_reads_each_points_own_loss(tmp_path, monkeypatch):
    import mmac.report.cohort_map as cm

    asked = []
    monkeypatch.setattr(cm, "cohort_coverage", lambda cohort, loss, group: asked.append((cohort.seed, loss)) or
                        dict(g_fat_fraction=0.1 * cohort.seed, patient_fat_fraction=0.5, healthy_change=1.0))
    points = [Point("paper", "", (Cohort(3, tmp_path, tmp_path),)),
              Point("variant", "", (Cohort(4, tmp_path, tmp_path), Cohort(5, tmp_path, tmp_path)), "L_AC_F")]
    table = pd.DataFrame([dict(point=p.name, seed=s) for p in points for s in [str(c.seed) for c in p.cohorts]
                          + ["pooled"]])
    out = cm.add_coverage(table, points, "L_AC", "severe", log=lambda *_: None)
    assert asked == [(3, "L_AC"), (4, "L_AC_F"), (5, "L_AC_F")]
    pooled = out[(out["point"] == "variant") & (out["seed"] == "pooled")]
    assert pooled["g_fat_fraction"].item() == pytest.approx((0.4 + 0.5) / 2)


def test_coverage_of_the_same_runs_is_measured_once(tmp_path, monkeypatch):
    import mmac.report.cohort_map as cm

    asked = []
    monkeypatch.setattr(cm, "cohort_coverage", lambda cohort, loss, group: asked.append((cohort.seed, loss)) or
                        dict(g_fat_fraction=0.1 * cohort.seed, patient_fat_fraction=0.5, healthy_change=1.0))
    variant, paper, other = tmp_path / "variant", tmp_path / "paper", tmp_path / "other"
    points = [Point("vs L_C", "", (Cohort(3, variant, paper, (0,)),), "L_AUG"),
              Point("vs L_AC", "", (Cohort(3, variant / ".." / "variant", other, (0,)),), "L_AUG"),
              Point("two seeds", "", (Cohort(3, variant, paper, (0, 1)),), "L_AUG")]
    table = pd.DataFrame([dict(point=p.name, seed=s) for p in points for s in ("3", "pooled")])
    out = cm.add_coverage(table, points, "L_AC", "severe", log=lambda *_: None)
    assert asked == [(3, "L_AUG"), (3, "L_AUG")]  # the second point reads the first's runs; the third more runs
    np.testing.assert_allclose(out["g_fat_fraction"], 0.3)


def test_seed_components_of_a_hand_worked_two_by_two():
    from mmac.report.cohort_map import seed_components

    reps = pd.DataFrame(dict(seed=[3, 3, 4, 4], repetition=[0, 1, 0, 1], difference=[0.01, 0.03, -0.02, 0.00]))
    # Cohort means 0.02 and -0.01 (grand 0.005): MS_between = 2 * (0.015^2 + 0.015^2) / 1 = 0.0009;
    # MS_within = 4 * 0.01^2 / (2 * 1) = 0.0002, so the training seed's variance is 0.0002 and the cohort's
    # (0.0009 - 0.0002) / 2 = 0.00035, its share 0.00035 / 0.00055.
    c = seed_components(reps)
    assert c["training_sd"] == pytest.approx(0.0002 ** 0.5)
    assert c["cohort_sd"] == pytest.approx(0.00035 ** 0.5)
    assert c["cohort_share"] == pytest.approx(0.35 / 0.55)
    assert np.isnan(seed_components(reps[reps["repetition"] == 0])["training_sd"])  # one repetition each
    assert np.isnan(seed_components(reps.iloc[:3])["cohort_sd"])  # unbalanced
    flat = reps.assign(difference=[0.0, 0.02, 0.0, 0.02])  # the same cohorts: all spread is the training seed's
    assert seed_components(flat)["cohort_sd"] == 0.0 and seed_components(flat)["cohort_share"] == 0.0


def test_repetition_differences_pair_patients_within_each_repetition(tmp_path):
    from mmac.report.cohort_map import repetition_differences

    rows = []
    for rep, (ac, c) in enumerate([((0.80, 0.70), (0.78, 0.75)), ((0.90, 0.60), (0.80, 0.60))]):
        for loss, values in (("L_AC", ac), ("L_C", c)):
            for subject, value in zip(("S01", "S02"), values, strict=True):
                for k in range(2):  # two slices, the patient's mean is the value
                    rows.append(dict(run=f"{loss}_wc1_f0_r{rep}", loss=loss, w_c=1.0, fold=0, repetition=rep,
                                     subject=subject, group="severe", slice=k, dice_original=0.7,
                                     dice_translated=value))
    (tmp_path / "c").mkdir()
    pd.DataFrame(rows).to_csv(tmp_path / "c" / "results.csv", index=False)
    out = repetition_differences(Cohort(3, tmp_path / "c", tmp_path / "c"))
    assert list(out["repetition"]) == [0, 1] and list(out["patients"]) == [2, 2]
    # r0: (0.02 + -0.05) / 2 = -0.015; r1: (0.10 + 0.00) / 2 = 0.05
    np.testing.assert_allclose(out["difference"], [-0.015, 0.05], atol=1e-12)


def _two_repetitions(folder: Path) -> Path:
    """results.csv of one cohort with two training repetitions: r0 L_AC - L_C = +0.02 per patient, r1 -0.04."""
    rows = []
    for rep, (ac, c) in enumerate([(0.80, 0.78), (0.70, 0.74)]):
        for loss, value in (("L_AC", ac), ("L_C", c)):
            for subject in ("S01", "S02"):
                rows.append(dict(run=f"{loss}_wc1_f0_r{rep}", loss=loss, w_c=1.0, fold=0, repetition=rep,
                                 subject=subject, group="severe", slice=0, dice_original=0.7, dice_translated=value))
    folder.mkdir(parents=True)
    pd.DataFrame(rows).to_csv(folder / "results.csv", index=False)
    return folder


def test_a_point_may_read_some_repetitions_of_a_grown_folder(tmp_path):
    from mmac.report.cohort_map import repetition_differences

    folder = _two_repetitions(tmp_path / "c")
    np.testing.assert_allclose(cohort_differences(Cohort(3, folder, folder))["difference"], [-0.01, -0.01], atol=1e-12)
    np.testing.assert_allclose(cohort_differences(Cohort(3, folder, folder, (0,)))["difference"], [0.02, 0.02],
                               atol=1e-12)
    assert list(repetition_differences(Cohort(3, folder, folder, (1,)))["repetition"]) == [1]
    with pytest.raises(ValueError, match=r"no severe rows of loss 'L_AC' in repetitions \[2\]"):
        cohort_differences(Cohort(3, folder, folder, (2,)))
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"points": [{"name": "one seed", "repetitions": [1], "cohorts": [
        {"seed": 3, "loss_dir": str(folder)}, {"seed": 4, "loss_dir": str(folder), "repetitions": [0, 1]}]}]}))
    _, [point] = read_spec(spec)
    assert [c.repetitions for c in point.cohorts] == [(1,), (0, 1)]
    spec.write_text(json.dumps({"points": [{"name": "bad", "repetitions": [-1], "cohorts": [
        {"seed": 3, "loss_dir": str(folder)}]}]}))
    with pytest.raises(ValueError, match=r"'repetitions' of point 'bad' must be a non-empty list"):
        read_spec(spec)


def test_coverage_reads_the_runs_of_the_loss_and_repetitions_asked(tmp_path, monkeypatch):
    import mmac.apis.coverage as coverage
    import mmac.protocol.runs as runs
    from mmac.report.cohort_map import cohort_coverage

    for name in ("L_AC_wc1_f0_r0", "L_AC_wc1_f0_r1", "L_AC_F_wc1_f0_r0", "L_AC_wc1_f1_r1"):
        (tmp_path / "runs" / name).mkdir(parents=True)
        loss, repetition = name.rsplit("_wc", 1)[0], int(name[-1])
        (tmp_path / "runs" / name / "DONE").write_text(json.dumps(dict(loss=loss, repetition=repetition)))
    (tmp_path / "runs" / "L_AC_wc1_f2_r0").mkdir()  # an unfinished run: no DONE
    read = []
    monkeypatch.setattr(runs, "run_files", lambda out, run: read.append(run) or (run, run))
    monkeypatch.setattr(coverage, "model_coverage", lambda config, checkpoint, cohorts: [
        dict(source="G(y)", fat_fraction=0.2, group="healthy", subject="H01", held_out=True, change=1.0),
        dict(source="real", fat_fraction=0.5, group="severe", subject="S01")])
    cohort_coverage(Cohort(3, tmp_path, tmp_path, (1,)), "L_AC")
    assert read == ["L_AC_wc1_f0_r1", "L_AC_wc1_f1_r1"]
    read.clear()
    cohort_coverage(Cohort(3, tmp_path, tmp_path), "L_AC")
    assert read == ["L_AC_wc1_f0_r0", "L_AC_wc1_f0_r1", "L_AC_wc1_f1_r1"]  # never L_AC_F's runs
    with pytest.raises(FileNotFoundError, match=r"no finished L_AC run in repetitions \[5\]"):
        cohort_coverage(Cohort(3, tmp_path, tmp_path, (5,)), "L_AC")


def test_update_keeps_measured_points_without_their_folders_and_adds_new_ones(tmp_path):
    import shutil

    a = _cohort(tmp_path, "a", 3, ac=[0.80, 0.70, 0.90, 0.85], c=[0.78, 0.75, 0.85, 0.8])
    b = _cohort(tmp_path, "b", 4, ac=[0.81, 0.72, 0.91, 0.86], c=[0.79, 0.70, 0.85, 0.82])
    spec, out = tmp_path / "spec.json", tmp_path / "out"
    first = {"name": "first", "cohorts": [{"seed": 3, "loss_dir": str(a.loss_dir)}]}
    second = {"name": "second", "cohorts": [{"seed": 4, "loss_dir": str(b.loss_dir)}]}
    tool = [sys.executable, str(REPO / "tools" / "cohort_map.py"), "--spec", str(spec), "--out", str(out)]
    spec.write_text(json.dumps({"points": [first]}))
    assert subprocess.run(tool, capture_output=True, text=True, cwd=REPO).returncode == 0
    before = pd.read_csv(out / "map.csv")
    shutil.rmtree(a.loss_dir)                                   # the first point's folder is gone
    spec.write_text(json.dumps({"points": [second, first]}))    # the new point listed first
    proc = subprocess.run(tool + ["--update"], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    table, patients = pd.read_csv(out / "map.csv"), pd.read_csv(out / "patients.csv")
    assert list(table["point"]) == ["second"] * 2 + ["first"] * 2
    pd.testing.assert_frame_equal(table[table["point"] == "first"].reset_index(drop=True)[before.columns], before)
    fresh = cohort_differences(b)                                # the new point, computed independently
    np.testing.assert_allclose(patients.loc[patients["point"] == "second", "difference"], fresh["difference"])
    assert list(patients["point"].drop_duplicates()) == ["second", "first"]
    assert "first" in (out / "map.md").read_text() and "second" in (out / "map.md").read_text()

    spec.write_text(json.dumps({"points": [second]}))            # the map's "first" would be lost: refused
    proc = subprocess.run(tool + ["--update"], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode != 0 and "'first'" in proc.stderr
    proc = subprocess.run(tool[:-1] + [str(tmp_path / "nomap"), "--update"], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode != 0 and "no map" in proc.stderr


def test_run_signs_count_runs_ahead_and_cohorts_whose_runs_agree():
    from mmac.report.cohort_map import run_signs

    reps = pd.DataFrame(dict(seed=[3, 3, 3, 4, 4, 4, 5, 6, 6],
                             difference=[-0.01, -0.02, -0.001, 0.01, -0.01, 0.02, 0.03, 0.01, 0.0]))
    # cohort 3 all behind (one sign), 4 mixed, 5 one run only (no sign to hold), 6 a tie (not all ahead)
    assert run_signs(reps) == dict(runs=9, runs_ahead=4, cohorts_one_sign=1)
    assert run_signs(reps[reps["seed"] == 4]) == dict(runs=3, runs_ahead=2, cohorts_one_sign=0)
    assert run_signs(reps[reps["seed"] == 5]) == dict(runs=1, runs_ahead=1, cohorts_one_sign=0)


def test_map_counts_the_runs_ahead_per_cohort_and_pooled(tmp_path):
    from mmac.report.cohort_map import format_table

    cohorts = []
    for seed, per_rep in ((3, ((0.80, 0.78), (0.82, 0.79))), (4, ((0.70, 0.75), (0.74, 0.72)))):
        rows = []
        for rep, (ac, c) in enumerate(per_rep):
            for loss, value in (("L_AC", ac), ("L_C", c)):
                rows.append(dict(run=f"{loss}_wc1_f0_r{rep}", loss=loss, w_c=1.0, fold=0, repetition=rep,
                                 subject="S01", group="severe", slice=0, dice_original=0.7, dice_translated=value))
        (tmp_path / f"s{seed}").mkdir()
        pd.DataFrame(rows).to_csv(tmp_path / f"s{seed}" / "results.csv", index=False)
        cohorts.append(Cohort(seed, tmp_path / f"s{seed}", tmp_path / f"s{seed}"))
    one_run = _cohort(tmp_path, "one", 5, ac=[0.8, 0.7], c=[0.75, 0.72])
    table, _ = cohort_map([Point("two runs", "a", tuple(cohorts)), Point("one run", "a", (one_run,))])
    # seed 3: +0.02, +0.03 (both ahead); seed 4: -0.05, +0.02; seed 5: one run, +0.015
    assert list(table["runs"]) == [2, 2, 4, 1, 1] and list(table["runs_ahead"]) == [2, 1, 3, 1, 1]
    assert list(table["cohorts_one_sign"]) == [1, 0, 1, 0, 0]
    shown = format_table(table)
    assert list(shown["runs ahead"]) == ["2/2", "1/2", "3/4", "1/1", "1/1"]
    assert list(shown["one sign over runs"]) == ["yes", "no", "1 of 2 cohorts", "", ""]
    kept = format_table(table.drop(columns=["runs", "runs_ahead", "cohorts_one_sign"]))  # a map written before
    assert "runs ahead" not in kept


def test_map_figure_names_the_command_that_made_it(tmp_path, monkeypatch):
    import mmac.report.figures
    from mmac.report.cohort_map import map_figure

    titles = []
    monkeypatch.setattr(mmac.report.figures, "save_figure",
                        lambda fig, path: titles.append(fig.axes[0].get_title()) or Path(path))
    table, _ = cohort_map([Point("p", "a", (_cohort(tmp_path, "a", 3, ac=[0.8, 0.7], c=[0.78, 0.75]),))])
    map_figure(table, tmp_path / "m.png", source="docs/x/spec.json")
    map_figure(table, tmp_path / "m.png")
    assert "python tools/cohort_map.py --spec docs/x/spec.json" in titles[0]
    assert "--spec" not in titles[1] and titles[1].startswith("Where L_AC beats L_C")
