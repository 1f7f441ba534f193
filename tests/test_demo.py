"""The main job's plan: its runs, its seeds, which seeds a folder has finished, and tools/demo.py's checks."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mmac.demo import COHORT, FOLDS, demo_runs, finished_seeds, run_demo

REPO = Path(__file__).resolve().parents[1]


def test_demo_runs_pair_both_losses_on_both_folds():
    runs = demo_runs(seed=3)
    assert [(r.loss, r.fold, r.repetition, r.w_c) for r in runs] == [
        ("L_AC", 0, 3, 1.0), ("L_C", 0, 3, 1.0), ("L_AC", 1, 3, 1.0), ("L_C", 1, 3, 1.0)]
    assert {r.seed for r in runs if r.fold == 0} == {3000}  # both losses of a fold share the training seed
    assert FOLDS == (0, 1)
    # not the development cohort, not the protocol's, not the one that chose the make-up (docs/science.md)
    assert COHORT["seed"] not in (0, 2, 7)
    with pytest.raises(ValueError, match="seed must be >= 0"):
        demo_runs(seed=-1)
    for bad in (True, 1.0, "1"):
        with pytest.raises(TypeError, match="seed must be an integer"):
            demo_runs(seed=bad)


def test_demo_runs_at_another_cycle_weight():
    runs = demo_runs(seed=0, weight=4)
    assert {r.w_c for r in runs} == {4.0} and [r.name for r in runs][0] == "L_AC_wc4_f0_r0"
    assert demo_runs(weight=np.float32(0.5))[0].w_c == 0.5
    for bad in (0, -1.0):
        with pytest.raises(ValueError, match=r"weight \(w_c\) must be > 0"):
            demo_runs(weight=bad)
    with pytest.raises(ValueError, match=r"weight \(w_c\) must be finite"):
        demo_runs(weight=float("inf"))
    for bad in (True, "4", None):
        with pytest.raises(TypeError, match=r"weight \(w_c\) must be a real number"):
            demo_runs(weight=bad)


@pytest.mark.parametrize("rescore", [False, True])
def test_run_demo_rejects_bad_input_before_making_the_cohort(tmp_path, rescore):
    data, out = tmp_path / "cohort", tmp_path / "out"
    with pytest.raises(ValueError, match=r"weight \(w_c\) must be > 0"):
        run_demo(out_dir=str(out), data_dir=str(data), weight=0, rescore=rescore, log=lambda *_: None)
    with pytest.raises(ValueError, match="seed must be >= 0"):
        run_demo(out_dir=str(out), data_dir=str(data), seed=-2, rescore=rescore, log=lambda *_: None)
    assert not data.exists() and not out.exists()


def _done(out: Path, spec) -> None:
    folder = out / "runs" / spec.name
    folder.mkdir(parents=True)
    (folder / "DONE").write_text(json.dumps(dict(spec.to_dict(), run=spec.name)))


def test_finished_seeds_needs_every_run_of_a_seed(tmp_path):
    for spec in demo_runs(seed=0) + demo_runs(seed=2):
        _done(tmp_path, spec)
    for spec in demo_runs(seed=1)[:3]:  # seed 1 lacks its last run
        _done(tmp_path, spec)
    assert finished_seeds(str(tmp_path)) == [0, 2]
    assert finished_seeds(str(tmp_path / "empty")) == []
    assert finished_seeds(str(tmp_path), weight=4.0) == []  # the runs are at w_c = 1
    for spec in demo_runs(seed=5, weight=4.0):
        _done(tmp_path, spec)
    assert finished_seeds(str(tmp_path), weight=4.0) == [5]


def test_finished_runs_add_the_variant_where_its_seed_is_complete(tmp_path):
    from mmac.demo import VARIANT_CONFIG, VARIANT_LOSS, finished_runs

    for spec in demo_runs(seed=0) + demo_runs(seed=1):
        _done(tmp_path, spec)
    variant = {s: demo_runs((VARIANT_LOSS,), seed=s) for s in (0, 1, 2)}
    _done(tmp_path, variant[0][0])  # seed 0: the variant's first fold only
    for spec in variant[1] + variant[2]:  # seed 2: the variant without the paper's runs
        _done(tmp_path, spec)
    runs = finished_runs(str(tmp_path))
    assert runs == demo_runs(seed=0) + demo_runs(seed=1) + variant[1]
    _done(tmp_path, variant[0][1])
    assert finished_runs(str(tmp_path)) == demo_runs(seed=0) + demo_runs(seed=1) + variant[0] + variant[1]
    assert finished_runs(str(tmp_path / "empty")) == []
    assert Path(VARIANT_CONFIG).is_file() and "code_weight" in Path(VARIANT_CONFIG).read_text()


def test_variant_note_names_the_config_and_the_cohort(tmp_path):
    from mmac.demo import VARIANT_CONFIG, VARIANT_LOSS, append_variant_note

    summary = tmp_path / "summary.md"
    summary.write_text("# Table 1\n")
    append_variant_note(summary)
    text = summary.read_text()
    assert text.startswith("# Table 1\n") and f"## {VARIANT_LOSS}: beyond the paper" in text
    assert f"configs/{Path(VARIANT_CONFIG).name}" in text and f"{COHORT['severe']} severe patients" in text


def test_demo_tool_rejects_a_negative_seed():
    result = subprocess.run([sys.executable, str(REPO / "tools" / "demo.py"), "--seed", "-1"], capture_output=True,
                            text=True, cwd=REPO)
    assert result.returncode == 2 and "--seed must be >= 0" in result.stderr


def test_demo_tool_rejects_a_non_positive_weight(tmp_path):
    result = subprocess.run([sys.executable, str(REPO / "tools" / "demo.py"), "--weight", "0", "--out",
                             str(tmp_path / "out"), "--data", str(tmp_path / "cohort")], capture_output=True,
                            text=True, cwd=REPO)
    assert result.returncode == 2 and "--weight must be > 0, got 0.0" in result.stderr
    assert not (tmp_path / "cohort").exists() and not (tmp_path / "out").exists()


def test_demo_rescore_without_finished_runs_is_one_error_and_makes_nothing(tmp_path):
    result = subprocess.run([sys.executable, str(REPO / "tools" / "demo.py"), "--rescore", "--out",
                             str(tmp_path / "out"), "--data", str(tmp_path / "cohort")], capture_output=True,
                            text=True, cwd=REPO)
    assert result.returncode == 2 and "holds no finished demo run to rescore" in result.stderr, result.stderr
    assert not (tmp_path / "cohort").exists() and not (tmp_path / "out").exists()


def test_demo_tool_names_a_missing_config_and_makes_nothing(tmp_path):
    result = subprocess.run([sys.executable, str(REPO / "tools" / "demo.py"), "--config", str(tmp_path / "no.py"),
                             "--out", str(tmp_path / "out"), "--data", str(tmp_path / "cohort")],
                            capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 2 and f"--config {tmp_path / 'no.py'}: no such file" in result.stderr
    assert not (tmp_path / "cohort").exists() and not (tmp_path / "out").exists()


def test_summary_ends_with_the_map_headline(tmp_path):
    from mmac.demo import append_map_headline, map_headline

    table = tmp_path / "map.csv"
    table.write_text("point,seed,patients,shift,ci_low,ci_high,seeds_mean,seeds_low,seeds_high\n"
                     "default,3,13,-0.02,-0.04,-0.01,,,\n"
                     "default,4,13,-0.01,-0.02,0.00,,,\n"
                     "default,pooled,26,-0.015,-0.025,-0.008,-0.015,-0.08,0.05\n")
    text = map_headline(str(table))
    assert "| default | 3, 4 | 26 | -0.0150 (-0.0250 to -0.0080) | -0.0150 (-0.0800 to +0.0500) |" in text
    assert map_headline(str(tmp_path / "none.csv")) == ""
    summary = tmp_path / "summary.md"
    summary.write_text("# Table 1\n")
    append_map_headline(summary, str(table))
    written = summary.read_text()
    assert written.startswith("# Table 1\n") and "Where this cohort sits on the cohort map" in written
    assert f"phantom seed {COHORT['seed']}" in written and "-0.0150" in written


def test_main_job_trains_the_papers_losses_alone():
    from mmac.demo import CONFIG

    text = Path(CONFIG).read_text()
    assert Path(CONFIG).name == "ac_cyclegan_thigh_cpu.py" and "fidelity" not in text.split("_base_")[1]


@pytest.mark.parametrize("flag, variant", [([], True), (["--no-variant"], False), (["--variant"], True)])
def test_demo_tool_trains_the_variant_unless_told_not_to(tmp_path, monkeypatch, flag, variant):
    _, calls = _tool_calls(tmp_path, monkeypatch, ["--out", str(tmp_path / "out"), *flag])
    assert [c["variant"] for _, c in calls] == [variant] and calls[0][1]["losses"] == ["L_AC", "L_C"]


def test_demo_cohort_changes_only_what_it_is_given():
    from mmac.demo import cohort_tag, demo_cohort

    assert demo_cohort() == COHORT and cohort_tag(COHORT) == ""
    other = demo_cohort(phantom_seed=8)
    assert other == dict(COHORT, seed=8) and COHORT["seed"] != 8  # COHORT itself untouched
    made = demo_cohort(3, (10, 0, 4), 6)
    assert made == dict(COHORT, seed=3, healthy=10, moderate=0, severe=4, slices=6)
    assert cohort_tag(made) == "p3_10-0-4x6"
    assert cohort_tag(demo_cohort(np.int64(8))) == f"p8_{COHORT['healthy']}-{COHORT['moderate']}-{COHORT['severe']}x" \
        f"{COHORT['slices']}"


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(phantom_seed=-1), ValueError, "phantom seed must be >= 0"),
    (dict(phantom_seed=True), TypeError, "phantom seed must be an integer"),
    (dict(subjects=(1, 8, 12)), ValueError, "healthy subjects must be >= 2"),
    (dict(subjects=(20, -1, 12)), ValueError, "moderate subjects must be >= 0"),
    (dict(subjects=(20, 8, 1)), ValueError, "severe subjects must be >= 2"),
    (dict(subjects=(20, 8)), TypeError, "subjects must be three counts"),
    (dict(subjects="20 8 12"), TypeError, "subjects must be three counts"),
    (dict(subjects=(20, 8.0, 12)), TypeError, "moderate subjects must be an integer"),
    (dict(slices=0), ValueError, "slices must be >= 1"),
])
def test_demo_cohort_names_a_bad_value(kwargs, error, message):
    from mmac.demo import demo_cohort

    with pytest.raises(error, match=message):
        demo_cohort(**kwargs)


def _tool_calls(tmp_path, monkeypatch, argv):
    """tools/demo.py's main(argv) with run_demo replaced by a recorder; returns (exit code, run_demo's calls)."""
    import importlib.util

    import mmac.demo

    calls = []
    monkeypatch.setattr(mmac.demo, "run_demo", lambda *args, **kwargs: calls.append((args, kwargs)) or {})
    monkeypatch.chdir(tmp_path)
    spec = importlib.util.spec_from_file_location("demo_tool", REPO / "tools" / "demo.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    return tool.main(argv), calls


def test_demo_tool_names_the_folders_of_another_cohort(tmp_path, monkeypatch):
    _, calls = _tool_calls(tmp_path, monkeypatch, ["--phantom-seed", "8", "--seed", "2"])
    (out, data), kwargs = calls[0]
    assert (out, data) == ("work_dirs/demo_p8_20-8-12x12_seed2", "data/demo_cohort_p8_20-8-12x12")
    assert kwargs["cohort"] == dict(COHORT, seed=8) and kwargs["seed"] == 2
    _, calls = _tool_calls(tmp_path, monkeypatch, ["--subjects", "10", "2", "6", "--slices", "24", "--out", "o",
                                                   "--data", "d"])
    assert calls[0][0] == ("o", "d") and calls[0][1]["cohort"] == dict(COHORT, healthy=10, moderate=2, severe=6,
                                                                      slices=24)
    _, calls = _tool_calls(tmp_path, monkeypatch, [])  # the main job keeps its plain folders
    assert calls[0][0] == ("work_dirs/demo", "data/demo_cohort") and calls[0][1]["cohort"] == COHORT


def test_demo_tool_rejects_a_bad_cohort_and_makes_nothing(tmp_path):
    result = subprocess.run([sys.executable, str(REPO / "tools" / "demo.py"), "--subjects", "20", "8", "1"],
                            capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 2 and "severe subjects must be >= 2, got 1" in result.stderr, result.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_demo_folder_of_another_cohort_is_refused_before_training(tmp_path):
    from mmac.demo import demo_cohort, ensure_cohort

    small = demo_cohort(5, (2, 0, 2), 1)
    data = tmp_path / "cohort"
    ensure_cohort(str(data), workers=1, log=lambda *_: None, cohort=dict(small, size=32))
    with pytest.raises(ValueError, match="holds a cohort made with"):
        run_demo(out_dir=str(tmp_path / "out"), data_dir=str(data), cohort=small, log=lambda *_: None)
    assert not (tmp_path / "out").exists()
