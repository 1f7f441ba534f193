import gzip

import nibabel as nib
import numpy as np
import pytest
from thigh_cohort import SHAPE, save, subject_arrays

from mmac.datasets.manifest import (
    load_nifti,
    load_subject,
    normalise,
    read_manifest,
    slices_to_volume,
    volume_to_slices,
)


def rewrite(manifest, old, new):
    manifest.write_text(manifest.read_text().replace(old, new))


def record_of(manifest, subject):
    return next(r for r in read_manifest(manifest) if r.subject == subject)


def test_read_manifest_resolves_paths(cohort):
    records = read_manifest(cohort)
    assert [r.subject for r in records] == ["h1", "h2", "m1", "m2", "s1"]
    assert records[0].image == cohort.parent / "h1_img.nii.gz" and records[0].counterpart is None
    assert records[2].counterpart == cohort.parent / "m1_cp.nii.gz" and records[2].pathological
    assert records[2].row == 4  # header is line 1


def test_missing_manifest(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.csv"):
        read_manifest(tmp_path / "nope.csv")


@pytest.mark.parametrize("content, match", [
    ("subject,group,image\nh1,healthy,a.nii\n", "missing column.*mask"),
    ("subject,group,image,mask\n", "no subjects"),
    ("subject,group,image,mask\nh1,sick,h1_img.nii.gz,h1_mask.nii.gz\n", r"row 2.*'sick'.*healthy, moderate, severe"),
    ("subject,group,image,mask\nh1,healthy,h1_img.nii.gz,h1_mask.nii.gz\nh1,healthy,h1_img.nii.gz,h1_mask.nii.gz\n",
     r"row 3: duplicate subject 'h1'.*row 2"),
])
def test_bad_manifest(fresh_cohort, content, match):
    fresh_cohort.write_text(content)
    with pytest.raises(ValueError, match=match):
        read_manifest(fresh_cohort)


def test_missing_file_names_row_and_file(fresh_cohort):
    (fresh_cohort.parent / "m2_mask.nii.gz").unlink()
    with pytest.raises(FileNotFoundError, match=r"row 5 \(subject 'm2'\).*m2_mask.nii.gz"):
        read_manifest(fresh_cohort)


def test_truncated_nifti(fresh_cohort):
    path = fresh_cohort.parent / "m1_img.nii.gz"
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(ValueError, match="m1_img.nii.gz.*unreadable or truncated"):
        load_subject(record_of(fresh_cohort, "m1"))


def test_garbage_nifti(fresh_cohort):
    path = fresh_cohort.parent / "m1_img.nii.gz"
    path.write_bytes(gzip.compress(b"not a nifti" * 10))
    with pytest.raises(ValueError, match="m1_img.nii.gz"):
        load_subject(record_of(fresh_cohort, "m1"))


def test_not_3d(fresh_cohort):
    save(fresh_cohort.parent / "m1_img.nii.gz", np.ones((32, 32), np.float32))
    with pytest.raises(ValueError, match="m1_img.nii.gz is not a 3D volume"):
        load_subject(record_of(fresh_cohort, "m1"))


def test_mask_shape_mismatch(fresh_cohort):
    save(fresh_cohort.parent / "m1_mask.nii.gz", np.ones((32, 32, 7), np.uint8))
    with pytest.raises(ValueError, match="subject 'm1'.*m1_mask.nii.gz has shape"):
        load_subject(record_of(fresh_cohort, "m1"))


def test_mask_affine_mismatch(fresh_cohort):
    _, mask, _, _ = subject_arrays(2)
    save(fresh_cohort.parent / "m1_mask.nii.gz", mask, np.diag([1.5, 1.5, 5.0, 1.0]))
    with pytest.raises(ValueError, match="m1_mask.nii.gz has a different affine"):
        load_subject(record_of(fresh_cohort, "m1"))


def test_nan_voxels(fresh_cohort):
    image = subject_arrays(2)[0]
    image[3, 4, 5] = np.nan
    save(fresh_cohort.parent / "m1_img.nii.gz", image)
    with pytest.raises(ValueError, match="m1_img.nii.gz has 1 NaN/inf"):
        load_subject(record_of(fresh_cohort, "m1"))


def test_constant_volume(fresh_cohort):
    save(fresh_cohort.parent / "m1_img.nii.gz", np.full(SHAPE, 7.0, np.float32))
    with pytest.raises(ValueError, match="m1_img.nii.gz is constant"):
        load_subject(record_of(fresh_cohort, "m1"))


@pytest.mark.parametrize("bad, shown", [(0.5, "0.5"), (-1.0, "-1"), (254.6, "254.6")])
def test_mask_that_is_neither_binary_nor_labels(fresh_cohort, bad, shown):
    mask = subject_arrays(2)[1].astype(np.float32)
    mask[0, 0, 0] = bad
    save(fresh_cohort.parent / "m1_mask.nii.gz", mask)
    with pytest.raises(ValueError, match=rf"m1_mask.nii.gz is neither binary nor a label map: values {shown} "):
        load_subject(record_of(fresh_cohort, "m1"))


def test_mask_saved_as_0_255_is_the_same_mask(fresh_cohort):
    mask = subject_arrays(2)[1]
    save(fresh_cohort.parent / "m1_mask.nii.gz", mask * np.uint8(255))
    assert set(np.unique(nib.load(str(fresh_cohort.parent / "m1_mask.nii.gz")).dataobj)) == {0, 255}
    np.testing.assert_array_equal(load_subject(record_of(fresh_cohort, "m1")).mask, mask == 1)


def label_map(mask: np.ndarray) -> np.ndarray:
    """Muscle split into labels 1, 2, 3 by x thirds, and label 7 (bone) in a corner outside the muscle."""
    labels = np.zeros(mask.shape, np.int16)
    third = np.minimum(np.arange(mask.shape[0]) * 3 // mask.shape[0], 2)[:, None, None] + 1
    labels[mask > 0] = np.broadcast_to(third, mask.shape)[mask > 0]
    labels[:3, :3, :] = 7
    return labels


def test_multi_label_mask_any_nonzero_by_default_and_chosen_labels(fresh_cohort):
    mask = subject_arrays(2)[1]
    labels = label_map(mask)
    assert set(np.unique(labels)) == {0, 1, 2, 3, 7}
    save(fresh_cohort.parent / "m1_mask.nii.gz", labels)
    record = record_of(fresh_cohort, "m1")
    np.testing.assert_array_equal(load_subject(record).mask, labels > 0)
    np.testing.assert_array_equal(load_subject(record, mask_labels=[1, 2, 3]).mask, mask == 1)
    np.testing.assert_array_equal(load_subject(record, mask_labels=[2]).mask, labels == 2)


@pytest.mark.parametrize("labels, error, match", [
    ([], ValueError, "at least one label"),
    ([0, 1], ValueError, "0 is the background"),
    ("1", TypeError, "list of ints"),
    ([1.5], TypeError, "must hold ints"),
    ([True], TypeError, "must hold ints"),
])
def test_bad_mask_labels(cohort, labels, error, match):
    with pytest.raises(error, match=match):
        load_subject(record_of(cohort, "m1"), mask_labels=labels)


def test_healthy_subject_without_mask(fresh_cohort):
    rewrite(fresh_cohort, "h1_mask.nii.gz", "")
    record = record_of(fresh_cohort, "h1")
    assert record.mask is None
    vol = load_subject(record)
    assert vol.mask is None and vol.image.shape == SHAPE


def test_pathological_subject_needs_a_mask(fresh_cohort):
    rewrite(fresh_cohort, "m2_mask.nii.gz", "")
    with pytest.raises(ValueError, match=r"row 5: empty 'mask' \(a pathological subject needs a muscle mask\)"):
        read_manifest(fresh_cohort)


def test_empty_mask_on_annotated_slice(fresh_cohort):
    mask = subject_arrays(2)[1]
    mask[:, :, 4] = 0  # annotated with every=4, offset=0
    mask[:, :, 5] = 0  # not annotated
    save(fresh_cohort.parent / "m1_mask.nii.gz", mask)
    record = record_of(fresh_cohort, "m1")
    with pytest.raises(ValueError, match=r"m1_mask.nii.gz is empty on annotated slice\(s\) \[4\]"):
        load_subject(record, annotation_every=4)
    load_subject(record, annotation_every=4, annotation_offset=2)  # slices 2 and 6 are fine
    load_subject(record)  # no annotation check


def test_normalisation_maps_percentiles_and_counterpart_shares_them(cohort):
    record = record_of(cohort, "m1")
    raw = np.asarray(nib.load(str(record.image)).dataobj, dtype=np.float64)
    raw_cp = np.asarray(nib.load(str(record.counterpart)).dataobj, dtype=np.float64)
    lo, hi = np.percentile(raw, 0.5), np.percentile(raw, 99.5)
    vol = load_subject(record)
    assert vol.percentiles == pytest.approx((lo, hi))
    assert vol.image.dtype == np.float32 and vol.image.min() == 0.0 and vol.image.max() == 1.0
    # the affine is already RAS, so no reorientation: compare voxel by voxel
    np.testing.assert_allclose(vol.image, np.clip((raw - lo) / (hi - lo), 0, 1), atol=1e-5)
    np.testing.assert_allclose(vol.counterpart, np.clip((raw_cp - lo) / (hi - lo), 0, 1), atol=1e-5)
    assert vol.mask.dtype == bool and vol.fat_fraction.shape == SHAPE


def test_normalise_by_hand():
    np.testing.assert_allclose(normalise(np.array([0.0, 1.0, 2.0, 5.0]), 1.0, 3.0), [0.0, 0.0, 0.5, 1.0])


def test_lps_volume_equals_its_ras_twin(tmp_path):
    data = np.random.default_rng(0).normal(size=(4, 5, 3)).astype(np.float32)
    ras = np.diag([2.0, 3.0, 4.0, 1.0])
    # LPS storage: x and y axes reversed; world positions unchanged
    lps = np.diag([-2.0, -3.0, 4.0, 1.0])
    lps[:3, 3] = [2.0 * 3, 3.0 * 4, 0.0]
    save(tmp_path / "ras.nii.gz", data, ras)
    save(tmp_path / "lps.nii.gz", data[::-1, ::-1, :].copy(), lps)
    a, aff_a, _ = load_nifti(tmp_path / "ras.nii.gz")
    b, aff_b, _ = load_nifti(tmp_path / "lps.nii.gz")
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(aff_a, aff_b)
    np.testing.assert_array_equal(a, data)


def test_volume_to_slices_convention_and_inverse():
    vol = np.arange(2 * 3 * 4).reshape(2, 3, 4)  # (X, Y, Z)
    sl = volume_to_slices(vol)
    assert sl.shape == (4, 3, 2)  # (Z, H=Y, W=X)
    # row 0 = most anterior (largest y), column 0 = patient's right (largest x)
    assert sl[1, 0, 0] == vol[1, 2, 1] and sl[1, 2, 1] == vol[0, 0, 1]
    np.testing.assert_array_equal(slices_to_volume(sl), vol)
