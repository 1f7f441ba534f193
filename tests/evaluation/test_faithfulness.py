"""Removal / preservation scores: hand-worked slices, a known noise level and the phantom's own noise-free truth."""
import numpy as np
import pytest

from mmac.datasets.manifest import normalise, robust_percentiles
from mmac.evaluation.faithfulness import (
    background_mask,
    blur_reference,
    body_mask,
    faithfulness,
    infiltrated_region,
    infiltration_only,
    noise_sigma,
)
from mmac.phantom.cohort import make_subject


def _thigh(sigma=4.0, seed=2, size=48, radius=16, level=100.0):
    """A disc of tissue with Gaussian noise in Rayleigh-distributed air: a hand-made slice with known sigma."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    inside = (yy - size / 2) ** 2 + (xx - size / 2) ** 2 < radius ** 2
    return np.where(inside, level + sigma * rng.standard_normal((size, size)), _rayleigh((size, size), sigma, rng))


def _rayleigh(shape, sigma, rng):
    """Magnitude of complex Gaussian noise of std sigma per component: what air looks like in MR."""
    return sigma * np.hypot(rng.standard_normal(shape), rng.standard_normal(shape))


@pytest.mark.parametrize("sigma", [2.0, 7.5])
def test_noise_sigma_recovers_rayleigh_background(sigma):
    rng = np.random.default_rng(0)
    image = _rayleigh((128, 128), sigma, rng)
    image[40:90, 40:90] = 100.0 + sigma * rng.standard_normal((50, 50))  # a body, with texture-free noise
    background = np.ones((128, 128), bool)
    background[35:95, 35:95] = False
    assert noise_sigma(image, background) == pytest.approx(sigma, rel=0.03)


def test_noise_sigma_of_a_zeroed_background_is_undefined():
    """A masked scan's air is 0 but for a ring of noise the mask kept: no noise level (NaN), not a low one. The
    dataset's normalisation clips about 1 % of real air to 0, which must still be measured."""
    rng = np.random.default_rng(1)
    image = _rayleigh((128, 128), 4.0, rng)
    background = np.ones((128, 128), bool)
    background[35:95, 35:95] = False
    clipped = np.clip(image - np.quantile(image[background], 0.01), 0, None)  # 1 % of the air at exactly 0
    assert noise_sigma(clipped, background) == pytest.approx(4.0, rel=0.03)  # a shift does not move the spread
    masked = image.copy()
    masked[:25] = masked[105:] = masked[:, :25] = masked[:, 105:] = 0.0  # kept: a 10-pixel ring of air
    assert (masked[background] == 0).mean() > 0.5
    assert np.isnan(noise_sigma(masked, background))
    # Half zeros or fewer: measured.
    assert np.isfinite(noise_sigma(np.where(np.arange(128) % 2 == 0, image, 0.0), background))


def test_noise_sigma_ignores_a_shift_of_the_air_and_a_partly_zeroed_background():
    """The spread of the air, not its mean: shifting the air down (as the dataset's percentile normalisation does)
    or setting a part of it to 0 leaves the estimate where it was."""
    rng = np.random.default_rng(3)
    image = _rayleigh((128, 128), 5.0, rng)
    background = np.ones((128, 128), bool)
    plain = noise_sigma(image, background)
    assert plain == pytest.approx(5.0, rel=0.03)
    for shift in (0.5, 1.0):  # 0.5 % and 2 % of the air clipped to 0; the dataset clips about 1 %
        assert noise_sigma(np.clip(image - shift, 0, None), background) == pytest.approx(plain, rel=0.03)
    partly = image.copy()
    partly[:40] = 0.0  # 31 % of the air masked
    assert noise_sigma(partly, background) == pytest.approx(5.0, rel=0.04)


def test_background_excludes_the_body_and_a_margin():
    body = np.zeros((20, 20), bool)
    body[8:12, 8:12] = True
    background = background_mask(body, margin=2)
    assert not background[6:14, 6:14].any() and background[5, 5] and background[:5].all()
    assert background.sum() == 400 - 64


def test_noise_sigma_rejects_bad_input():
    with pytest.raises(ValueError, match="background shape"):
        noise_sigma(np.zeros((8, 8)), np.ones((8, 9), bool))
    with pytest.raises(ValueError, match="background pixels"):
        noise_sigma(np.zeros((8, 8)), np.zeros((8, 8), bool))


