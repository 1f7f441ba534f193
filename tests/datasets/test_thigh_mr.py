import numpy as np
import pytest
import torch

pytest.importorskip("mmagic")

from mmengine.dataset import pseudo_collate  # noqa: E402

from mmac.datasets.folds import patient_kfold  # noqa: E402
from mmac.datasets.manifest import read_manifest  # noqa: E402
from mmac.datasets.thigh_mr import ThighMRDataset, fit_slices, thigh_pipeline  # noqa: E402

SIZE = 16


def build(manifest, **kwargs):
    kwargs.setdefault("size", SIZE)
    return ThighMRDataset(manifest=str(manifest), **kwargs)


def test_train_items_have_both_domains(cohort):
    ds = build(cohort, split="train", random_pairing=False)
    assert len(ds) == 3 * 8  # max(2 healthy x 8, 3 pathological x 8 slices)
    item = ds[17]
    for key in ("img_healthy", "img_pathological"):
        assert item[key].shape == (SIZE, SIZE, 1) and item[key].dtype == np.float32
        assert 0.0 <= item[key].min() and item[key].max() <= 255.0
    assert (item["subject_pathological"], item["slice_index_pathological"]) == ("s1", 1)  # 17 = 2*8 + 1
    assert item["group_pathological"] == "severe"


def test_train_healthy_index_wraps(cohort):
    ds = build(cohort, split="train", random_pairing=False)
    item = ds[17]  # healthy slices: h1 z0..7, h2 z0..7 -> 17 % 16 = 1 -> h1 z1
    assert (item["subject_healthy"], item["slice_index_healthy"]) == ("h1", 1)


def test_test_items_are_annotated_pathological_slices(cohort):
    ds = build(cohort, split="test", annotation_every=4, annotation_offset=1)
    assert [(d["subject"], d["slice_index"]) for d in ds.data_list] == [
        ("m1", 1), ("m1", 5), ("m2", 1), ("m2", 5), ("s1", 1), ("s1", 5)]
    item = ds[4]
    assert (item["subject"], item["group"], item["slice_index"]) == ("s1", "severe", 1)
    assert item["img_pathological"].shape == (SIZE, SIZE, 1)
    assert item["gt_mask"].shape == (SIZE, SIZE) and item["gt_mask"].dtype == bool and item["gt_mask"].any()
    assert item["img_healthy_truth"].shape == (SIZE, SIZE, 1)
    assert item["fat_fraction"].shape == (SIZE, SIZE) and item["fat_fraction"].dtype == np.float32
    assert "img_healthy" not in item


def test_test_slice_matches_volume(cohort):
    """The served slice is the normalised volume slice in display convention, * 255 (no resizing at 32)."""
    import nibabel as nib
    ds = build(cohort, split="test", size=32)
    item = ds[0]  # m1, z = 0
    raw = np.asarray(nib.load(str(cohort.parent / "m1_img.nii.gz")).dataobj, dtype=np.float64)
    lo, hi = np.percentile(raw, [0.5, 99.5])
    expected = np.clip((raw[::-1, ::-1, 0].T - lo) / (hi - lo), 0, 1) * 255
    np.testing.assert_allclose(item["img_pathological"][..., 0], expected, atol=1e-3)


def test_folds_select_subjects(cohort):
    records = read_manifest(cohort)
    train_ids, test_ids = patient_kfold([r.subject for r in records], [r.group for r in records], 2, 0)[1]
    train = build(cohort, split="train", fold=1, num_folds=2)
    test = build(cohort, split="val", fold=1, num_folds=2)
    assert [r.subject for r in train.records] == train_ids
    assert [r.subject for r in test.records] == [s for s in test_ids if not s.startswith("h")]
    assert not {r.subject for r in train.records} & {r.subject for r in test.records}


