import numpy as np
import pytest

from mmac.datasets.transforms import RandomFlip2D, RandomRot90, flip, rot90

A = np.array([[1, 2, 3],
              [4, 5, 6]])


def test_rot90_by_hand():
    # counter-clockwise in the (H, W) plane
    np.testing.assert_array_equal(rot90(A, 1), [[3, 6], [2, 5], [1, 4]])
    np.testing.assert_array_equal(rot90(A, 2), [[6, 5, 4], [3, 2, 1]])
    np.testing.assert_array_equal(rot90(A, 3), [[4, 1], [5, 2], [6, 3]])
    np.testing.assert_array_equal(rot90(A[..., None], 1)[..., 0], [[3, 6], [2, 5], [1, 4]])


def test_flip_by_hand():
    np.testing.assert_array_equal(flip(A, "horizontal"), [[3, 2, 1], [6, 5, 4]])
    np.testing.assert_array_equal(flip(A, "vertical"), [[4, 5, 6], [1, 2, 3]])


def test_random_rot90_draws_all_four_and_records_k():
    np.random.seed(0)
    t = RandomRot90(keys="img")
    seen = set()
    for _ in range(40):
        out = t(dict(img=A[..., None].copy()))
        k = out["rot90_k"]["img"]
        np.testing.assert_array_equal(out["img"][..., 0], np.rot90(A, k))
        seen.add(k)
    assert seen == {0, 1, 2, 3}


def test_prob_zero_is_identity():
    out = RandomFlip2D(keys=["img"], prob=0.0)(dict(img=A.copy()))
    np.testing.assert_array_equal(out["img"], A)
    out = RandomRot90(keys=["img"], prob=0.0)(dict(img=A.copy()))
    np.testing.assert_array_equal(out["img"], A)


def test_flip_prob_one_flips_both():
    out = RandomFlip2D(keys="img", prob=1.0)(dict(img=A.copy()))
    np.testing.assert_array_equal(out["img"], [[6, 5, 4], [3, 2, 1]])


def test_shared_params_keep_image_and_mask_aligned():
    np.random.seed(1)
    img = np.arange(12, dtype=np.float32).reshape(3, 4, 1)
    mask = img[..., 0] % 2 == 0
    rot, fl = RandomRot90(["img", "mask"]), RandomFlip2D(["img", "mask"])
    for _ in range(20):
        out = fl(rot(dict(img=img.copy(), mask=mask.copy())))
        np.testing.assert_array_equal(out["img"][..., 0] % 2 == 0, out["mask"])


def test_independent_params_differ_per_key():
    np.random.seed(2)
    t = RandomRot90(["a", "b"], share_random_params=False)
    ks = [tuple(t(dict(a=A.copy(), b=A.copy()))["rot90_k"].values()) for _ in range(20)]
    assert any(ka != kb for ka, kb in ks)


def test_same_seed_same_draws():
    t = RandomFlip2D(["img"])
    np.random.seed(5)
    first = [t(dict(img=A.copy()))["flip_directions"]["img"] for _ in range(10)]
    np.random.seed(5)
    assert first == [t(dict(img=A.copy()))["flip_directions"]["img"] for _ in range(10)]


def test_bad_options_and_missing_key():
    with pytest.raises(ValueError, match="diagonal"):
        RandomFlip2D("img", directions=["diagonal"])
    with pytest.raises(ValueError, match="prob"):
        RandomRot90("img", prob=1.5)
    with pytest.raises(KeyError, match="'mask'"):
        RandomRot90("mask")(dict(img=A))