def test_hand_worked_removal_and_preservation():
    truth = _thigh()
    original = truth.copy()
    original[20:26, 20:26] += 60.0  # 36 infiltrated pixels, each 60 too bright
    translated = truth + 3.0  # F(x): everything 3 too bright ...
    translated[20:26, 20:26] = truth[20:26, 20:26] + 15.0  # ... and a quarter of the infiltration left
    scores = faithfulness(original, translated, truth)
    assert scores["infiltrated_px"] == 36
    assert scores["error_original"] == pytest.approx(60.0)
    assert scores["error_translated"] == pytest.approx(15.0)
    assert scores["removal"] == pytest.approx(0.75)
    assert scores["error_kept"] == pytest.approx(3.0)
    assert not infiltrated_region(original, truth, 5.1)[~body_mask(truth, 25.5)].any()
    noise_mae = scores["noise_mae"]
    assert noise_mae == pytest.approx(4.0 * np.sqrt(2 / np.pi), rel=0.1)
    assert scores["preservation"] == pytest.approx(3.0 / noise_mae)


def test_hand_worked_tissue_bias_outside_the_infiltration():
    truth = _thigh(seed=5)                                   # a disc at 100 (dark: below 0.6 * 255 = 153) ...
    yy, xx = np.mgrid[:48, :48]
    truth[((yy - 24) ** 2 + (xx - 24) ** 2 > 12 ** 2) & (truth > 50)] += 100.0   # ... in a ring at 200 (bright)
    original = truth.copy()
    original[20:26, 20:26] += 60.0                           # infiltrated: left out of both biases
    translated = truth + np.where(truth > 153, -10.0, 3.0)   # F darkens the bright tissue by 10, the rest +3 ...
    translated[20:26, 20:26] = truth[20:26, 20:26] - 50.0    # ... whatever it does on the infiltration
    scores = faithfulness(original, translated, truth)
    assert scores["bias_bright"] == pytest.approx(-10.0) and scores["bias_dark"] == pytest.approx(3.0)
    # at a level of 30 % of the range the dark disc counts as bright: a mix of -10 and +3
    assert -10.0 < faithfulness(original, translated, truth, bright=0.3)["bias_bright"] < 0.0
    identity = faithfulness(original, original, truth)
    assert identity["bias_bright"] == 0.0 and identity["bias_dark"] == 0.0
    with pytest.raises(ValueError, match="bright must be"):
        faithfulness(original, translated, truth, bright=1.0)


def test_hand_worked_heavy_removal():
    truth = _thigh(seed=2)
    original = truth.copy()
    original[20:26, 20:26] += 100.0  # heavy: 100 > 0.3 * 255
    original[30:36, 20:26] += 20.0   # light: 20 < 0.3 * 255
    translated = truth.copy()
    translated[20:26, 20:26] += 25.0  # a quarter of the heavy infiltration left ...
    translated[30:36, 20:26] += 20.0  # ... and the light one untouched
    scores = faithfulness(original, translated, truth)
    assert scores["heavy_px"] == 36 and scores["infiltrated_px"] == 72
    assert scores["removal_heavy"] == pytest.approx(0.75)
    assert scores["removal"] == pytest.approx(1 - (25 + 20) / (100 + 20))
    # Light infiltration only: no heavy pixels, no heavy score.
    light = faithfulness(truth + np.where(original - truth == 100.0, 20.0, 0.0), truth, truth)
    assert light["heavy_px"] == 0 and np.isnan(light["removal_heavy"]) and light["removal"] == 1.0
    with pytest.raises(ValueError, match="delta <= heavy"):
        faithfulness(original, translated, truth, delta=0.4, heavy=0.3)


def test_infiltration_only_pastes_f_on_the_infiltration():
    truth = np.zeros((4, 4))
    original = truth.copy()
    original[0, :2] = [10.0, 3.0]        # 10 > 0.02 * 255 = 5.1 is infiltrated, 3 is not
    translated = np.full((4, 4), 7.0)     # F changed every pixel
    out = infiltration_only(original, translated, truth)
    expected = original.copy()
    expected[0, 0] = 7.0                  # F(x) on the one infiltrated pixel, x everywhere else
    np.testing.assert_array_equal(out, expected)
    with pytest.raises(ValueError, match="one shape"):
        infiltration_only(original, translated[:3], truth)


