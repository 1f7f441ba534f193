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
    assert levels == dict(bright_level=220.0, muscle_level=90.0, slices=2)
    assert type(levels["slices"]) is int
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


def test_cohort_levels_measure_the_counterparts_of_patients(tiny_cohort, capsys):
    from mmac.datasets.manifest import load_subject, read_manifest

    levels = tissue_levels(tiny_cohort / "manifest.csv", every=2).set_index("subject")
    assert capsys.readouterr().err == ""  # no progress bar unless asked
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


def test_command_line_progress_on_stderr_unless_no_progress(tiny_cohort, capsys):
    spec = importlib.util.spec_from_file_location("tissue_levels_cli", ROOT / "tools" / "tissue_levels.py")
    cli = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cli)
    assert cli.main([str(tiny_cohort)]) == 0
    shown = capsys.readouterr()
    assert "tissue levels: 100%" in shown.err and "6/6" in shown.err  # 3 healthy, 1 moderate, 2 severe
    assert "tissue levels" not in shown.out
    assert cli.main([str(tiny_cohort), "--no-progress"]) == 0
    quiet = capsys.readouterr()
    assert quiet.err == "" and quiet.out == shown.out


def _label_map_cohort(folder: Path) -> Path:
    """Two subjects of one hand-made thigh with a label-map mask: 1 = muscle, 20 = subcutaneous fat.

    Per axial slice (48 x 48, 3 slices): air 0, a fat disc (radius 18) of 200 and a muscle square (15 x 15) of
    80 inside it. Air and fat each hold far more than 0.5 % of the voxels, so the normalisation maps 0 -> 0 and
    200 -> 255: fat is 255 and muscle 80 / 200 * 255 = 102 on the model's scale. The label map marks the square
    1 and the outer ring of the disc (radius >= 12) 20.
    """
    import nibabel as nib

    yy, xx = np.mgrid[:48, :48]
    r2 = (yy - 24) ** 2 + (xx - 24) ** 2
    disc, square = r2 < 18 ** 2, (abs(yy - 24) < 8) & (abs(xx - 24) < 8)
    plane = np.where(square, 80.0, np.where(disc, 200.0, 0.0)).astype(np.float32)
    labels = np.where(square, 1, np.where(disc & (r2 >= 12 ** 2), 20, 0)).astype(np.uint8)
    assert (labels == 20).sum() > square.sum()  # the ring outnumbers the muscle: its median is fat's 255
    for name, data in (("image", plane), ("mask", labels)):
        nib.save(nib.Nifti1Image(np.repeat(data[..., None], 3, axis=2), np.eye(4)), str(folder / f"{name}.nii.gz"))
    (folder / "manifest.csv").write_text("subject,group,image,mask\n"
                                         "H1,healthy,image.nii.gz,mask.nii.gz\n"
                                         "S1,severe,image.nii.gz,mask.nii.gz\n")
    return folder / "manifest.csv"


def test_mask_labels_leave_other_labels_out_of_the_muscle(tmp_path):
    manifest = _label_map_cohort(tmp_path)
    levels = tissue_levels(manifest, every=2, mask_labels=[1])
    assert list(levels["slices"]) == [2, 2] and levels["slices"].dtype.kind == "i"  # slices 0 and 2
    np.testing.assert_allclose(levels["bright_level"], [255.0, 255.0])
    np.testing.assert_allclose(levels["muscle_level"], [102.0, 102.0], rtol=1e-6)
    # Without mask_labels the fat ring (label 20) is taken for muscle: the muscle median is fat's 255.
    np.testing.assert_allclose(tissue_levels(manifest, every=2)["muscle_level"], [255.0, 255.0])
    with pytest.raises(ValueError, match=r"mask_labels must be >= 1 \(0 is the background\), got 0"):
        tissue_levels(manifest, mask_labels=[0, 1])
    with pytest.raises(TypeError, match="mask_labels must be None or a list of ints"):
        tissue_levels(manifest, mask_labels="1")


def test_command_line_mask_labels_and_integer_slices(tmp_path, capsys):
    import pandas as pd

    spec = importlib.util.spec_from_file_location("tissue_levels_cli", ROOT / "tools" / "tissue_levels.py")
    cli = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cli)
    _label_map_cohort(tmp_path)
    assert cli.main([str(tmp_path), "--every", "2", "--mask-labels", "1", "--csv", str(tmp_path / "l.csv")]) == 0
    rows = (tmp_path / "l.csv").read_text().splitlines()
    assert rows[0] == "subject,group,measured,bright_level,muscle_level,slices"
    assert all(row.endswith(",2") for row in rows[1:])  # 2, not 2.0
    np.testing.assert_allclose(pd.read_csv(tmp_path / "l.csv")["muscle_level"], [102.0, 102.0], rtol=1e-6)
    with pytest.raises(SystemExit):
        cli.parse_args([str(tmp_path), "--mask-labels", "0"])
    assert "--mask-labels must be >= 1" in capsys.readouterr().err
