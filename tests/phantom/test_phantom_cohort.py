"""Tests of the synthetic cohort generator (mmac.phantom); tiny sizes so the file runs in seconds."""
import csv
import os
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from scipy import ndimage

from mmac.phantom import MANIFEST_COLUMNS, MUSCLES, make_cohort, make_subject
from mmac.phantom import cohort as cohort_mod
from mmac.phantom.infiltration import TARGET_FF


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    out = tmp_path_factory.mktemp("ph") / "cohort"
    manifest = make_cohort(out, healthy=2, moderate=1, severe=1, size=32, slices=3, seed=1, progress=False)
    return manifest


def _rows(manifest):
    with open(manifest, newline="") as fh:
        return list(csv.DictReader(fh))


def test_same_seed_same_arrays_and_other_seed_differs():
    a = make_subject("severe", seed=3, size=32, slices=2)
    b = make_subject("severe", seed=3, size=32, slices=2)
    c = make_subject("severe", seed=4, size=32, slices=2)
    for name in ("image", "mask", "labels", "fat_fraction", "healthy"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert not np.array_equal(a.image, c.image)


def test_manifest_columns_ids_and_relative_paths(cohort):
    rows = _rows(cohort)
    with open(cohort, newline="") as fh:
        assert tuple(next(csv.reader(fh))) == MANIFEST_COLUMNS
    assert [r["subject"] for r in rows] == ["H01", "H02", "M01", "S01"]
    assert [r["group"] for r in rows] == ["healthy", "healthy", "moderate", "severe"]
    for r in rows:
        for key in ("image", "mask", "labels", "fat_fraction"):
            assert not os.path.isabs(r[key]) and (cohort.parent / r[key]).is_file()
        if r["group"] == "healthy":
            assert r["counterpart"] == ""
        else:
            assert r["counterpart"] == f"{r['subject']}_healthy.nii.gz"
            assert (cohort.parent / r["counterpart"]).is_file()
    assert not [p for p in cohort.parent.parent.iterdir() if p.name.startswith(".cohort")]


def test_nifti_shapes_affines_dtypes(cohort):
    expected = {"image": np.float32, "mask": np.uint8, "labels": np.int16, "fat_fraction": np.float32,
                "counterpart": np.float32}
    for r in _rows(cohort):
        for key, dtype in expected.items():
            if not r[key]:
                continue
            img = nib.load(cohort.parent / r[key])
            assert img.shape == (32, 32, 3)
            assert img.get_data_dtype() == dtype
            np.testing.assert_allclose(img.header.get_zooms(), (8.0, 8.0, 7.0))   # 256 mm / 32 px, 7 mm
            np.testing.assert_allclose(np.diag(img.affine)[:3], (8.0, 8.0, 7.0))
            assert nib.aff2axcodes(img.affine) == ("R", "A", "S")


def test_mask_is_binary_and_equals_labels_and_ff_in_range(cohort):
    for r in _rows(cohort):
        mask = np.asarray(nib.load(cohort.parent / r["mask"]).dataobj)
        labels = np.asarray(nib.load(cohort.parent / r["labels"]).dataobj)
        ff = np.asarray(nib.load(cohort.parent / r["fat_fraction"]).dataobj)
        assert set(np.unique(mask)) <= {0, 1} and mask.any()
        np.testing.assert_array_equal(mask, labels > 0)
        assert labels.min() >= 0 and labels.max() <= len(MUSCLES)
        assert ff.min() >= 0 and ff.max() <= 1 and not ff[mask == 0].any()
        if r["group"] == "healthy":
            assert not ff.any()


def test_counterpart_differs_only_where_muscle_was():
    s = make_subject("severe", seed=2, size=64, slices=2)   # with noise and bias: same realisation in both
    was_muscle = ndimage.binary_dilation(s.healthy_labels > 0, structure=np.ones((3, 3, 1)))
    np.testing.assert_array_equal(s.image[~was_muscle], s.healthy[~was_muscle])
    infiltrated = s.fat_fraction > 0.5
    assert infiltrated.sum() > 20
    assert np.all(s.image[infiltrated] != s.healthy[infiltrated])
    # healthy counterpart: fat-infiltrated muscle is brighter in the image (fat = 1 > muscle ~ 0.37)
    assert s.image[infiltrated].mean() > s.healthy[infiltrated].mean() + 0.2
    # atrophy shrinks the muscle mask, never grows it
    assert np.all(s.healthy_labels[s.mask > 0] > 0)


def test_tissue_intensities_on_noise_free_render():
    s = make_subject("healthy", seed=5, size=256, slices=1, noise=False, bias=False)
    img = s.image[..., 0]
    inner = ndimage.binary_erosion(s.mask[..., 0] > 0, iterations=2)
    assert 0.32 * 0.95 <= np.median(img[inner]) <= 0.42 * 1.05
    assert np.percentile(img[inner], 5) > 0.25 and np.percentile(img[inner], 95) < 0.5
    assert img[:8, :8].max() == 0.0                           # air
    body = ndimage.binary_fill_holes(img > 0.01)
    fat_like = img[body] > 0.9                                # subcutaneous fat and marrow around 1
    assert 0.15 < fat_like.mean() < 0.7 and img.max() < 1.15
    # near-zero cortex / fascia inside the body
    assert (img[body] < 0.1).sum() > 50


def test_group_fat_fractions():
    worst = []
    # 4 mid-thigh slices give a local estimate of the subject's mean: allow 0.02 around the target range.
    for group, (lo, hi) in ((g, (TARGET_FF[g][0] - 0.02, TARGET_FF[g][1] + 0.02)) for g in ("moderate", "severe")):
        for index in (1, 2):
            s = make_subject(group, seed=0, index=index, size=64, slices=4, noise=False, bias=False)
            mean_ff = s.fat_fraction[s.mask > 0].mean()
            assert lo <= mean_ff <= hi, (group, index, mean_ff)
            worst.append(max(s.fat_fraction[s.labels == i].mean() for i in np.unique(s.labels) if i > 0))
    assert max(worst[2:]) > 0.6                               # severe subjects have end-stage muscles
    assert max(worst[:2]) < max(worst[2:])


def test_realised_fat_fraction_tracks_target():
    for group, (lo, hi) in ((g, TARGET_FF[g]) for g in ("moderate", "severe")):
        s = make_subject(group, seed=7, index=1, size=32, slices=12, noise=False, bias=False)
        target = s.info["target_fat_fraction"]
        assert lo <= target <= hi
        assert abs(s.fat_fraction[s.mask > 0].mean() - target) < 0.04, (group, target)


def test_mode_labels_hand_example():
    # one voxel, up = 1, sub-slice weights 0.3 / 0.4 / 0.3
    labs = np.array([3, 5, 3], np.int16).reshape(3, 1, 1)
    lab, frac = cohort_mod._mode_labels(labs, (0.3, 0.4, 0.3), 1)
    assert lab[0, 0] == 3 and frac[0, 0] == pytest.approx(1.0)    # 0.6 for label 3 beats 0.4 for label 5
    labs = np.array([0, 5, 0], np.int16).reshape(3, 1, 1)
    lab, frac = cohort_mod._mode_labels(labs, (0.3, 0.4, 0.3), 1)
    assert lab[0, 0] == 0 and frac[0, 0] == pytest.approx(0.4)    # muscle weight 0.4 < 0.5: background
    labs = np.array([0, 5, 2], np.int16).reshape(3, 1, 1)
    lab, _ = cohort_mod._mode_labels(labs, (0.3, 0.4, 0.3), 1)
    assert lab[0, 0] == 5                                         # muscle 0.7: label 5 (0.4) beats 2 (0.3)
    # up = 2: a 2 x 2 block of one sub-slice, three pixels of label 1 and one of label 2
    labs = np.array([[1, 1], [1, 2]], np.int16)[None]
    lab, frac = cohort_mod._mode_labels(labs, (1.0,), 2)
    assert lab.shape == (1, 1) and lab[0, 0] == 1 and frac[0, 0] == 1.0


def test_parallel_workers_write_identical_files(tmp_path):
    kw = dict(healthy=1, moderate=1, severe=1, size=32, slices=2, seed=5, progress=False)
    serial = make_cohort(tmp_path / "serial", workers=1, **kw)
    parallel = make_cohort(tmp_path / "parallel", workers=2, **kw)
    assert _rows(serial) == _rows(parallel)
    for r in _rows(serial):
        for key in ("image", "mask", "labels", "fat_fraction", "counterpart"):
            if r[key]:
                np.testing.assert_array_equal(np.asarray(nib.load(serial.parent / r[key]).dataobj),
                                              np.asarray(nib.load(parallel.parent / r[key]).dataobj))
    assert (serial.parent / "subjects.csv").read_text() == (parallel.parent / "subjects.csv").read_text()


def test_failed_run_leaves_nothing(tmp_path, monkeypatch):
    calls = []

    def failing_save(arr, affine, path):
        calls.append(path)
        if len(calls) == 6:
            raise RuntimeError("disk full")
        Path(path).write_bytes(b"x")

    monkeypatch.setattr(cohort_mod, "_save", failing_save)
    with pytest.raises(RuntimeError, match="disk full"):
        make_cohort(tmp_path / "out", healthy=2, moderate=0, severe=0, size=32, slices=1, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_refuses_non_empty_out_dir_unless_overwrite(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    with pytest.raises(FileExistsError, match="overwrite"):
        make_cohort(out, healthy=1, moderate=0, severe=0, size=32, slices=1, progress=False)
    manifest = make_cohort(out, healthy=1, moderate=0, severe=0, size=32, slices=1, progress=False,
                           overwrite=True)
    assert manifest.is_file() and not (out / "keep.txt").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


@pytest.mark.parametrize("kwargs, match", [
    (dict(healthy=-1), "healthy"), (dict(size=40), "multiple of 16"), (dict(size=16), "multiple of 16"),
    (dict(slices=0), "slices"), (dict(healthy=0, moderate=0, severe=0), "empty"), (dict(workers=0), "workers"),
])
def test_make_cohort_rejects_bad_arguments(tmp_path, kwargs, match):
    args = dict(healthy=1, moderate=0, severe=0, size=32, slices=1, progress=False)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        make_cohort(tmp_path / "out", **args)
    assert not (tmp_path / "out").exists()


def test_make_subject_rejects_unknown_group():
    with pytest.raises(ValueError, match="group"):
        make_subject("mild", size=32, slices=1)


@pytest.mark.parametrize("kwargs", [dict(slices=True), dict(size=32.0), dict(healthy=True), dict(workers=1.0)])
def test_make_cohort_rejects_bools_and_floats_for_counts(tmp_path, kwargs):
    args = dict(healthy=1, moderate=0, severe=0, size=32, slices=1, progress=False)
    args.update(kwargs)
    with pytest.raises(TypeError, match="must be an integer"):
        make_cohort(tmp_path / "out", **args)
    assert not (tmp_path / "out").exists()


def test_make_subject_rejects_non_positive_slice_spacing():
    with pytest.raises(ValueError, match=r"slice_spacing \(mm\) must be > 0"):
        make_subject("healthy", size=32, slices=1, slice_spacing=0.0)
