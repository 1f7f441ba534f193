"""Fitting F and G to the phantom's truth (a diagnostic start for the unpaired training)."""
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip('mmagic')
from mmac.apis.oracle import pretrain_with_truth, truth_pairs  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def test_truth_pairs_are_the_training_part(tiny_cohort):
    from mmac.datasets.thigh_mr import ThighMRDataset

    x, t, subjects = truth_pairs(str(tiny_cohort), fold=0, num_folds=2, size=32)
    test = ThighMRDataset('manifest.csv', data_root=str(tiny_cohort), split='val', fold=0, num_folds=2, size=32,
                          pipeline=[], annotation_every=1)
    tested = {test.get_data_info(i)['subject'] for i in range(len(test))}
    assert subjects and not set(subjects) & tested  # nothing of the test part
    assert set(subjects) | tested == {'M01', 'S01', 'S02'}  # every pathological subject is in one part
    assert x.shape == t.shape and x.shape[1:] == (32, 32) and x.shape[0] == 8 * len(subjects)
    assert x.min() >= -1 and x.max() <= 1 and t.min() >= -1 and t.max() <= 1
    assert (x > t + 0.05).any() and np.abs(x - t).mean() < 0.2  # infiltration is brighter, the rest alike
    with pytest.raises(ValueError, match='fold'):
        truth_pairs(str(tiny_cohort), fold=2, num_folds=2, size=32)


def test_a_cohort_without_counterparts_is_refused(tiny_cohort, tmp_path):
    from tests.protocol.test_real_like_cohort import masked_cohort

    clinic = masked_cohort(tiny_cohort, tmp_path / 'clinic')
    with pytest.raises(ValueError, match="no healthy counterpart .*'counterpart'"):
        truth_pairs(str(clinic), fold=0, num_folds=2, size=32)


def test_fit_lowers_the_error_and_saves_a_loadable_model(tmp_path):
    from tests.models.test_modular_cyclegan import build_model

    rng = np.random.default_rng(0)
    t = rng.uniform(-1, 0, (6, 32, 32)).astype(np.float32)
    x = (t + 0.5 * (t > -0.3)).astype(np.float32)  # the brighter part made brighter: learnable both ways
    model = build_model()
    out = tmp_path / 'oracle.pth'
    history = pretrain_with_truth(model, x, t, iters=150, out=str(out), log=None)
    assert [h[0] for h in history] == [0, 100, 149]
    assert history[-1][1] < 0.8 * history[0][1] and history[-1][2] < 0.9 * history[0][2]
    fresh = build_model()
    fresh.load_state_dict(torch.load(out, weights_only=True)['state_dict'], strict=True)
    for a, b in zip(fresh.state_dict().values(), model.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    assert [p.name for p in tmp_path.iterdir()] == ['oracle.pth']  # no temporary file left


def test_bad_input_writes_nothing(tmp_path):
    from tests.models.test_modular_cyclegan import build_model

    out = tmp_path / 'oracle.pth'
    x = np.zeros((2, 32, 32), np.float32)
    with pytest.raises(ValueError, match='same'):
        pretrain_with_truth(build_model(), x, x[:, :16], iters=2, out=str(out), log=None)
    with pytest.raises(ValueError, match='iters'):
        pretrain_with_truth(build_model(), x, x, iters=0, out=str(out), log=None)
    assert not out.exists()


def test_command_line_refuses_a_bad_fold(tiny_cohort, tmp_path):
    out = tmp_path / 'o.pth'
    proc = subprocess.run([sys.executable, str(ROOT / 'tools' / 'oracle_start.py'),
                           str(ROOT / 'configs' / 'ac_cyclegan_thigh_cpu.py'), '--data-root', str(tiny_cohort),
                           '--fold', '3', '--num-folds', '2', '--out', str(out)], capture_output=True, text=True)
    assert proc.returncode == 2 and 'error: ' in proc.stderr and 'fold' in proc.stderr
    assert not out.exists()


def test_command_line_fits_each_fold_to_its_own_file(tiny_cohort, tmp_path):
    """--folds 0 1 with {fold} in --out: one checkpoint per fold, each fitted to that fold's training part."""
    out = tmp_path / 'starts' / 'truth_f{fold}.pth'
    proc = subprocess.run([sys.executable, str(ROOT / 'tools' / 'oracle_start.py'),
                           str(ROOT / 'configs' / 'ac_cyclegan_thigh_cpu.py'), '--data-root', str(tiny_cohort),
                           '--folds', '0', '1', '--num-folds', '2', '--iters', '1', '--out', str(out),
                           '--cfg-options', 'model.generator.base_channels=4'],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    files = sorted(p.name for p in (tmp_path / 'starts').iterdir())
    assert files == ['truth_f0.pth', 'truth_f1.pth']
    state = torch.load(tmp_path / 'starts' / 'truth_f0.pth', weights_only=True)['state_dict']
    widths = {v.shape[0] for k, v in state.items() if k.startswith('generators.healthy') and v.ndim == 4}
    assert max(widths) == 16 * 4  # the options' base width (4): the config's (16) would give 256
    for fold in (0, 1):
        subjects = truth_pairs(str(tiny_cohort), fold=fold, num_folds=2, size=32)[2]
        assert f"fold {fold}: {8 * len(subjects)} slice pairs of {len(subjects)} training subjects: " \
               f"{', '.join(subjects)}" in proc.stdout


@pytest.mark.parametrize('name, folds, match', [
    ('o.pth', ['0', '1'], 'needs {fold}'), ('o{fold}.pth', ['0', '0'], 'duplicate'),
    ('o{fold}.pth', ['0', '2'], r'outside \[0, 2\)')])
def test_command_line_refuses_bad_folds_before_writing(tiny_cohort, tmp_path, name, folds, match):
    proc = subprocess.run([sys.executable, str(ROOT / 'tools' / 'oracle_start.py'),
                           str(ROOT / 'configs' / 'ac_cyclegan_thigh_cpu.py'), '--data-root', str(tiny_cohort),
                           '--num-folds', '2', '--out', str(tmp_path / name), '--folds', *folds],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and 'error: ' in proc.stderr
    assert re.search(match, proc.stderr), proc.stderr
    assert not list(tmp_path.iterdir())
