"""The real-data path of docs/real_data.md end to end: a cohort as a clinic would give it (images and muscle masks
only: no healthy counterparts, no fat-fraction maps, the air around the thigh set to 0), through the grid and the
report."""
import csv
import shutil

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from scipy import ndimage


def masked_cohort(phantom, root):
    """Copy ``phantom`` keeping images and masks only, each image's air set to 0 outside the dilated thigh."""
    root.mkdir()
    rows = []
    with open(phantom / 'manifest.csv') as f:
        for row in csv.DictReader(f):
            image = nib.load(phantom / row['image'])
            volume = image.get_fdata()
            thigh = ndimage.binary_dilation(ndimage.binary_fill_holes(volume > 0.1 * volume.max()), iterations=1)
            nib.save(nib.Nifti1Image(np.where(thigh, volume, 0.0).astype(np.float32), image.affine),
                     root / row['image'])
            shutil.copy(phantom / row['mask'], root / row['mask'])
            rows.append({k: row[k] for k in ('subject', 'group', 'image', 'mask')})
    with open(root / 'manifest.csv', 'w', newline='') as f:
        writer = csv.DictWriter(f, fieldnames=['subject', 'group', 'image', 'mask'])
        writer.writeheader()
        writer.writerows(rows)
    return root


def test_grid_and_report_on_a_masked_cohort_without_truth(tiny_cohort, tmp_path):
    pytest.importorskip('mmagic')
    from mmac.protocol.grid import make_grid
    from mmac.protocol.runs import run_grid
    from mmac.report.report import make_report
    from tests.conftest import CPU_CONFIG, tiny_options

    root = masked_cohort(tiny_cohort, tmp_path / 'clinic')
    assert (nib.load(root / 'H01_t1.nii.gz').get_fdata() == 0).mean() > 0.5
    options = tiny_options(root, max_iters=2)
    options['custom_hooks'] = [dict(type='ThresholdDiceHook')]
    out = tmp_path / 'cv'
    specs = make_grid(['L_C', 'L_AC'], [1.0], [0, 1], 1)
    results = pd.read_csv(run_grid(str(CPU_CONFIG), specs, str(out), iters=2, cfg_options=options,
                                   progress=False, log=lambda m: None))
    assert set(results['run']) == {s.name for s in specs}
    assert results['dice_original'].between(0, 1).all() and results['dice_translated'].between(0, 1).all()
    assert 'ssim' not in results or results['ssim'].isna().all()  # no counterpart, no truth-based score

    report = make_report(out)
    text = (out / 'report' / 'report.md').read_text()
    assert '## What F does to healthy thighs' in text
    assert 'change is undefined in every run' in text  # the air holds no noise to measure it by
    change = pd.read_csv(out / 'report' / 'healthy_change.csv')
    assert change['change_mean'].isna().all()
    assert np.isfinite(change['bias_bright_mean']).all() and np.isfinite(change['bias_dark_mean']).all()
    assert any('phantom truth' in note for note in report['notes'])
