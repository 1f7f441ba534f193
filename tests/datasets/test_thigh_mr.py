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