def test_subjects_option_and_errors(cohort):
    ds = build(cohort, split="test", subjects=["m2"])
    assert {d["subject"] for d in ds.data_list} == {"m2"}
    with pytest.raises(ValueError, match=r"\['zz'\] not in the manifest"):
        build(cohort, split="test", subjects=["zz"])
    with pytest.raises(ValueError, match="no pathological"):
        build(cohort, split="test", subjects=["h1"])
    with pytest.raises(ValueError, match="no subject of domain 'healthy'"):
        build(cohort, split="train", subjects=["m1"])
    with pytest.raises(ValueError, match="either subjects or fold"):
        build(cohort, subjects=["m1"], fold=0)
    with pytest.raises(ValueError, match="resize_mode"):
        build(cohort, resize_mode="stretch")
    with pytest.raises(ValueError, match="contradicts"):
        build(cohort, split="train", test_mode=True)


def test_bad_subject_fails_at_construction(fresh_cohort):
    (fresh_cohort.parent / "s1_cp.nii.gz").write_bytes(b"\x1f\x8b broken")
    with pytest.raises(ValueError, match="s1_cp.nii.gz"):
        build(fresh_cohort, split="test")


def test_lazy_init_defers_loading(fresh_cohort):
    ds = build(fresh_cohort, split="test", lazy_init=True)
    assert not ds._fully_initialized
    assert len(ds) == 6 and ds._fully_initialized


def test_cache_false_serves_same_items(cohort):
    a, b = build(cohort, split="test"), build(cohort, split="test", cache=False)
    for i in (0, 3, 5):
        np.testing.assert_array_equal(a[i]["img_pathological"], b[i]["img_pathological"])


def test_fit_slices_modes():
    sl = np.zeros((1, 4, 8), np.float32)
    sl[0, :, 2:6] = 1
    np.testing.assert_array_equal(fit_slices(sl, 4, "pad")[0], sl[0, :, 2:6])  # centre crop of width
    padded = fit_slices(sl[:, :, 2:6], 6, "pad")[0]
    assert padded.shape == (6, 6) and padded[1:5, 1:5].all() and padded.sum() == 16
    fit = fit_slices(sl, 4, "fit")[0]  # 4x8 -> 2x4, then pad rows 1..2
    assert fit.shape == (4, 4) and not fit[0].any() and not fit[3].any()
    mask = fit_slices(sl.astype(bool), 16, "resize", nearest=True)
    assert mask.dtype == bool and mask.shape == (1, 16, 16) and mask[0, :, 4:12].all()


def test_registry_pipeline_collate_and_preprocessor(cohort):
    from mmagic.models.data_preprocessors import DataPreprocessor
    from mmagic.registry import DATASETS
    from mmengine.registry import init_default_scope

    from mmac import register_all_modules

    register_all_modules()
    init_default_scope("mmagic")
    pre = DataPreprocessor(data_keys=["img_healthy", "img_pathological"])
    train = DATASETS.build(dict(type="ThighMRDataset", manifest=str(cohort), size=SIZE,
                                pipeline=thigh_pipeline("train")))
    batch = pre(pseudo_collate([train[i] for i in range(3)]), training=True)
    for key in ("img_healthy", "img_pathological"):
        x = batch["inputs"][key]
        assert x.shape == (3, 1, SIZE, SIZE) and x.dtype == torch.float32
        assert x.min() >= -1.0 and x.max() <= 1.0
    assert batch["data_samples"].subject_pathological[0] in {"m1", "m2", "s1"}

    test = DATASETS.build(dict(type="ThighMRDataset", manifest=str(cohort), size=SIZE, split="test",
                               pipeline=thigh_pipeline("test")))
    batch = pre(pseudo_collate([test[i] for i in range(2)]), training=False)
    assert set(batch["inputs"]) == {"img_pathological"}
    x = batch["inputs"]["img_pathological"]
    assert x.shape == (2, 1, SIZE, SIZE) and x.min() >= -1.0 and x.max() <= 1.0
    samples = batch["data_samples"]
    assert samples.gt_mask.shape == (2, 1, SIZE, SIZE) and samples.gt_mask.dtype == torch.bool
    assert samples.img_healthy_truth.shape == (2, 1, SIZE, SIZE)
    assert samples.fat_fraction.shape == (2, 1, SIZE, SIZE)
    assert samples.subject == ["m1", "m1"] and samples.slice_index == [0, 4] and samples.group == ["moderate"] * 2
    # test-time data fields are not normalised: same scale as the destructed model output
    torch.testing.assert_close(samples.img_pathological, (x + 1) * 127.5, atol=1e-3, rtol=0)


