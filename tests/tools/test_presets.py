"""tools/cross_validate.py --preset: what a preset fills in, what overrides it, the cohort guard, one tiny run."""
import importlib.util
import json
from pathlib import Path

import pandas as pd
import pytest

from mmac.protocol.presets import PRESETS, ensure_cohort, get_preset

TOOL = Path(__file__).resolve().parents[2] / "tools" / "cross_validate.py"


def load_tool():
    spec = importlib.util.spec_from_file_location("cross_validate_tool", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_presets_are_the_protocol_sizes_the_docs_promise():
    cpu, gpu = get_preset("cpu"), get_preset("gpu")
    assert (cpu.num_folds, cpu.weights, cpu.repeats) == (5, (1.0,), 2)  # 5 x 2 losses x 1 x 2 = 20 runs
    assert (gpu.num_folds, gpu.weights, gpu.repeats) == (5, (1.0,), 1)  # 10 runs per cohort
    # Both ends of the cohort map, two phantom seeds each, none of them the development, demo or CPU cohort.
    assert [(point, c["seed"], c.get("variation")) for point, _, c in gpu.points] == [
        ("default phantom", 3, None), ("default phantom", 4, None),
        ("independent slices", 3, {"independent_slices": True}),
        ("independent slices", 4, {"independent_slices": True})]
    assert all(c["size"] == 128 for _, _, c in gpu.points)
    assert cpu.cohort["size"] == 64 and gpu.cohort["size"] == 128
    for preset in PRESETS.values():
        assert Path(preset.config_path).is_file(), preset.name
        assert preset.cohort["seed"] == 2  # neither the development cohort (0) nor the demo's (1)
    with pytest.raises(ValueError, match="unknown preset 'tpu'; allowed: 'cpu', 'gpu', 'rehearsal'"):
        get_preset("tpu")


def test_preset_fills_unset_options_and_explicit_ones_win():
    tool = load_tool()
    args = tool.parse_args(["--preset", "cpu"])
    options = tool.apply_preset(args)
    assert args.out == "work_dirs/protocol_cpu" and args.fast and args.iters == 900
    assert (args.weights, args.repeats) == ([1.0], 2)
    assert options["data_root"] == str(Path("data/protocol_cpu").resolve())
    assert options["test_dataloader.dataset.num_folds"] == 5
    args = tool.parse_args(["--preset", "cpu", "--weights", "0.5", "--repeats", "1", "--epochs", "2", "--out", "x"])
    tool.apply_preset(args)
    assert (args.weights, args.repeats, args.iters, args.epochs, args.out) == ([0.5], 1, None, 2.0, "x")
    plain = tool.parse_args(["--out", "y"])
    assert tool.apply_preset(plain) == {} and (plain.weights, plain.repeats) == ([0.25, 0.5, 1.0], 8)
    with pytest.raises(SystemExit):
        tool.parse_args([])  # --out is required without a preset


def test_ensure_cohort_refuses_a_folder_with_another_cohort(tmp_path):
    cohort = dict(healthy=1, moderate=1, severe=1, size=32, slices=4, seed=2)
    manifest = ensure_cohort(str(tmp_path / "c"), cohort, workers=1, log=lambda *_: None)
    assert Path(manifest).is_file()
    assert json.loads((tmp_path / "c" / "cohort.json").read_text()) == cohort
    assert ensure_cohort(str(tmp_path / "c"), cohort, log=lambda *_: None) == manifest  # reused
    with pytest.raises(ValueError, match="holds a cohort made with"):
        ensure_cohort(str(tmp_path / "c"), dict(cohort, seed=3), log=lambda *_: None)
    (tmp_path / "c" / "cohort.json").unlink()
    with pytest.raises(ValueError, match="unknown settings"):
        ensure_cohort(str(tmp_path / "c"), cohort, log=lambda *_: None)


@pytest.mark.slow
def test_rehearsal_preset_runs_the_chain_and_writes_the_report(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    tool = load_tool()
    rc = tool.main(["--preset", "rehearsal", "--weights", "1", "--folds", "0", "--jobs", "1", "--no-progress",
                    "--out", str(tmp_path / "out")])
    assert rc == 0
    for name in ("default_s3", "independent_s3"):  # both ends of the map, each with its own cohort and report
        results = pd.read_csv(tmp_path / "out" / name / "results.csv")
        assert set(results["loss"]) == {"L_C", "L_AC"} and set(results["fold"]) == {0}
        assert {"removal", "removal_heavy", "preservation", "bias_bright", "bias_dark"} <= set(results.columns)
        assert (tmp_path / "data" / "protocol_rehearsal" / name / "cohort.json").is_file()
        report = (tmp_path / "out" / name / "report" / "report.md").read_text()
        assert "How sure: L_AC - L_C" in report
    cohort = json.loads((tmp_path / "data" / "protocol_rehearsal" / "independent_s3" / "cohort.json").read_text())
    assert cohort["variation"] == {"independent_slices": True}
    table = pd.read_csv(tmp_path / "out" / "map" / "map.csv")
    assert list(table["point"].unique()) == ["default phantom", "independent slices"]
    assert (tmp_path / "out" / "map" / "map.png").is_file()
