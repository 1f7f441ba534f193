"""ThresholdDiceMetric and ThresholdDiceHook against independent computations."""
import itertools

import numpy as np
import pytest
import torch
from scipy import ndimage

pytest.importorskip('mmagic')
from mmac.evaluation.faithfulness import faithfulness  # noqa: E402
from mmac.evaluation.fat_fraction import fat_fraction_estimate  # noqa: E402
from mmac.evaluation.metrics import ThresholdDiceMetric  # noqa: E402


def brute_force_dice(image, mask):
    best = 0.0
    values = np.unique(image)
    for lo, hi in itertools.combinations_with_replacement(values, 2):
        seg = (image >= lo) & (image <= hi)
        best = max(best, 2 * (seg & mask).sum() / (seg.sum() + mask.sum()))
    return best


def sample(seed, subject, group, slice_index):
    rng = np.random.default_rng(seed)
    mask = np.zeros((8, 8), bool)
    mask[1:5, 2:7] = True
    original = rng.integers(0, 6, (8, 8)).astype(np.float32) * 40
    translated = np.where(mask, 100.0, 0.0).astype(np.float32) + rng.integers(0, 3, (8, 8)) * 30
    truth = np.where(mask, 100.0, 0.0).astype(np.float32)
    ff = np.where(mask, 0.25, 0.0).astype(np.float32)
    return dict(fake_healthy=torch.from_numpy(translated)[None], real_pathological=torch.from_numpy(original)[None],
                gt_mask=torch.from_numpy(mask)[None], img_healthy_truth=torch.from_numpy(truth)[None],
                fat_fraction=torch.from_numpy(ff)[None],
                metainfo=dict(subject=subject, group=group, slice_index=slice_index))


def test_rows_match_brute_force_and_group_means():
    metric = ThresholdDiceMetric()
    samples = [sample(0, 'M01', 'moderate', 0), sample(1, 'M01', 'moderate', 4), sample(2, 'S01', 'severe', 0)]
    metric.process({}, samples)
    rows = metric.results
    for row, s in zip(rows, samples, strict=True):
        mask = s['gt_mask'][0].numpy()
        assert row['dice_original'] == pytest.approx(brute_force_dice(s['real_pathological'][0].numpy(), mask))
        assert row['dice_translated'] == pytest.approx(brute_force_dice(s['fake_healthy'][0].numpy(), mask))
        assert row['ff_true'] == pytest.approx(0.25)
        assert 0 <= row['ssim'] <= 1
        # Heavy removal, recomputed: pixels where x and its truth differ by more than 30 % of 255.
        x, fx, t = (s[k][0].numpy().astype(float) for k in ('real_pathological', 'fake_healthy', 'img_healthy_truth'))
        heavy = np.abs(x - t) > 0.3 * 255
        assert heavy.sum() >= 10
        assert row['removal_heavy'] == pytest.approx(1 - np.abs(fx - t)[heavy].mean() / np.abs(x - t)[heavy].mean())
    for row, s in zip(rows, samples, strict=True):  # the Dice of x with F(x) on the infiltration only (|x - t| > 5.1)
        x, fx, t = (s[k][0].numpy().astype(float) for k in ('real_pathological', 'fake_healthy', 'img_healthy_truth'))
        composite = np.where(np.abs(x - t) > 0.02 * 255, fx, x)
        assert row['dice_infiltration_only'] == pytest.approx(brute_force_dice(composite, s['gt_mask'][0].numpy()))
    metrics = metric.compute_metrics(rows)
    assert metrics['removal_heavy'] == pytest.approx(np.mean([r['removal_heavy'] for r in rows]))
    m01 = np.mean([rows[0]['dice_translated'], rows[1]['dice_translated']])
    assert metrics['moderate/translated'] == pytest.approx(m01)
    # pathological = mean over the two patients (not over the three slices)
    assert metrics['pathological/translated'] == pytest.approx((m01 + rows[2]['dice_translated']) / 2)
    assert metric.last_rows == rows


def test_blur_reference_scores_x_smoothed_not_the_translation():
    """On a normalised phantom slice (air, noise and anatomy, so every score is defined): the row's
    ``preservation_blur`` is the preservation of x smoothed by half a pixel, whatever F(x) is."""
    from mmac.datasets.manifest import normalise, robust_percentiles
    from mmac.phantom import make_subject

    subject = make_subject(group='severe', seed=5, index=1, size=64, slices=6)
    lo, hi = robust_percentiles(subject.image)
    x, t = (255.0 * normalise(v, lo, hi)[..., 2] for v in (subject.image, subject.healthy))
    mask = subject.mask[..., 2].astype(bool)
    metric = ThresholdDiceMetric()
    for translated in (t, x):  # a perfect translation, then the identity
        metric.process({}, [dict(fake_healthy=torch.from_numpy(translated)[None],
                                 real_pathological=torch.from_numpy(x)[None], gt_mask=torch.from_numpy(mask)[None],
                                 img_healthy_truth=torch.from_numpy(t)[None],
                                 metainfo=dict(subject='S01', group='severe', slice_index=2))])
    expected = faithfulness(x, ndimage.gaussian_filter(x.astype(np.float64), 0.5), t)['preservation']
    assert np.isfinite(expected) and expected > 1.5
    for row in metric.results:
        assert row['preservation_blur'] == pytest.approx(expected)
    assert metric.results[1]['preservation'] < 0.5 < expected  # the identity changes nothing outside R


def test_missing_key_is_named():
    metric = ThresholdDiceMetric(translated_key='fake_b')
    with pytest.raises(KeyError, match="fake_b"):
        metric.process({}, [sample(0, 'M01', 'moderate', 0)])


def test_fat_fraction_estimate_inverts_the_mixing_model():
    muscle = np.full((2, 2), 0.35)
    ff = np.array([[0.0, 0.2], [0.5, 1.0]])
    x = (1 - ff) * muscle + ff * 1.0
    np.testing.assert_allclose(fat_fraction_estimate(x, muscle), ff, atol=1e-12)
