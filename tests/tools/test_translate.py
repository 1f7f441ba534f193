"""Tests of tools/translate.py and mmac.apis.nifti: outputs in the input's grid, thresholds, bad input."""
from __future__ import annotations

import gzip
import importlib.util
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

TOOL = Path(__file__).resolve().parents[2] / "tools" / "translate.py"
SUFFIXES = ("_pseudohealthy.nii.gz", "_fatmap.nii.gz", "_muscle.nii.gz")


def load_tool():
    spec = importlib.util.spec_from_file_location("translate_tool", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def to_psr(canonical: np.ndarray, spacing=(1.5, 1.25, 7.0)) -> tuple[np.ndarray, np.ndarray]:
    """A canonical RAS (X, Y, Z) volume stored as (P, S, R): raw[i, j, k] = canonical[k, Y - 1 - i, j]."""
    sx, sy, sz = spacing
    raw = np.ascontiguousarray(canonical.transpose(1, 2, 0)[::-1])  # (Y, Z, X), first axis flipped
    affine = np.array([[0, 0, sx, -20.0],
                       [-sy, 0, 0, 35.0],
                       [0, sz, 0, -7.5],
                       [0, 0, 0, 1]])
    return raw, affine


@pytest.fixture(scope="module")
def scan(tiny_cohort, tmp_path_factory) -> dict:
    """A severe phantom subject rewritten with a non-canonical, non-identity affine, image and mask."""
    from mmac.datasets.manifest import read_manifest

    record = next(r for r in read_manifest(tiny_cohort / "manifest.csv") if r.group == "severe")
    canon_img = nib.as_closest_canonical(nib.load(str(record.image))).get_fdata().astype(np.float32) * 3 + 100
    canon_mask = nib.as_closest_canonical(nib.load(str(record.mask))).get_fdata().astype(np.uint8)
    folder = tmp_path_factory.mktemp("scan")
    raw_img, affine = to_psr(canon_img)
    raw_mask, _ = to_psr(canon_mask)
    image = nib.Nifti1Image(raw_img, affine)
    image.header.set_xyzt_units("mm")
    nib.save(image, str(folder / "scan.nii.gz"))
    nib.save(nib.Nifti1Image(raw_mask, affine), str(folder / "scan_mask.nii.gz"))
    assert nib.aff2axcodes(affine) == ("P", "S", "R")
    return dict(image=folder / "scan.nii.gz", mask=folder / "scan_mask.nii.gz", affine=affine,
                shape=raw_img.shape, canon_img=canon_img, canon_mask=canon_mask.astype(bool))


def expected_canonical(translator, canon_img: np.ndarray) -> tuple[np.ndarray, float, float]:
    lo, hi = np.percentile(canon_img, (0.5, 99.5))
    x = np.clip((canon_img - lo) / (hi - lo), 0, 1).astype(np.float32)
    return x, translator.translate_volume(x), (lo, hi)


def test_outputs_keep_the_input_grid_and_scale(translator, scan, tmp_path):
    from mmac.apis import translate_nifti

    result = translate_nifti(translator, scan["image"], tmp_path, progress=False)
    x, fx, (lo, hi) = expected_canonical(translator, scan["canon_img"])
    for suffix in SUFFIXES:
        out = nib.load(str(tmp_path / f"scan{suffix}"))
        assert out.shape == scan["shape"]
        np.testing.assert_allclose(out.affine, scan["affine"], atol=1e-4)
        assert nib.aff2axcodes(out.affine) == ("P", "S", "R")
    ph = nib.as_closest_canonical(nib.load(str(result.pseudo_healthy))).get_fdata()
    np.testing.assert_allclose(ph, lo + fx * (hi - lo), rtol=1e-4, atol=1e-3)
    fat = nib.as_closest_canonical(nib.load(str(result.fatmap))).get_fdata()
    np.testing.assert_allclose(fat, np.clip(x - fx, 0, None), atol=1e-5)
    muscle = nib.load(str(result.muscle))
    assert muscle.get_data_dtype() == np.uint8
    assert set(np.unique(np.asarray(muscle.dataobj))) <= {0, 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["fat_fraction.csv"] + [f"scan{s}" for s in SUFFIXES])


def test_fat_fraction_row_is_the_mean_estimate_over_the_muscle_mask(translator, scan, tmp_path):
    from mmac.apis import translate_nifti

    result = translate_nifti(translator, scan["image"], tmp_path, progress=False)
    x, fx, _ = expected_canonical(translator, scan["canon_img"])
    muscle = nib.as_closest_canonical(nib.load(str(result.muscle))).get_fdata() > 0
    ff = np.clip((x - fx) / np.maximum(1 - fx, 1e-3), 0, 1)  # fat fraction by hand
    table = pd.read_csv(tmp_path / "fat_fraction.csv")
    assert list(table["volume"]) == ["scan"]
    assert table["thresholds"].iloc[0] == "histogram"
    np.testing.assert_allclose(table["mean_ff_estimate"].iloc[0], ff[muscle].mean(), rtol=1e-4)
    assert table["muscle_voxels"].iloc[0] == muscle.sum()
    translate_nifti(translator, scan["image"], tmp_path, progress=False)  # again: the row is replaced
    assert len(pd.read_csv(tmp_path / "fat_fraction.csv")) == 1


def test_with_mask_thresholds_are_optimal_per_slice(translator, scan, tmp_path):
    from mmac.apis import translate_nifti
    from mmac.datasets.manifest import volume_to_slices
    from mmac.evaluation.threshold_dice import optimal_threshold_dice

    result = translate_nifti(translator, scan["image"], tmp_path, mask=scan["mask"], progress=False)
    assert result.thresholds == "mask"
    _, fx, _ = expected_canonical(translator, scan["canon_img"])
    muscle = volume_to_slices(nib.as_closest_canonical(nib.load(str(result.muscle))).get_fdata() > 0)
    ref = volume_to_slices(scan["canon_mask"])
    fx_slices = volume_to_slices(fx)
    for z in range(len(ref)):
        if ref[z].any():
            best = optimal_threshold_dice(fx_slices[z], ref[z])[0]
            dice = 2 * (muscle[z] & ref[z]).sum() / (muscle[z].sum() + ref[z].sum())
            assert dice == pytest.approx(best, abs=1e-6)


def test_histogram_thresholds_find_muscle_on_a_healthy_phantom(tiny_cohort):
    from mmac.apis import muscle_mask_from_histogram
    from mmac.datasets.manifest import load_subject, read_manifest

    record = next(r for r in read_manifest(tiny_cohort / "manifest.csv") if r.group == "healthy")
    subject = load_subject(record)
    lo, hi = muscle_mask_from_histogram(subject.image)
    seg = (subject.image >= lo) & (subject.image <= hi)
    dice = 2 * (seg & subject.mask).sum() / (seg.sum() + subject.mask.sum())
    assert dice > 0.6


def write(path: Path, data: np.ndarray, affine=None) -> Path:
    nib.save(nib.Nifti1Image(data, np.eye(4) if affine is None else affine), str(path))
    return path


@pytest.mark.parametrize("case, error, match", [
    ("missing", FileNotFoundError, "not found"),
    ("truncated", ValueError, "unreadable or truncated"),
    ("four_d", ValueError, "not a 3D volume"),
    ("nan", ValueError, "NaN/inf"),
    ("constant", ValueError, "constant"),
])
def test_bad_images_raise_before_writing(translator, tmp_path, case, error, match):
    from mmac.apis import translate_nifti

    src = tmp_path / "in"
    src.mkdir()
    path = src / "bad.nii.gz"
    rng = np.random.default_rng(0)
    if case == "truncated":
        write(path, rng.random((32, 32, 4), dtype=np.float32))
        payload = path.read_bytes()
        path.write_bytes(payload[: len(payload) // 2])
    elif case == "four_d":
        write(path, rng.random((32, 32, 4, 2), dtype=np.float32))
    elif case == "nan":
        data = rng.random((32, 32, 4), dtype=np.float32)
        data[3, 3, 1] = np.nan
        write(path, data)
    elif case == "constant":
        write(path, np.full((32, 32, 4), 7.0, np.float32))
    out = tmp_path / "out"
    with pytest.raises(error, match=match):
        translate_nifti(translator, path, out, progress=False)
    assert not out.exists() or not any(out.iterdir())


@pytest.mark.parametrize("case, match", [("values", "neither binary nor a label map"), ("grid", "shape"),
                                         ("empty", "empty on every")])
def test_bad_masks_raise_before_writing(translator, scan, tmp_path, case, match):
    from mmac.apis import translate_nifti

    mask = tmp_path / "m.nii.gz"
    if case == "values":
        write(mask, np.full(scan["shape"], 0.5, np.float32), scan["affine"])
    elif case == "grid":
        write(mask, np.ones((4, 4, 4), np.uint8), scan["affine"])
    else:
        write(mask, np.zeros(scan["shape"], np.uint8), scan["affine"])
    out = tmp_path / "out"
    with pytest.raises(ValueError, match=match):
        translate_nifti(translator, scan["image"], out, mask=mask, progress=False)
    assert not out.exists() or not any(out.iterdir())


def test_find_inputs_and_masks(tmp_path):
    from mmac.apis import find_inputs
    from mmac.apis.nifti import find_mask

    with pytest.raises(FileNotFoundError, match="input not found"):
        find_inputs(tmp_path / "nope.nii.gz")
    with pytest.raises(FileNotFoundError, match="no NIfTI"):
        find_inputs(tmp_path)
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(ValueError, match="not a NIfTI"):
        find_inputs(tmp_path / "notes.txt")
    a = write(tmp_path / "a.nii.gz", np.zeros((2, 2, 2), np.float32))
    b = write(tmp_path / "b.nii", np.zeros((2, 2, 2), np.float32))
    assert find_inputs(tmp_path) == [a, b]
    masks = tmp_path / "masks"
    masks.mkdir()
    ma = write(masks / "a_mask.nii.gz", np.zeros((2, 2, 2), np.uint8))
    assert find_mask(masks, a, single=False) == ma
    with pytest.raises(FileNotFoundError, match="no mask for"):
        find_mask(masks, b, single=False)
    with pytest.raises(ValueError, match="several volumes"):
        find_mask(ma, a, single=False)


def test_cli_translates_a_folder_and_reports_bad_input(tiny_model, scan, tmp_path, capsys):
    tool = load_tool()
    src = tmp_path / "scans"
    src.mkdir()
    (src / "scan.nii.gz").write_bytes(scan["image"].read_bytes())
    (src / "zz_bad.nii.gz").write_bytes(gzip.compress(b"not a nifti"))
    out = tmp_path / "out"
    rc = tool.main([str(tiny_model.config), str(tiny_model.checkpoint), str(src), "--out", str(out),
                    "--no-progress"])
    assert rc == 2
    assert "zz_bad.nii.gz" in capsys.readouterr().err
    assert not out.exists()  # checked before anything is translated: not even the good volume's outputs
    (src / "zz_bad.nii.gz").unlink()
    rc = tool.main([str(tiny_model.config), str(tiny_model.checkpoint), str(src), "--out", str(out),
                    "--no-progress"])
    assert rc == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(["fat_fraction.csv"] + [f"scan{s}" for s in SUFFIXES])
    rc = tool.main([str(tiny_model.config), str(tiny_model.checkpoint), str(src / "scan.nii.gz"), "--out",
                    str(out), "--mask", str(scan["mask"]), "--no-progress"])
    assert rc == 0
    assert "mask thresholds" in capsys.readouterr().out
    assert pd.read_csv(out / "fat_fraction.csv")["thresholds"].tolist() == ["mask"]


def test_cli_refuses_the_input_folder_as_output(tiny_model, scan, capsys):
    tool = load_tool()
    rc = tool.main([str(tiny_model.config), str(tiny_model.checkpoint), str(scan["image"]), "--out",
                    str(scan["image"].parent)])
    assert rc == 2
    assert "input folder" in capsys.readouterr().err


def test_cli_takes_the_work_dir_itself(tiny_model, scan, tmp_path, capsys):
    tool = load_tool()
    assert tool.main([str(tiny_model.work_dir), str(scan["image"]), "--out", str(tmp_path / "wd"),
                      "--no-progress"]) == 0
    assert f"{tiny_model.config} + {tiny_model.checkpoint}" in capsys.readouterr().err
    assert tool.main([str(tiny_model.config), str(tiny_model.checkpoint), str(scan["image"]), "--out",
                      str(tmp_path / "named"), "--no-progress"]) == 0
    for suffix in SUFFIXES:
        a, b = (nib.load(str(tmp_path / d / f"scan{suffix}")).get_fdata() for d in ("wd", "named"))
        np.testing.assert_array_equal(a, b)


def test_cli_config_without_checkpoint_is_refused(tiny_model, scan, tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        load_tool().parse_args([str(tiny_model.config), str(scan["image"]), "--out", str(tmp_path / "o")])
    assert exc.value.code == 2
    assert "is not a work dir; give CONFIG CHECKPOINT INPUT or WORK_DIR INPUT" in capsys.readouterr().err


def _run_dir(folder: Path, configs=(), checkpoints=(), last=None) -> Path:
    folder.mkdir()
    for name in (*configs, *checkpoints):
        (folder / name).write_text("x")
    if last is not None:
        (folder / "last_checkpoint").write_text(last)
    return folder


def test_find_run_prefers_run_config_and_the_largest_iteration(tmp_path):
    from mmac.runner.launch import find_run

    grid = _run_dir(tmp_path / "grid", ["ac_cyclegan_thigh.py", "run_config.py"], ["iter_2.pth", "iter_10.pth"])
    assert find_run(str(grid)) == (str(grid / "run_config.py"), str(grid / "iter_10.pth"))
    plain = _run_dir(tmp_path / "plain", ["c.py"], ["iter_9.pth", "iter_12.pth", "epoch_3.pth"])
    assert find_run(str(plain)) == (str(plain / "c.py"), str(plain / "iter_12.pth"))


def test_find_run_follows_last_checkpoint_also_after_a_move(tmp_path):
    from mmac.runner.launch import find_run

    run = _run_dir(tmp_path / "run", ["c.py"], ["iter_4.pth", "iter_8.pth"], last=str(tmp_path / "run" / "iter_4.pth"))
    assert find_run(str(run))[1] == str(run / "iter_4.pth")
    moved = _run_dir(tmp_path / "moved", ["c.py"], ["iter_4.pth", "iter_8.pth"], last="/elsewhere/iter_4.pth")
    assert find_run(str(moved))[1] == str(moved / "iter_4.pth")


@pytest.mark.parametrize("configs, checkpoints, error, match", [
    ([], ["iter_2.pth"], FileNotFoundError, "holds no config"),
    (["a.py"], [], FileNotFoundError, "holds no checkpoint"),
    (["a.py", "b.py"], ["iter_2.pth"], ValueError, r"several configs \(a.py, b.py\)"),
])
def test_find_run_errors(tmp_path, configs, checkpoints, error, match):
    from mmac.runner.launch import find_run

    with pytest.raises(error, match=match):
        find_run(str(_run_dir(tmp_path / "run", configs, checkpoints)))


def test_cli_work_dir_without_checkpoint_is_one_error_line(scan, tmp_path, capsys):
    run = _run_dir(tmp_path / "run", ["c.py"], [])
    assert load_tool().main([str(run), str(scan["image"]), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: work dir") and "holds no checkpoint" in err
    assert not (tmp_path / "o").exists()


def test_label_map_mask_gives_the_thresholds_of_its_muscle_labels(translator, scan, tmp_path):
    """A label map (muscle 1..3, bone 7) with --mask-labels 1 2 3 gives the outputs of the binary mask; 0/255 too."""
    from mmac.apis import translate_nifti

    binary = nib.load(str(scan["mask"]))
    raw = np.asarray(binary.dataobj).astype(np.int16)
    labels = (raw * (1 + (np.arange(raw.shape[0]) % 3))[:, None, None]).astype(np.int16)  # muscle: labels 1, 2, 3
    labels[(raw == 0) & (np.arange(raw.shape[1])[None, :, None] < 3)] = 7  # a non-muscle label
    write(tmp_path / "labels.nii.gz", labels, scan["affine"])
    write(tmp_path / "m255.nii.gz", (raw * 255).astype(np.uint8), scan["affine"])
    ref = translate_nifti(translator, scan["image"], tmp_path / "ref", mask=scan["mask"], progress=False)
    lab = translate_nifti(translator, scan["image"], tmp_path / "lab", mask=tmp_path / "labels.nii.gz",
                          progress=False, mask_labels=[1, 2, 3])
    m255 = translate_nifti(translator, scan["image"], tmp_path / "m255", mask=tmp_path / "m255.nii.gz",
                           progress=False)
    expected = nib.load(str(ref.muscle)).get_fdata()
    for result in (lab, m255):
        np.testing.assert_array_equal(nib.load(str(result.muscle)).get_fdata(), expected)
    with_bone = translate_nifti(translator, scan["image"], tmp_path / "bone", mask=tmp_path / "labels.nii.gz",
                                progress=False)
    assert with_bone.thresholds == "mask"  # label 7 counts as muscle without --mask-labels: a different reference
    assert not np.array_equal(nib.load(str(with_bone.muscle)).get_fdata(), expected)


def test_cli_mask_labels_needs_a_mask(tiny_model, scan, tmp_path, capsys):
    with pytest.raises(SystemExit):
        load_tool().parse_args([str(tiny_model.work_dir), str(scan["image"]), "--out", str(tmp_path / "o"),
                                "--mask-labels", "1"])
    assert "--mask-labels needs --mask" in capsys.readouterr().err


def _label_map(scan, folder: Path) -> Path:
    """The scan's binary mask as a label map: muscle labels 1, 2, 3, and label 7 (not muscle) on other voxels."""
    raw = np.asarray(nib.load(str(scan["mask"])).dataobj).astype(np.int16)
    labels = (raw * (1 + (np.arange(raw.shape[0]) % 3))[:, None, None]).astype(np.int16)
    labels[(raw == 0) & (np.arange(raw.shape[1])[None, :, None] < 3)] = 7
    return write(folder / "labels.nii.gz", labels, scan["affine"])


def test_cli_reads_mask_labels_from_the_run_config(tiny_model, translator, scan, tmp_path):
    """Without --mask-labels the config's test dataset mask_labels apply; an explicit --mask-labels wins."""
    from mmengine.config import Config

    from mmac.apis import translate_nifti

    cfg = Config.fromfile(str(tiny_model.config))
    cfg.merge_from_dict({"test_dataloader.dataset.mask_labels": [1, 2, 3]})
    cfg.dump(str(tmp_path / "labels_cfg.py"))
    labels = _label_map(scan, tmp_path)
    binary = translate_nifti(translator, scan["image"], tmp_path / "binary", mask=scan["mask"], progress=False)
    with_7 = translate_nifti(translator, scan["image"], tmp_path / "with7", mask=labels, progress=False)
    expected = nib.load(str(binary.muscle)).get_fdata()
    assert not np.array_equal(nib.load(str(with_7.muscle)).get_fdata(), expected)  # label 7 changes the result
    tool = load_tool()
    base = [str(tmp_path / "labels_cfg.py"), str(tiny_model.checkpoint), str(scan["image"]), "--mask", str(labels),
            "--no-progress", "--out"]
    assert tool.main([*base, str(tmp_path / "from_cfg")]) == 0
    np.testing.assert_array_equal(nib.load(str(tmp_path / "from_cfg" / "scan_muscle.nii.gz")).get_fdata(), expected)
    assert tool.main([*base, str(tmp_path / "explicit"), "--mask-labels", "1", "2", "3", "7"]) == 0
    np.testing.assert_array_equal(nib.load(str(tmp_path / "explicit" / "scan_muscle.nii.gz")).get_fdata(),
                                  nib.load(str(with_7.muscle)).get_fdata())


def test_model_mask_labels_takes_test_then_val_then_train():
    from mmengine.config import Config

    from mmac.apis.nifti import model_mask_labels

    def cfg(test=None, val=None, train=None):
        return Config({k: dict(dataset=dict(mask_labels=v)) for k, v in
                       (("test_dataloader", test), ("val_dataloader", val), ("train_dataloader", train))})

    assert model_mask_labels(cfg()) is None
    assert model_mask_labels(cfg(train=[3, 1])) == (1, 3)
    assert model_mask_labels(cfg(test=[2], val=[5], train=[3])) == (2,)
    assert model_mask_labels(cfg(val=[5], train=[3])) == (5,)
    with pytest.raises(ValueError, match=r"config val_dataloader.dataset.mask_labels: .*>= 1"):
        model_mask_labels(cfg(val=[0, 1]))
    with pytest.raises(ValueError, match="config test_dataloader.dataset.mask_labels: .*ints"):
        model_mask_labels(cfg(test=["1"]))


def test_find_mask_accepts_the_docs_muscle_layout(tmp_path):
    """docs/real_data.md names masks masks/<subject>_muscle.nii.gz; <name>_mask wins over it, then <name>."""
    from mmac.apis.nifti import find_mask

    image = write(tmp_path / "P002.nii.gz", np.zeros((2, 2, 2), np.float32))
    masks = tmp_path / "masks"
    masks.mkdir()
    with pytest.raises(FileNotFoundError) as exc:
        find_mask(masks, image, single=False)
    for name in ("P002_mask.nii.gz", "P002_mask.nii", "P002_muscle.nii.gz", "P002_muscle.nii", "P002.nii.gz",
                 "P002.nii"):
        assert name in str(exc.value)
    plain = write(masks / "P002.nii", np.zeros((2, 2, 2), np.uint8))
    assert find_mask(masks, image, single=False) == plain
    muscle = write(masks / "P002_muscle.nii.gz", np.zeros((2, 2, 2), np.uint8))
    assert find_mask(masks, image, single=False) == muscle
    tagged = write(masks / "P002_mask.nii.gz", np.zeros((2, 2, 2), np.uint8))
    assert find_mask(masks, image, single=False) == tagged


def _volume(path: Path, shape=(32, 32, 4), seed=0) -> Path:
    return write(path, np.random.default_rng(seed).random(shape, dtype=np.float32))


def test_cli_lists_every_bad_volume_and_writes_nothing(tiny_model, scan, tmp_path, capsys):
    src = tmp_path / "scans"
    src.mkdir()
    write(src / "a_flat.nii.gz", np.ones((32, 32), np.float32))  # 2-D, sorted first
    nan = np.random.default_rng(1).random((32, 32, 4), dtype=np.float32)
    nan[0, 0, 0] = np.nan
    write(src / "b_nan.nii.gz", nan)
    (src / "scan.nii.gz").write_bytes(scan["image"].read_bytes())
    (src / "zz_bad.nii.gz").write_bytes(gzip.compress(b"not a nifti"))
    out = tmp_path / "out"
    rc = load_tool().main([str(tiny_model.config), str(tiny_model.checkpoint), str(src), "--out", str(out),
                           "--no-progress"])
    assert rc == 2
    err = capsys.readouterr().err
    assert "3 of 4 input volume(s) cannot be translated; nothing was written" in err
    lines = err.splitlines()[1:]
    assert len(lines) == 3
    assert "a_flat.nii.gz" in lines[0] and "not a 3D volume" in lines[0]
    assert "b_nan.nii.gz" in lines[1] and "NaN/inf" in lines[1]
    assert "zz_bad.nii.gz" in lines[2] and "unreadable or truncated" in lines[2]
    assert not out.exists()


def test_check_inputs_lists_missing_and_bad_masks(tmp_path):
    from mmac.apis.nifti import check_inputs

    src, masks = tmp_path / "in", tmp_path / "masks"
    src.mkdir()
    masks.mkdir()
    a, b, c = (_volume(src / f"{n}.nii.gz", seed=i) for i, n in enumerate("abc"))
    write(masks / "b_muscle.nii.gz", np.ones((32, 32, 4), np.uint8))  # good
    write(masks / "c_muscle.nii.gz", np.ones((32, 32, 3), np.uint8))  # another grid
    with pytest.raises(ValueError) as exc:
        check_inputs([a, b, c], masks, tmp_path / "out")
    lines = str(exc.value).splitlines()
    assert lines[0] == "2 of 3 input volume(s) cannot be translated; nothing was written:"
    assert "no mask for" in lines[1] and "a.nii.gz" in lines[1] and "a_muscle.nii.gz" in lines[1]
    assert "c_muscle.nii.gz has shape (32, 32, 3)" in lines[2]
    assert len(lines) == 3
    write(masks / "a_mask.nii", np.zeros((32, 32, 4), np.uint8))  # found now, but without muscle
    write(masks / "c_muscle.nii.gz", np.full((32, 32, 4), 2, np.uint8))
    with pytest.raises(ValueError, match=r"1 of 3 (?s:.*)a_mask.nii is empty on every slice"):
        check_inputs([a, b, c], masks, tmp_path / "out")
    with pytest.raises(ValueError, match=r"c_muscle.nii.gz is empty on every slice with mask_labels \[1\]"):
        check_inputs([c], masks, tmp_path / "out", mask_labels=[1])
    with pytest.raises(FileNotFoundError, match="1 of 1 (?s:.*)no mask for"):
        check_inputs([_volume(src / "d.nii.gz")], masks, tmp_path / "out")


def test_check_inputs_refuses_clashing_outputs(tmp_path):
    from mmac.apis.nifti import check_inputs

    src = tmp_path / "in"
    src.mkdir()
    a, a_nii = _volume(src / "a.nii.gz"), _volume(src / "a.nii", seed=1)
    with pytest.raises(ValueError, match="both give outputs a_"):
        check_inputs([a_nii, a], None, tmp_path / "out")
    masks = tmp_path / "masks"
    masks.mkdir()
    write(masks / "a_muscle.nii.gz", np.ones((32, 32, 4), np.uint8))
    with pytest.raises(ValueError, match="is the mask folder"):
        check_inputs([a], masks, masks)
    with pytest.raises(ValueError, match="would replace an input or mask"):
        check_inputs([a], masks / "a_muscle.nii.gz", masks)


def test_masks_beside_the_images_are_not_inputs(tmp_path):
    """A folder holding <name>.nii.gz and <name>_muscle.nii.gz, given as input and as --mask: masks are not volumes."""
    from mmac.apis import find_inputs
    from mmac.apis.nifti import check_inputs

    a, b = _volume(tmp_path / "a.nii.gz"), _volume(tmp_path / "b.nii.gz", seed=1)
    ma = write(tmp_path / "a_muscle.nii.gz", np.ones((32, 32, 4), np.uint8))
    mb = write(tmp_path / "b_mask.nii.gz", np.ones((32, 32, 4), np.uint8))
    assert check_inputs(find_inputs(tmp_path), tmp_path, tmp_path.parent / "out") == [(a, ma), (b, mb)]


@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o077, 0o600)])
def test_outputs_get_the_mode_of_a_plain_open(translator, scan, tmp_path, umask, mask, mode):
    import stat

    from mmac.apis import translate_nifti

    umask(mask)
    translate_nifti(translator, scan["image"], tmp_path / "out", progress=False)
    files = sorted((tmp_path / "out").iterdir())
    assert [p.name for p in files] == sorted(["fat_fraction.csv"] + [f"scan{s}" for s in SUFFIXES])
    assert {stat.S_IMODE(p.stat().st_mode) for p in files} == {mode}  # 0o666 & ~umask, worked by hand


def test_singleton_fourth_axis_is_kept(translator, scan, tmp_path):
    """(x, y, z, 1) is read as the dataset reads it, as 3D, and the outputs keep the (x, y, z, 1) shape."""
    from mmac.apis import translate_nifti

    raw = np.asarray(nib.load(str(scan["image"])).dataobj)
    write(tmp_path / "four.nii.gz", raw[..., None], scan["affine"])
    four = translate_nifti(translator, tmp_path / "four.nii.gz", tmp_path / "out4", progress=False)
    three = translate_nifti(translator, scan["image"], tmp_path / "out3", progress=False)
    x, fx, (lo, hi) = expected_canonical(translator, scan["canon_img"])
    for suffix in SUFFIXES:
        out4 = nib.load(str(tmp_path / "out4" / f"four{suffix}"))
        assert out4.shape == (*scan["shape"], 1)
        np.testing.assert_allclose(out4.affine, scan["affine"], atol=1e-4)
        np.testing.assert_array_equal(out4.get_fdata()[..., 0],
                                      nib.load(str(tmp_path / "out3" / f"scan{suffix}")).get_fdata())
    ph = nib.as_closest_canonical(nib.load(str(four.pseudo_healthy)).slicer[..., 0]).get_fdata()
    np.testing.assert_allclose(ph, lo + fx * (hi - lo), rtol=1e-4, atol=1e-3)
    assert four.mean_ff_estimate == pytest.approx(three.mean_ff_estimate)


def test_a_mask_or_an_earlier_output_among_the_inputs_is_refused(tmp_path):
    """Without --mask, <name>_mask / <name>_muscle beside <name> would be translated as a scan, as would an earlier
    translation's <name>_pseudohealthy: refused, every such file listed, nothing written. (Given as --mask, the
    folder's masks are masks: test_masks_beside_the_images_are_not_inputs.)"""
    from mmac.apis import find_inputs
    from mmac.apis.nifti import check_inputs

    folder = tmp_path / "scans"
    folder.mkdir()
    _volume(folder / "a.nii.gz")
    _volume(folder / "b.nii.gz", seed=1)
    write(folder / "a_muscle.nii.gz", np.ones((32, 32, 4), np.uint8))
    _volume(folder / "b_pseudohealthy.nii.gz", seed=2)
    _volume(folder / "c_mask.nii.gz", seed=3)  # no input named c: a scan like any other
    with pytest.raises(ValueError, match=r"a_muscle.nii.gz is named as a mask of .*a.nii.gz \(<name>_muscle\)"
                                         r"(.|\n)*b_pseudohealthy.nii.gz is named as an output of an earlier "
                                         r"translation of .*b.nii.gz"):
        check_inputs(find_inputs(folder), None, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    # c_mask.nii.gz has no scan c beside it: it is not listed
    with pytest.raises(ValueError) as info:
        check_inputs(find_inputs(folder), None, tmp_path / "out")
    assert "c_mask.nii.gz" not in str(info.value) and str(info.value).startswith("2 of 5 input volume(s)")


def test_a_study_manifest_as_input_translates_every_image_with_its_row_mask(tiny_model, tmp_path):
    """The tiny cohort's manifest: every image is translated; rows with a mask use it (thresholds 'mask'), and a
    row without one uses the histogram. The cohort's own masks are named <id>_mask beside <id>_t1, which a folder
    lookup would not find: the manifest says which mask is whose."""
    import csv
    import shutil

    from mmac.apis import translate_files
    from mmac.apis.nifti import find_mask

    study = tmp_path / "study"
    shutil.copytree(tiny_model.cohort, study)
    rows = list(csv.DictReader(open(study / "manifest.csv")))
    healthy = next(r for r in rows if r["group"] == "healthy")
    healthy["mask"] = ""  # a healthy subject without a mask, as real studies have them
    with open(study / "manifest.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    results = translate_files(tiny_model.config, tiny_model.checkpoint, study / "manifest.csv", tmp_path / "out",
                              progress=False)
    by_volume = {r.volume: r.thresholds for r in results}
    assert list(by_volume) == [r["subject"] for r in rows]  # outputs named by subject
    assert by_volume[healthy["subject"]] == "histogram"
    assert {t for v, t in by_volume.items() if v != healthy["subject"]} == {"mask"}
    assert (tmp_path / "out" / f"{healthy['subject']}_pseudohealthy.nii.gz").is_file()
    # the manifest given again as --mask, with --mask-labels on the command line: the same masks, rows without
    # one still on the histogram
    rc = load_tool().main([str(tiny_model.config), str(tiny_model.checkpoint), str(study / "manifest.csv"), "--out",
                           str(tmp_path / "out2"), "--mask", str(study / "manifest.csv"), "--mask-labels", "1",
                           "--no-progress"])
    assert rc == 0
    rc = load_tool().main([str(tiny_model.config), str(tiny_model.checkpoint), str(study / "manifest.csv"), "--out",
                           str(tmp_path / "out3"), "--mask-labels", "1", "--no-progress"])
    assert rc == 0
    # --mask manifest.csv for a single scan: its row's mask; a scan the manifest does not list is named
    patient = next(r for r in rows if r["group"] == "severe")
    assert find_mask(study / "manifest.csv", study / patient["image"], single=True) == study / patient["mask"]
    with pytest.raises(FileNotFoundError, match=r"elsewhere.nii.gz is not an image of the manifest"):
        find_mask(study / "manifest.csv", tmp_path / "elsewhere.nii.gz", single=True)
    with pytest.raises(FileNotFoundError, match=r"row \d+ \(subject '" + healthy["subject"] + "'\\) gives .* no mask"):
        find_mask(study / "manifest.csv", study / healthy["image"], single=True)


def test_a_manifest_of_per_subject_folders_names_outputs_by_subject(tiny_model, tmp_path):
    """<subject>/t1.nii.gz for every subject: one output name per subject, not one 't1' for all."""
    import csv
    import shutil

    from mmac.apis import translate_files

    rows = list(csv.DictReader(open(tiny_model.cohort / "manifest.csv")))[-2:]  # two patients
    study = tmp_path / "study"
    for r in rows:
        (study / r["subject"]).mkdir(parents=True)
        shutil.copy(tiny_model.cohort / r["image"], study / r["subject"] / "t1.nii.gz")
        shutil.copy(tiny_model.cohort / r["mask"], study / r["subject"] / "mask.nii.gz")
    with open(study / "manifest.csv", "w") as f:
        f.write("subject,group,image,mask\n" + "".join(f"{r['subject']},{r['group']},{r['subject']}/t1.nii.gz,"
                                                      f"{r['subject']}/mask.nii.gz\n" for r in rows))
    results = translate_files(tiny_model.config, tiny_model.checkpoint, study / "manifest.csv", tmp_path / "out",
                              progress=False)
    assert [r.volume for r in results] == [r["subject"] for r in rows]
    assert sorted(p.name for p in (tmp_path / "out").glob("*_pseudohealthy.nii.gz")) == \
        sorted(f"{r['subject']}_pseudohealthy.nii.gz" for r in rows)


def test_a_rename_failing_partway_leaves_no_new_output(translator, scan, tmp_path, monkeypatch):
    """The three outputs are renamed into place at the end; if the second rename fails, the first is removed."""
    import mmac.fileio
    from mmac.apis import translate_nifti

    real, calls = mmac.fileio.os.replace, []

    def flaky(src, dst):
        calls.append(dst)
        if len(calls) == 2:
            raise OSError("disk full")
        return real(src, dst)

    monkeypatch.setattr(mmac.fileio.os, "replace", flaky)
    with pytest.raises(OSError, match="disk full"):
        translate_nifti(translator, scan["image"], tmp_path / "out", progress=False)
    assert len(calls) == 2 and list((tmp_path / "out").glob("*.nii.gz")) == []


@pytest.mark.parametrize("kind", ["truncated", "random", "pickle"])
def test_cli_refuses_a_bad_checkpoint_in_one_line(tiny_model, scan, tmp_path, capsys, kind):
    import shutil

    from tests.test_checkpoint import bad_checkpoint

    path, found = bad_checkpoint(tmp_path, kind)
    assert load_tool().main([str(tiny_model.config), str(path), str(scan["image"]), "--out", str(tmp_path / "o"),
                             "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: checkpoint {path} ") and found in err and err.count("\n") == 1, err
    assert "weights_only=False" not in err and not (tmp_path / "o").exists()
    # the same file as a work dir's latest checkpoint
    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(tiny_model.config, run)
    path.rename(run / "iter_2.pth")
    assert load_tool().main([str(run), str(scan["image"]), "--out", str(tmp_path / "o"), "--no-progress"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[-1].startswith(f"error: checkpoint {run / 'iter_2.pth'} ") and found in err[-1], err