# ------------------------------------------------------------------ real-data options
def display(volume: np.ndarray, z: int) -> np.ndarray:
    """Slice z of a canonical (X, Y, Z) volume in display convention (rows: anterior first, columns: right first)."""
    return volume[::-1, ::-1, z].T


def test_label_map_mask_serves_the_chosen_labels(fresh_cohort):
    import nibabel as nib
    from test_manifest import label_map

    mask = np.asarray(nib.load(str(fresh_cohort.parent / "s1_mask.nii.gz")).dataobj)
    labels = label_map(mask)
    nib.save(nib.Nifti1Image(labels, nib.load(str(fresh_cohort.parent / "s1_mask.nii.gz")).affine),
             str(fresh_cohort.parent / "s1_mask.nii.gz"))
    any_label = build(fresh_cohort, split="test", subjects=["s1"], size=32, disk_cache=False)
    muscle = build(fresh_cohort, split="test", subjects=["s1"], size=32, mask_labels=[1, 2, 3], disk_cache=False)
    z = any_label[0]["slice_index"]
    np.testing.assert_array_equal(any_label[0]["gt_mask"], display(labels, z) > 0)
    np.testing.assert_array_equal(muscle[0]["gt_mask"], display(mask, z) == 1)
    with pytest.raises(ValueError, match="0 is the background"):
        build(fresh_cohort, split="test", mask_labels=[0])


def test_healthy_rows_may_leave_the_mask_empty(fresh_cohort):
    text = fresh_cohort.read_text().replace("h1_mask.nii.gz", "").replace("h2_mask.nii.gz", "")
    fresh_cohort.write_text(text)
    ds = build(fresh_cohort, split="train", random_pairing=False)
    assert len(ds) == 24 and ds[0]["subject_healthy"] == "h1"
    assert len(build(fresh_cohort, split="test")) == 6


def write_non_square(root, shape=(40, 24, 4)):
    """One healthy and one severe subject of in-plane size 40 (x) x 24 (y): slices of 24 rows x 40 columns."""
    import nibabel as nib

    root.mkdir()
    rng = np.random.default_rng(0)
    rows = ["subject,group,image,mask"]
    for name, group in (("h", "healthy"), ("s", "severe")):
        image = rng.uniform(50, 100, shape).astype(np.float32)
        mask = np.zeros(shape, np.uint8)
        mask[10:30, 6:18] = 1
        nib.save(nib.Nifti1Image(image, np.diag([1.0, 1.0, 5.0, 1.0])), str(root / f"{name}.nii.gz"))
        nib.save(nib.Nifti1Image(mask, np.diag([1.0, 1.0, 5.0, 1.0])), str(root / f"{name}_mask.nii.gz"))
        rows.append(f"{name},{group},{name}.nii.gz,{name}_mask.nii.gz")
    (root / "manifest.csv").write_text("\n".join(rows) + "\n")
    return root / "manifest.csv"


