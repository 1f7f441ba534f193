"""mmagic/mmengine metric: optimal two-threshold Dice of the muscle on F(x) and on the original slice.

mmagic's ``BaseSampleWiseMetric`` reads ``data['output']``, which CycleGAN samples do not have; this metric
reads the translated image (``fake_healthy``) and the original (``real_pathological``) explicitly. On the
synthetic cohort it also scores what real data cannot: PSNR and SSIM of F(x) against the true healthy
counterpart, and a fat-fraction estimate from x - F(x) against the true fat fraction.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger

from mmac.evaluation.faithfulness import faithfulness, infiltration_only
from mmac.evaluation.fat_fraction import fat_fraction_estimate  # noqa: F401  (re-exported)
from mmac.evaluation.stats import group_summary, per_patient
from mmac.evaluation.threshold_dice import optimal_threshold_dice_batch
from mmac.registry import register


def _to_numpy(value) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        return value.detach().float().cpu().numpy()
    return np.asarray(value)


def _squeeze_channel(array: np.ndarray, key: str) -> np.ndarray:
    """(1, H, W) or (H, W) -> (H, W); other channel counts are refused."""
    if array.ndim == 3 and array.shape[0] == 1:
        return array[0]
    if array.ndim == 2:
        return array
    raise ValueError(f"ThresholdDiceMetric: '{key}' must be one 2D slice of shape (1, H, W) or (H, W), got "
                     f"{array.shape}")


@register("METRICS")
class ThresholdDiceMetric(BaseMetric):
    """Per-slice optimal two-threshold Dice of original and translated slices, logged per group.

    Each processed slice gives one row: ``subject``, ``group``, ``slice``, ``dice_original``,
    ``lo_original``, ``hi_original``, ``dice_translated``, ``lo_translated``, ``hi_translated`` and, when the
    samples carry the phantom's truth, ``psnr``, ``ssim``, ``removal``, ``removal_heavy`` and ``preservation``
    (:func:`mmac.evaluation.faithfulness.faithfulness`: share of the infiltration error removed, departure
    from the counterpart elsewhere in units of the noise), ``preservation_blur`` (the same for x smoothed by half
    a pixel: the score's scale on that slice),
    ``bias_bright`` and ``bias_dark``, ``dice_infiltration_only`` (the Dice of x with F(x)
    on the infiltration only, :func:`~mmac.evaluation.faithfulness.infiltration_only`), ``ff_true`` and
    ``ff_est`` (mean fat fraction over the muscle mask, true and estimated from x - F(x)). The rows of the last
    evaluation stay in :attr:`last_rows` for :class:`~mmac.evaluation.hooks.ThresholdDiceHook`.

    Args:
        translated_key: Field of the translated slice F(x), (1, H, W) in [0, 255]. Defaults to
            ``'fake_healthy'``.
        original_key: Field of the original slice x, same shape. Defaults to ``'real_pathological'``.
        mask_key: Field of the muscle mask. Defaults to ``'gt_mask'``.
        truth_key: Field of the true healthy counterpart (phantom only; skipped when absent).
        fat_fraction_key: Field of the true fat-fraction map (phantom only; skipped when absent).
        collect_device: ``'cpu'`` or ``'gpu'``, for collecting rows across ranks.
        prefix: Prefix of the logged keys. Defaults to ``'dice'``.
    """

    default_prefix = 'dice'

    def __init__(self,
                 translated_key: str = 'fake_healthy',
                 original_key: str = 'real_pathological',
                 mask_key: str = 'gt_mask',
                 truth_key: str | None = 'img_healthy_truth',
                 fat_fraction_key: str | None = 'fat_fraction',
                 collect_device: str = 'cpu',
                 prefix: str | None = None):
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.translated_key = translated_key
        self.original_key = original_key
        self.mask_key = mask_key
        self.truth_key = truth_key
        self.fat_fraction_key = fat_fraction_key
        self.last_rows: list[dict[str, Any]] = []

    def _field(self, sample: dict, key: str) -> np.ndarray:
        if key not in sample:
            raise KeyError(f"ThresholdDiceMetric: the model output has no '{key}'; it has {sorted(sample)}. "
                           "Set translated_key/original_key/mask_key to the fields the model writes")
        return _squeeze_channel(_to_numpy(sample[key]), key)

    def process(self, data_batch: Any, data_samples: Sequence[dict]) -> None:
        """Score a batch; ``data_samples`` are the model's outputs as dicts (one per slice)."""
        if not data_samples:
            return
        translated = np.stack([self._field(s, self.translated_key) for s in data_samples])  # (N, H, W)
        original = np.stack([self._field(s, self.original_key) for s in data_samples])  # (N, H, W)
        masks = np.stack([self._field(s, self.mask_key) for s in data_samples]).astype(bool)  # (N, H, W)
        d_t, lo_t, hi_t = optimal_threshold_dice_batch(translated, masks)
        d_o, lo_o, hi_o = optimal_threshold_dice_batch(original, masks)
        d_r = None
        if self.truth_key and all(self.truth_key in s for s in data_samples):
            truth = np.stack([self._field(s, self.truth_key) for s in data_samples])
            d_r = optimal_threshold_dice_batch(infiltration_only(original, translated, truth), masks)[0]
        for i, sample in enumerate(data_samples):
            meta = sample.get('metainfo', sample)
            row = dict(subject=str(meta.get('subject', '')), group=str(meta.get('group', '')),
                       slice=int(meta.get('slice_index', -1)),
                       dice_original=float(d_o[i]), lo_original=float(lo_o[i]), hi_original=float(hi_o[i]),
                       dice_translated=float(d_t[i]), lo_translated=float(lo_t[i]), hi_translated=float(hi_t[i]))
            row.update(self._phantom_scores(sample, original[i], translated[i], masks[i]))
            if d_r is not None:
                row['dice_infiltration_only'] = float(d_r[i])
            self.results.append(row)

    def _phantom_scores(self, sample: dict, original: np.ndarray, translated: np.ndarray,
                        mask: np.ndarray) -> dict[str, float]:
        scores = {}
        if self.truth_key and self.truth_key in sample:
            from skimage.metrics import peak_signal_noise_ratio, structural_similarity

            truth = self._field(sample, self.truth_key)
            scores['psnr'] = float(peak_signal_noise_ratio(truth, translated, data_range=255.0))
            scores['ssim'] = float(structural_similarity(truth, translated, data_range=255.0))
            faithful = faithfulness(original, translated, truth, data_range=255.0)
            scores['removal'] = faithful['removal']
            scores['removal_heavy'] = faithful['removal_heavy']
            scores['preservation'] = faithful['preservation']
            scores['preservation_blur'] = faithful['preservation_blur']
            scores['bias_bright'] = faithful['bias_bright']
            scores['bias_dark'] = faithful['bias_dark']
        if self.fat_fraction_key and self.fat_fraction_key in sample:
            ff_true = self._field(sample, self.fat_fraction_key)
            ff_est = fat_fraction_estimate(original / 255.0, translated / 255.0)
            scores['ff_true'] = float(ff_true[mask].mean())
            scores['ff_est'] = float(ff_est[mask].mean())
        return scores

    def compute_metrics(self, results: list[dict[str, Any]]) -> dict[str, float]:
        """Per-group means over patients (the paper's figure) from the per-slice rows."""
        self.last_rows = list(results)
        if not results:
            MMLogger.get_current_instance().warning('ThresholdDiceMetric: no slices were evaluated')
            return {}
        summary = group_summary(per_patient(results, by=[]), by=[])
        metrics = {}
        for _, row in summary.iterrows():
            metrics[f"{row['group']}/original"] = row['dice_original_mean']
            metrics[f"{row['group']}/translated"] = row['dice_translated_mean']
        d_o = np.array([r['dice_original'] for r in results])
        d_t = np.array([r['dice_translated'] for r in results])
        metrics['improved_share'] = float((d_t > d_o).mean())
        for key in ('psnr', 'ssim', 'removal', 'removal_heavy', 'preservation', 'preservation_blur', 'bias_bright',
                    'bias_dark', 'dice_infiltration_only'):
            if all(key in r for r in results):
                values = np.array([r[key] for r in results], dtype=float)
                if np.isfinite(values).any():
                    metrics[key] = float(np.nanmean(values))
        if all('ff_true' in r for r in results):
            metrics['ff_mae'] = float(np.mean([abs(r['ff_est'] - r['ff_true']) for r in results]))
        return metrics
