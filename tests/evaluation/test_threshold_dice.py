"""Tests for mmac.evaluation.threshold_dice against an independent brute force and hand-worked cases."""
import numpy as np
import pytest

from benchmarks.threshold_dice import make_benchmark_slices
from mmac.evaluation.threshold_dice import (
    optimal_threshold_dice,
    optimal_threshold_dice_batch,
    threshold_dice_reference,
)

METHODS = ("auto", "sort", "binned")


def brute_force(image, mask):
    """Every pair of present values lo <= hi, Dice by boolean masks. Returns the best Dice."""
    values = np.unique(image)
    pixels = np.ravel(image)
    mask = np.ravel(mask).astype(bool)
    sel = (pixels >= values[:, None, None]) & (pixels <= values[None, :, None])  # (lo, hi, pixel)
    dice = 2 * np.sum(sel & mask, axis=-1) / (np.sum(sel, axis=-1) + mask.sum())
    return dice.max()


def all_pairs_prefix(image, mask):
    """For larger images: all pairs of distinct values by prefix sums over the sorted values (no search)."""
    values, inverse = np.unique(np.ravel(image), return_inverse=True)
    mask = np.ravel(mask).astype(bool)
    cc = np.concatenate([[0], np.cumsum(np.bincount(inverse, minlength=values.size))])
    cm = np.concatenate([[0], np.cumsum(np.bincount(inverse[mask], minlength=values.size))])
    sm = cm[None, 1:] - cm[:-1, None]  # (lo, hi)
    sc = cc[None, 1:] - cc[:-1, None]
    dice = np.where(sc > 0, 2 * sm / (mask.sum() + np.maximum(sc, 0)), -1.0)
    return dice.max()


def dice_of(image, mask, lo, hi):
    sel = (image >= lo) & (image <= hi)
    mask = np.asarray(mask, bool)
    return 2 * np.sum(sel & mask) / (np.sum(sel) + np.sum(mask))


def random_case(rng, kind):
    shape = (6, 7)
    if kind == "ties":  # few distinct values: many ties
        image = rng.integers(0, rng.integers(1, 6), shape).astype(rng.choice([np.uint8, np.int16, np.int64]))
    elif kind == "int_float":  # integral floats take the integer fast path
        image = rng.integers(-20, 20, shape).astype(np.float32)
    elif kind == "float_ties":
        image = rng.standard_normal(shape).round(1)
    else:
        image = rng.standard_normal(shape).astype(np.float32)
    mask = rng.random(shape) < rng.uniform(0.05, 0.95)
    mask.flat[rng.integers(mask.size)] = True
    return image, mask


@pytest.mark.parametrize("kind", ["ties", "int_float", "float_ties", "float"])
def test_single_matches_brute_force(kind):
    rng = np.random.default_rng(hash(kind) % 2**32)
    for _ in range(40):
        image, mask = random_case(rng, kind)
        expected = brute_force(image, mask)
        for method in METHODS:
            dice, lo, hi = optimal_threshold_dice(image, mask, method=method)
            assert dice == pytest.approx(expected, abs=1e-12), method
            assert lo <= hi and lo in image and hi in image
            assert dice_of(image, mask, lo, hi) == pytest.approx(dice, abs=1e-12)


@pytest.mark.parametrize("dtype", [np.uint8, np.float32, np.float64])
def test_batch_matches_brute_force(dtype):
    rng = np.random.default_rng(7)
    images = rng.integers(0, 4, (30, 5, 6)).astype(dtype)
    if dtype == np.float64:
        images = images + rng.standard_normal(images.shape).round(1)
    masks = rng.random(images.shape) < 0.4
    masks[:, 0, 0] = True
    for method in METHODS:
        dice, lo, hi = optimal_threshold_dice_batch(images, masks, method=method)
        assert dice.shape == lo.shape == hi.shape == (30,)
        assert lo.dtype == images.dtype
        for n in range(30):
            assert dice[n] == pytest.approx(brute_force(images[n], masks[n]), abs=1e-12)
            assert dice_of(images[n], masks[n], lo[n], hi[n]) == pytest.approx(dice[n], abs=1e-12)