def test_non_square_slices_keep_their_aspect_ratio_by_default(tmp_path):
    manifest = write_non_square(tmp_path / "ns")
    item = build(manifest, split="test", annotation_every=1)[0]
    # 24 x 40 -> 16 / 40 = 0.4: 10 x 16, centred in 16 rows: rows 3..12 hold the image, the others are padding
    img = item["img_pathological"][..., 0]
    assert not img[:3].any() and not img[13:].any() and (img[3:13] > 0).all()
    # The mask, by hand: display rows 23 - y = 6..17 and columns 39 - x = 10..29. Nearest-exact resampling takes
    # output row i from input row floor((i + 0.5) * 24 / 10): rows 2..6 fall in 6..17 (then + 3 rows of
    # padding); output column j from floor((j + 0.5) * 40 / 16): columns 4..11 fall in 10..29.
    rows, cols = np.nonzero(item["gt_mask"])
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (3 + 2, 3 + 6, 4, 11)
    stretched = build(manifest, split="test", annotation_every=1, resize_mode="resize")[0]["img_pathological"]
    assert (stretched[..., 0] > 0).all()


# ------------------------------------------------------------------ loading: threads, progress, disk cache
def test_threads_load_the_same_arrays(cohort):
    one = build(cohort, split="test", load_workers=1, disk_cache=False)
    three = build(cohort, split="test", load_workers=3, disk_cache=False)
    assert [r.subject for r in one.records] == [r.subject for r in three.records]
    for a, b in zip(one._arrays, three._arrays, strict=True):
        for key in ("img", "mask", "truth", "fat"):
            np.testing.assert_array_equal(a[key], b[key])


def test_progress_bar_names_the_split(cohort, capsys):
    build(cohort, split="train", progress=True, disk_cache=False)
    assert "ThighMRDataset train" in capsys.readouterr().err
    build(cohort, split="train", progress=False, disk_cache=False)
    assert "ThighMRDataset train" not in capsys.readouterr().err


def cache_files(folder):
    return sorted(p.relative_to(folder) for p in folder.rglob("*") if p.is_file())


def assert_same_test_items(dataset, plain):
    """Every test item of ``dataset`` equals the one ``plain`` (built without the disk cache) serves."""
    assert len(dataset) == len(plain)
    for i in range(len(plain)):
        for key in ("img_pathological", "gt_mask", "img_healthy_truth", "fat_fraction"):
            np.testing.assert_array_equal(dataset[i][key], plain[i][key])


def test_disk_cache_serves_the_decoded_arrays(cohort, tmp_path):
    folder = tmp_path / "cache"
    first = build(cohort, split="test", disk_cache=str(folder))
    assert first.cache_hits == 0 and len(cache_files(folder)) == 3  # m1, m2, s1
    assert all(p.suffix == ".npz" for p in cache_files(folder))  # atomic writes leave no temporary file
    second = build(cohort, split="test", disk_cache=str(folder))
    assert second.cache_hits == 3
    assert_same_test_items(second, build(cohort, split="test", disk_cache=False))
    # the train split shares the pathological subjects' entries and adds the healthy ones: each subject once
    train = build(cohort, split="train", disk_cache=str(folder))
    assert train.cache_hits == 3 and len(cache_files(folder)) == 5
    assert set(train._arrays[0]) == {"num_slices", "img", "annotated"}  # it keeps only the images
    plain = build(cohort, split="train", disk_cache=False)
    for a, b in zip(train._arrays, plain._arrays, strict=True):
        np.testing.assert_array_equal(a["img"], b["img"])


def test_train_split_fills_the_cache_for_the_test_split(cohort, tmp_path):
    folder = tmp_path / "cache"
    build(cohort, split="train", disk_cache=str(folder))
    test = build(cohort, split="test", disk_cache=str(folder))
    assert test.cache_hits == 3
    assert_same_test_items(test, build(cohort, split="test", disk_cache=False))


