"""Tests of the calibration measurement (histogram optimal-threshold Dice, calibration_report) and the CLI."""
import importlib.util
from itertools import combinations_with_replacement
from pathlib import Path

import numpy as np
import pytest

from mmac.phantom import (
    PRESERVATION_REFERENCES,
    calibration_report,
    histogram_threshold_dice,
    make_cohort,
    preservation_scale,
)

ROOT = Path(__file__).resolve().parents[2]


def _brute_force(image, mask):
    best = 0.0
    vals = np.unique(image)
    for lo, hi in combinations_with_replacement(vals, 2):
        pred = (image >= lo) & (image <= hi)
        best = max(best, 2 * (pred & mask).sum() / (pred.sum() + mask.sum()))
    return best


def test_histogram_dice_matches_brute_force_on_few_levels():
    rng = np.random.default_rng(0)
    for _ in range(5):
        image = rng.integers(0, 12, (9, 9)).astype(float)
        mask = rng.random((9, 9)) < 0.4
        dice, lo, hi = histogram_threshold_dice(image, mask)
        assert dice == pytest.approx(_brute_force(image, mask))
        pred = (image >= lo) & (image <= hi)
        assert dice == pytest.approx(2 * (pred & mask).sum() / (pred.sum() + mask.sum()))


def test_histogram_dice_hand_example():
    image = np.array([0.0, 1.0, 2.0, 3.0])
    mask = np.array([0, 1, 1, 0])
    assert histogram_threshold_dice(image, mask) == (1.0, 1.0, 2.0)


def test_calibration_report_groups(tmp_path):
    manifest = make_cohort(tmp_path / "c", healthy=1, moderate=1, severe=1, size=64, slices=5, progress=False)
    report = calibration_report(manifest, use_reference=False)
    assert set(report) == {"healthy", "moderate", "severe"}
    assert all(0.5 < v <= 1.0 for v in report.values())
    assert report["healthy"] > report["severe"]


def _cli():
    spec = importlib.util.spec_from_file_location("make_phantom_cli", ROOT / "tools" / "make_phantom.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("argv", [
    ["--healthy", "-1"], ["--size", "40"], ["--size", "16"], ["--slices", "0"],
    ["--healthy", "0", "--moderate", "0", "--severe", "0"], ["--workers", "0"], [],
])
def test_cli_rejects_bad_arguments(tmp_path, argv, capsys):
    argv = argv if argv == [] else ["--out", str(tmp_path / "o")] + argv
    with pytest.raises(SystemExit) as exc:
        _cli().main(argv)
    assert exc.value.code == 2
    assert "error" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_cli_writes_cohort_and_refuses_non_empty(tmp_path, capsys):
    cli = _cli()
    argv = ["--out", str(tmp_path / "o"), "--healthy", "1", "--moderate", "0", "--severe", "0", "--size", "32",
            "--slices", "1", "--no-progress"]
    assert cli.main(argv) == 0
    assert (tmp_path / "o" / "manifest.csv").is_file()
    assert cli.main(argv) == 2
    assert "--overwrite" in capsys.readouterr().err


def test_preservation_scale_orders_the_references():
    """Physics, not fitted numbers: the identity changes (almost) nothing, a perfect denoiser scores one noise
    level, and smoothing moves the anatomy by more the wider it is."""
    scale = preservation_scale(moderate=1, severe=1, size=64, slices=8, seed=3)
    assert set(scale) == set(PRESERVATION_REFERENCES)
    for group in ("moderate", "severe"):
        assert scale["identity"][group] < 0.3
        assert 0.9 < scale["perfect denoiser"][group] < 1.15
        assert scale["perfect denoiser"][group] < scale["gaussian 0.5 px"][group] < scale["gaussian 1 px"][group]
        assert scale["median 3 x 3"][group] > scale["perfect denoiser"][group]


def test_preservation_scale_rejects_a_cohort_without_patients():
    with pytest.raises(ValueError, match="moderate or severe"):
        preservation_scale(moderate=0, severe=0, size=32, slices=2)
    with pytest.raises(ValueError, match="every"):
        preservation_scale(moderate=1, severe=0, size=32, slices=2, every=0)


def test_cli_calibration_prints_the_preservation_scale(tmp_path, capsys):
    argv = ["--out", str(tmp_path / "o"), "--healthy", "1", "--moderate", "0", "--severe", "1", "--size", "32",
            "--slices", "4", "--no-progress", "--workers", "1", "--calibration"]
    assert _cli().main(argv) == 0
    out = capsys.readouterr().out
    assert "preservation error of reference outputs" in out
    line = next(row for row in out.splitlines() if row.strip().startswith("perfect denoiser"))
    assert len(line.split()) == 3  # the name's two words and the severe group's value