@pytest.mark.parametrize("num_bins", [2, 5, 16, 128])
def test_binned_pruning_matches_all_pairs(num_bins):
    # Few bins force the bound to keep or prune bins that hold the optimal thresholds; 128 bins also run
    # the coarse-to-fine start. Data: clusters with ties, outliers, a narrow muscle band.
    rng = np.random.default_rng(num_bins)
    for _ in range(6):
        size = (30, 30)
        image = rng.normal(0, 1, size).round(rng.integers(1, 4))
        image[rng.random(size) < 0.05] = rng.choice([-50.0, 80.0])
        band = (image > rng.uniform(-1, 0)) & (image < rng.uniform(0, 1.5))
        mask = band ^ (rng.random(size) < 0.1)
        mask[0, 0] = True
        expected = all_pairs_prefix(image, mask)
        dice, lo, hi = optimal_threshold_dice_batch(image[None], mask[None], method="binned", num_bins=num_bins)
        assert dice[0] == pytest.approx(expected, abs=1e-12)
        assert dice_of(image, mask, lo[0], hi[0]) == pytest.approx(dice[0], abs=1e-12)


def test_binned_path_on_larger_float_slices_matches_sort():
    # Large enough that the binned path prunes most bins; the plain sort is the independent reference here.
    images, masks = make_benchmark_slices(6, 64, integer=False, seed=3)
    fast = optimal_threshold_dice_batch(images, masks, method="binned")
    slow = threshold_dice_reference(images, masks)
    np.testing.assert_array_equal(fast[0], slow[0])
    for n in range(6):
        assert dice_of(images[n], masks[n], fast[1][n], fast[2][n]) == pytest.approx(fast[0][n], abs=1e-12)


def test_integer_path_on_uint8_slices_matches_sort():
    images, masks = make_benchmark_slices(6, 64, integer=True, seed=4)
    fast = optimal_threshold_dice_batch(images, masks, method="integer")
    np.testing.assert_array_equal(fast[0], threshold_dice_reference(images, masks)[0])


@pytest.mark.parametrize("integer", [False, True], ids=["float", "uint8"])
def test_threads_give_the_same_result_as_one(integer):
    # 70 slices: above the 64 from which the default uses threads; 3 threads split it 23/23/24.
    images, masks = make_benchmark_slices(70, 32, integer=integer, seed=8)
    one = optimal_threshold_dice_batch(images, masks, workers=1)
    for workers in (3, None):
        many = optimal_threshold_dice_batch(images, masks, workers=workers)
        for a, b in zip(one, many, strict=True):
            np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(one[0], threshold_dice_reference(images, masks)[0])


def test_default_workers_follow_omp_num_threads(monkeypatch):
    from mmac.evaluation.threshold_dice import default_workers

    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert default_workers() == 1
    monkeypatch.setenv("OMP_NUM_THREADS", "64")
    assert default_workers() == 8
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert 1 <= default_workers() <= 8


def test_hand_worked_1d():
    # values  : 1 2 2 3 4 5
    # mask    : 0 1 1 1 0 1      M = 4
    # [2, 3]  : |A&B| = 3, |B| = 3 -> 6 / 7 = 0.857
    # [2, 5]  : |A&B| = 4, |B| = 5 -> 8 / 9 = 0.889  (best)
    # [1, 5]  : 8 / 10; [5, 5]: 2 / 5; [2, 2]: 4 / 6
    image = np.array([1, 2, 2, 3, 4, 5])
    mask = np.array([0, 1, 1, 1, 0, 1])
    for method in ("auto", "sort", "binned", "integer"):
        dice, lo, hi = optimal_threshold_dice(image, mask, method=method)
        assert dice == pytest.approx(8 / 9)
        assert (lo, hi) == (2, 5)


