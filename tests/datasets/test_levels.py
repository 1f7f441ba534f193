"""Tissue levels per group after normalisation: a hand-made volume, the tiny cohort and the command line."""
import importlib.util
from pathlib import Path

import numpy as np
import pytest

from mmac.datasets.levels import level_summary, subject_levels, tissue_levels

ROOT = Path(__file__).resolve().parents[2]


def _thigh(fat=220.0, muscle=90.0, size=48, slices=3):
    """Fat disc with a muscle square inside, in air: levels known by construction."""
    yy, xx = np.mgrid[:size, :size]
    disc = (yy - size / 2) ** 2 + (xx - size / 2) ** 2 < 18 ** 2
    square = (abs(yy - size / 2) < 8) & (abs(xx - size / 2) < 8)
    plane = np.where(square, muscle, np.where(disc, fat, 0.0))
    return np.repeat(plane[..., None], slices, axis=2), np.repeat(square[..., None], slices, axis=2)


def test_levels_of_a_hand_made_volume():
    image, mask = _thigh()
    levels = subject_levels(image, mask, every=2)
    assert levels == dict(bright_level=220.0, muscle_level=90.0, slices=2.0)
    without_mask = subject_levels(image, None)
    assert without_mask["bright_level"] == 220.0 and np.isnan(without_mask["muscle_level"])
    # Infiltrated muscle is bright but inside the mask: it does not count as normal fat.
    infiltrated = np.where(mask, 200.0, image)
    assert subject_levels(infiltrated, mask)["bright_level"] == 220.0
    with pytest.raises(ValueError, match="mask shape"):
        subject_levels(image, mask[:, :, :2])
    with pytest.raises(ValueError, match="every"):
        subject_levels(image, mask, every=0)


def test_summary_subtracts_the_healthy_group():
    import pandas as pd

    levels = pd.DataFrame(dict(subject=["H1", "H2", "S1"], group=["healthy", "healthy", "severe"],
                               measured=["scan", "scan", "counterpart"], bright_level=[210.0, 230.0, 200.0],
                               muscle_level=[80.0, 90.0, 95.0], slices=[3.0, 3.0, 3.0]))
    summary = level_summary(levels).set_index("group")
    assert summary.loc["healthy", "bright_mean"] == 220.0 and summary.loc["severe", "bright_vs_healthy"] == -20.0
    assert summary.loc["severe", "muscle_vs_healthy"] == 10.0 and summary.loc["healthy", "n"] == 2


def test_cohort_levels_measure_the_counterparts_of_patients(tiny_cohort):
    from mmac.datasets.manifest import load_subject, read_manifest

    levels = tissue_levels(tiny_cohort / "manifest.csv", every=2).set_index("subject")
    for record in read_manifest(tiny_cohort / "manifest.csv"):
        row = levels.loc[record.subject]
        volume = load_subject(record)
        expected = subject_levels(255.0 * (volume.counterpart if record.pathological else volume.image),
                                  volume.mask, every=2)
        assert row["measured"] == ("counterpart" if record.pathological else "scan")
        assert row["bright_level"] == pytest.approx(expected["bright_level"])
        assert 150 < row["bright_level"] <= 255 and 0 < row["muscle_level"] < 150  # fat bright, muscle dark


def test_command_line(tiny_cohort, tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("tissue_levels_cli", ROOT / "tools" / "tissue_levels.py")
    cli = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cli)
    assert cli.main([str(tiny_cohort), "--csv", str(tmp_path / "levels.csv")]) == 0
    out = capsys.readouterr().out
    assert "bright_vs_healthy" in out and "on their counterpart" in out
    assert (tmp_path / "levels.csv").is_file()
    assert cli.main([str(tmp_path / "nowhere")]) == 2
    assert capsys.readouterr().err.startswith("error: manifest not found")