def test_identity_and_truth_are_the_two_ends():
    truth = _thigh(seed=3)
    original = truth.copy()
    original[10:30, 15:20] += 40.0
    identity = faithfulness(original, original, truth)
    assert identity["removal"] == 0.0 and identity["preservation"] == 0.0
    perfect = faithfulness(original, truth, truth)
    assert perfect["removal"] == 1.0 and perfect["preservation"] == 0.0
    worse = faithfulness(original, original + (original - truth), truth)
    assert worse["removal"] == pytest.approx(-1.0)


def test_no_infiltration_gives_nan_removal():
    truth = _thigh(sigma=1.0, seed=4)
    scores = faithfulness(truth, truth, truth)
    assert np.isnan(scores["removal"]) and scores["infiltrated_px"] == 0
    assert scores["preservation"] == 0.0


def test_shape_and_range_errors():
    with pytest.raises(ValueError, match="one shape"):
        faithfulness(np.zeros((8, 8)), np.zeros((8, 8)), np.zeros((8, 9)))
    with pytest.raises(ValueError, match="data_range"):
        faithfulness(np.zeros((8, 8)), np.zeros((8, 8)), np.zeros((8, 8)), data_range=0)


def test_phantom_noise_level_and_perfect_denoiser():
    """On a severe phantom subject: the estimated noise matches the generator's sigma, and the noise-free
    counterpart (a perfect denoiser's output) scores removal ~ 1 and preservation ~ 1 by construction."""
    kwargs = dict(group="severe", seed=5, index=1, size=64, slices=6)
    noisy = make_subject(**kwargs)
    clean = make_subject(noise=False, **kwargs)
    sigma = noisy.info["muscle_level"] / noisy.info["snr"]
    pres, rem, est = [], [], []
    for z in range(1, 5):
        x, t, denoised = noisy.image[..., z], noisy.healthy[..., z], clean.healthy[..., z]
        scores = faithfulness(x, denoised, t, data_range=1.0)
        est.append(noise_sigma(t, background_mask(body_mask(t, 0.1))))
        pres.append(scores["preservation"])
        rem.append(scores["removal"])
    assert np.median(est) == pytest.approx(sigma, rel=0.1)
    assert 0.8 < np.median(pres) < 1.3
    assert np.median(rem) > 0.8


@pytest.mark.parametrize("group, seed", [("severe", 5), ("moderate", 6), ("severe", 7)])
def test_perfect_denoiser_scores_one_on_normalised_phantom_slices(group, seed):
    """On slices normalised as the dataset does (volume percentiles to 0-255, clipped), the noise estimate matches
    the generator's sigma on that scale, so the noise-free counterpart scores preservation ~ 1 (the mean of
    the air read sigma 9-10 % low there and gave it 1.15)."""
    kwargs = dict(group=group, seed=seed, index=1, size=64, slices=6)
    noisy, clean = make_subject(**kwargs), make_subject(noise=False, **kwargs)
    lo, hi = robust_percentiles(noisy.image)
    x, t, denoised = (255.0 * normalise(v, lo, hi) for v in (noisy.image, noisy.healthy, clean.healthy))
    sigma = noisy.info["muscle_level"] / noisy.info["snr"] * 255.0 / (hi - lo)
    est, pres = [], []
    for z in range(1, 5):
        est.append(noise_sigma(t[..., z], background_mask(body_mask(t[..., z], 25.5))))
        pres.append(faithfulness(x[..., z], denoised[..., z], t[..., z])["preservation"])
    assert np.median(est) == pytest.approx(sigma, rel=0.05)
    assert 0.95 < np.median(pres) < 1.12


def test_blur_reference_shrinks_as_the_anatomy_spans_more_pixels():
    """The same subject at 64 and 256 px: half a pixel of blur moves 64 px anatomy by several noise levels and
    256 px anatomy by little more than the noise it removes."""
    scores = {}
    for size in (64, 256):
        subject = make_subject(group="severe", seed=5, index=1, size=size, slices=6)
        lo, hi = robust_percentiles(subject.image)
        x, t = (255.0 * normalise(v, lo, hi) for v in (subject.image, subject.healthy))
        scores[size] = np.median([blur_reference(x[..., z], t[..., z]) for z in range(1, 5)])
    assert scores[64] > 2.0 and scores[256] < scores[64] / 2.5
    with pytest.raises(ValueError, match="sigma"):
        blur_reference(x[..., 1], t[..., 1], sigma=0.0)
