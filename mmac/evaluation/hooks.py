"""A hook that writes the per-patient optimal-threshold Dice after every validation and test."""
from __future__ import annotations

import os.path as osp

from mmengine.dist import master_only
from mmengine.hooks import Hook

from mmac.evaluation.metrics import ThresholdDiceMetric
from mmac.evaluation.stats import SCORE_KEYS, group_summary, per_patient
from mmac.fileio import write_csv_atomic
from mmac.registry import register


@register("HOOKS")
class ThresholdDiceHook(Hook):
    """After each validation/test, write ``<work_dir>/dice/<phase>_per_patient.csv`` and ``..._per_slice.csv``.

    ``<phase>`` is ``val_iter<N>`` (N = training iterations done) or ``test``. The per-patient table has
    ``subject, group, dice_original, dice_translated, n_slices``; the group means (moderate, severe,
    pathological) are logged as a table. Reads the rows of every :class:`ThresholdDiceMetric` of the
    evaluator.

    Args:
        out_dir: Folder under the work dir. Defaults to ``'dice'``.
    """

    priority = 'LOW'

    def __init__(self, out_dir: str = 'dice'):
        self.out_dir = out_dir
        self.written: dict[str, str] = {}

    def after_val_epoch(self, runner, metrics: dict | None = None) -> None:
        self._write(runner, runner.val_evaluator, f'val_iter{runner.iter}')

    def after_test_epoch(self, runner, metrics: dict | None = None) -> None:
        self._write(runner, runner.test_evaluator, 'test')

    @master_only
    def _write(self, runner, evaluator, phase: str) -> None:
        import pandas as pd

        dice_metrics = [m for m in evaluator.metrics if isinstance(m, ThresholdDiceMetric)]
        if not dice_metrics:
            runner.logger.warning('ThresholdDiceHook: the evaluator has no ThresholdDiceMetric; nothing written')
            return
        for k, metric in enumerate(dice_metrics):
            if not metric.last_rows:
                continue
            tag = phase if len(dice_metrics) == 1 else f'{phase}_{k}'
            slices = pd.DataFrame(metric.last_rows)
            patients = per_patient(slices, by=[], columns=[c for c in SCORE_KEYS if c in slices.columns])
            base = osp.join(runner.work_dir, self.out_dir, tag)
            write_csv_atomic(slices, f'{base}_per_slice.csv', float_format='%.6g')
            write_csv_atomic(patients, f'{base}_per_patient.csv', float_format='%.6g')
            self.written[tag] = f'{base}_per_patient.csv'
            summary = group_summary(patients, by=[])
            lines = [f'optimal two-threshold Dice ({tag}), mean +- std over patients:']
            for _, row in summary.iterrows():
                lines.append(f"  {row['group']:<12} n={int(row['n_patients']):<3} original "
                             f"{row['dice_original_mean']:.3f} +- {row['dice_original_std']:.3f}   translated "
                             f"{row['dice_translated_mean']:.3f} +- {row['dice_translated_std']:.3f}")
            lines.append(f'  per-patient CSV: {base}_per_patient.csv')
            runner.logger.info('\n'.join(lines))