def test_ties_cannot_be_split():
    # M = 2 mask pixels: one at value 1 (with three background pixels of value 1), one at value 2.
    # Splitting the tie at value 1 would give Dice 1, but no threshold can. Candidates:
    # [1, 1]: 2*1 / (2 + 4) = 1/3;  [1, 2]: 2*2 / (2 + 5) = 4/7;  [2, 2]: 2*1 / (2 + 1) = 2/3 (best);
    # anything with 0 adds a background pixel.
    image = np.array([[0, 1, 1], [1, 1, 2]])
    mask = np.array([[0, 1, 0], [0, 0, 1]], bool)
    dice, lo, hi = optimal_threshold_dice(image, mask)
    assert dice == pytest.approx(2 / 3)
    assert (lo, hi) == (2, 2)


def test_perfect_separation_2d():
    # muscle at 10..12, fat at 30 and 5: thresholds [10, 12] separate exactly.
    image = np.array([[5.0, 10.0, 30.0], [11.0, 12.0, 30.0]])
    mask = np.array([[0, 1, 0], [1, 1, 0]])
    dice, lo, hi = optimal_threshold_dice(image, mask)
    assert dice == 1.0 and (lo, hi) == (10.0, 12.0)


def test_constant_image():
    image = np.full((3, 3), 7, np.uint16)
    mask = np.zeros((3, 3), bool)
    mask[1, 1] = True
    dice, lo, hi = optimal_threshold_dice(image, mask)
    assert dice == pytest.approx(2 / 10) and lo == hi == 7


def test_extreme_float_range():
    image = np.array([-3e38, 0.0, 1e-30, 3e38], np.float32)
    mask = np.array([0, 1, 1, 0])
    dice, lo, hi = optimal_threshold_dice(image, mask, method="binned")
    assert dice == 1.0 and (lo, hi) == (np.float32(0.0), np.float32(1e-30))


@pytest.mark.parametrize(
    "image, mask, match",
    [
        (np.zeros((2, 2)), np.zeros((2, 2)), "empty"),
        (np.zeros((2, 2)), np.ones((2, 3)), "same shape"),
        (np.array([[0.0, np.nan]]), np.ones((1, 2)), "non-finite"),
        (np.array([[0.0, np.inf]]), np.ones((1, 2)), "non-finite"),
        (np.zeros((2, 2)), np.full((2, 2), 2), "binary"),
        (np.zeros((0, 2)), np.zeros((0, 2)), "empty"),
    ],
)
def test_errors(image, mask, match):
    with pytest.raises(ValueError, match=match):
        optimal_threshold_dice(image, mask)


def test_batch_errors():
    with pytest.raises(ValueError, match="slice 1"):
        optimal_threshold_dice_batch(np.zeros((2, 3, 3)), np.stack([np.ones((3, 3)), np.zeros((3, 3))]))
    with pytest.raises(ValueError, match=r"\(N, \.\.\.\)"):
        optimal_threshold_dice_batch(np.zeros(3), np.ones(3))
    with pytest.raises(ValueError, match="method"):
        optimal_threshold_dice_batch(np.zeros((1, 3)), np.ones((1, 3)), method="fast")
    with pytest.raises(ValueError, match="integer-valued"):
        optimal_threshold_dice_batch(np.full((1, 3), 0.5), np.ones((1, 3)), method="integer")
    with pytest.raises(ValueError, match="num_bins"):
        optimal_threshold_dice_batch(np.zeros((1, 3)), np.ones((1, 3)), num_bins=1)
    with pytest.raises(ValueError, match="workers must be >= 1"):
        optimal_threshold_dice_batch(np.zeros((1, 3)), np.ones((1, 3)), workers=0)
    with pytest.raises(TypeError, match="dtype"):
        optimal_threshold_dice(np.zeros(3, bool), np.ones(3))