def test_empty_annotated_slice_is_found_also_from_the_cache(fresh_cohort, tmp_path):
    import nibabel as nib

    path = fresh_cohort.parent / "m1_mask.nii.gz"
    img = nib.load(str(path))
    mask = np.asarray(img.dataobj).copy()
    mask[:, :, 4] = 0
    nib.save(nib.Nifti1Image(mask, img.affine), str(path))
    folder = tmp_path / "cache"
    build(fresh_cohort, split="train", disk_cache=str(folder))  # no annotation check in training: cached
    for _ in range(2):
        with pytest.raises(ValueError, match=r"m1_mask.nii.gz is empty on annotated slice\(s\) \[4\]"):
            build(fresh_cohort, split="test", disk_cache=str(folder), annotation_every=4)
    assert len(build(fresh_cohort, split="test", disk_cache=str(folder), annotation_every=4,
                     annotation_offset=1)) == 6


def test_disk_cache_follows_file_content(fresh_cohort, tmp_path):
    import os

    import nibabel as nib

    folder = tmp_path / "cache"
    build(fresh_cohort, split="test", disk_cache=str(folder))
    path = fresh_cohort.parent / "m2_img.nii.gz"
    stat = path.stat()
    img = nib.load(str(path))
    nib.save(nib.Nifti1Image(np.asarray(img.dataobj)[::-1].copy(), img.affine), str(path))  # same size, new content
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # and the old time stamp: only the content tells
    again = build(fresh_cohort, split="test", disk_cache=str(folder))
    assert again.cache_hits == 2  # m1 and s1; m2 decoded again
    fresh = build(fresh_cohort, split="test", disk_cache=False)
    m2 = [i for i, d in enumerate(fresh.data_list) if d["subject"] == "m2"]
    for i in m2:
        np.testing.assert_array_equal(again[i]["img_pathological"], fresh[i]["img_pathological"])


@pytest.mark.parametrize("change, hits", [(dict(size=8), 0), (dict(resize_mode="pad"), 0),
                                          (dict(mask_labels=[1]), 0), (dict(annotation_every=2), 3)])
def test_disk_cache_follows_settings(cohort, tmp_path, change, hits):
    folder = tmp_path / "cache"
    build(cohort, split="test", disk_cache=str(folder))
    changed = build(cohort, split="test", disk_cache=str(folder), **change)
    assert changed.cache_hits == hits  # which slices are annotated is chosen after the cache
    plain = build(cohort, split="test", disk_cache=False, **change)
    np.testing.assert_array_equal(changed[1]["img_pathological"], plain[1]["img_pathological"])
    np.testing.assert_array_equal(changed[1]["gt_mask"], plain[1]["gt_mask"])


def test_unreadable_cache_entry_is_recomputed(cohort, tmp_path):
    folder = tmp_path / "cache"
    build(cohort, split="test", disk_cache=str(folder))
    entry = folder / cache_files(folder)[0]
    entry.write_bytes(b"not a zip")
    again = build(cohort, split="test", disk_cache=str(folder))
    assert again.cache_hits == 2
    assert entry.stat().st_size > 100  # rewritten


def test_slice_cache_env_turns_the_default_off(cohort, monkeypatch):
    from mmac.datasets.slice_cache import default_cache_dir

    monkeypatch.setenv("MMAC_SLICE_CACHE", "off")
    assert default_cache_dir() is None and build(cohort, split="test").disk_cache is None
    monkeypatch.delenv("MMAC_SLICE_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", "/x/cache")
    assert str(default_cache_dir()) == "/x/cache/mmac/slices"


def test_data_root_none_explains_where_it_comes_from(cohort):
    with pytest.raises(ValueError, match="top of the config"):
        build(cohort, data_root=None)


def test_unwritable_cache_warns_and_loads(cohort, tmp_path):
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("x")  # the cache folder cannot be created under a file
    with pytest.warns(UserWarning, match="cannot write an entry"):
        ds = build(cohort, split="test", disk_cache=str(blocker / "cache"))
    plain = build(cohort, split="test", disk_cache=False)
    np.testing.assert_array_equal(ds[2]["img_pathological"], plain[2]["img_pathological"])
    assert blocker.read_text() == "x"
