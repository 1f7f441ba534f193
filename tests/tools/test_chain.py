"""The whole chain from the command lines: cross-validation (2 folds, 1 repetition) -> report -> translate."""
import json
import subprocess
import sys

import nibabel as nib
import pandas as pd
import pytest

pytest.importorskip('mmagic')
from tests.conftest import CPU_CONFIG, REPO  # noqa: E402


def _options(cohort):
    opts = [f'data_root={cohort}']  # one key for the three loaders
    opts += [f'{loader}.dataset.{key}={value}' for loader in ('train_dataloader', 'val_dataloader',
                                                              'test_dataloader')
             for key, value in (('size', 32), ('num_folds', 2))]
    opts += [f'{loader}.num_workers=0' for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader')]
    opts += [f'{loader}.persistent_workers=False' for loader in ('train_dataloader', 'val_dataloader',
                                                                 'test_dataloader')]
    return opts + ['model.generator.num_down=5', 'model.generator.base_channels=4',
                   'model.discriminator.base_channels=4']


def _run(args):
    proc = subprocess.run([sys.executable, *args], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def test_cross_validate_report_translate(tiny_cohort, tmp_path):
    out = tmp_path / 'cv'
    _run(['tools/cross_validate.py', '--out', str(out), '--config', str(CPU_CONFIG), '--weights', '1',
          '--repeats', '1', '--iters', '2', '--no-progress', '--fast', '--cfg-options', *_options(tiny_cohort)])
    # --fast reached every run's model (eager on this CPU; the maths equals the plain path, tests/training).
    dumped = sorted((out / 'runs').glob('*/run_config.py'))
    assert len(dumped) == 4 and all("fast_step=dict(cuda_graph='auto')" in p.read_text() for p in dumped), dumped
    results = pd.read_csv(out / 'results.csv')
    assert set(results['loss']) == {'L_C', 'L_AC'} and set(results['fold']) == {0, 1}
    manifest = pd.read_csv(tiny_cohort / 'manifest.csv')
    pathological = set(manifest.loc[manifest['group'] != 'healthy', 'subject'])
    # Two folds cover every pathological patient once per loss; no patient is tested in two folds.
    for loss, part in results.groupby('loss'):
        assert set(part['subject']) == pathological, loss
        assert part.groupby('subject')['fold'].nunique().max() == 1, loss

    _run(['tools/report.py', str(out)])
    report = out / 'report'
    for name in ('report.md', 'table1.md', 'table1.csv', 'pvalues.csv', 'slice_shares.csv', 'boxplots.png'):
        assert (report / name).is_file(), name
    assert 'Severe' in (report / 'table1.md').read_text()

    done = json.loads((out / 'runs' / 'L_AC_wc1_f0_r0' / 'DONE').read_text())
    subject = manifest.loc[manifest['group'] == 'severe'].iloc[0]
    image = tiny_cohort / subject['image']
    _run(['tools/translate.py', done['config'], done['checkpoint'], str(image), '--out', str(tmp_path / 'tr'),
          '--no-progress'])
    stem = image.name[:-len('.nii.gz')]
    src = nib.load(image)
    for suffix in ('_pseudohealthy', '_fatmap', '_muscle'):
        result = nib.load(tmp_path / 'tr' / f'{stem}{suffix}.nii.gz')
        assert result.shape == src.shape
        assert (result.affine == src.affine).all()
    assert len(pd.read_csv(tmp_path / 'tr' / 'fat_fraction.csv')) == 1
