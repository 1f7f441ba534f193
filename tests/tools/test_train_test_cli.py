"""tools/train.py, tools/test.py and tools/dist_train.sh on the tiny cohort."""
import importlib.util
import os
import socket
import subprocess

import numpy as np
import pandas as pd
import pytest

pytest.importorskip('mmagic')
from tests.conftest import CPU_CONFIG, REPO, tiny_options  # noqa: E402


def load_tool(name):
    spec = importlib.util.spec_from_file_location(f'tool_{name}', REPO / 'tools' / f'{name}.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def cli_options(options):
    return [f'{k}={v}' for k, v in options.items() if k != 'custom_hooks']


def test_train_then_resume_then_test(tiny_cohort, tmp_path):
    train, test = load_tool('train'), load_tool('test')
    opts = cli_options(tiny_options(tiny_cohort, max_iters=2, checkpoint_interval=2))
    train.main([str(CPU_CONFIG), '--work-dir', str(tmp_path), '--cfg-options', *opts])
    assert (tmp_path / 'iter_2.pth').is_file()
    more = [o for o in opts if not o.startswith('train_cfg.max_iters')] + ['train_cfg.max_iters=3']
    train.main([str(CPU_CONFIG), '--work-dir', str(tmp_path), '--resume', '--cfg-options', *more])
    assert (tmp_path / 'iter_3.pth').is_file()
    test.main([str(CPU_CONFIG), str(tmp_path / 'iter_3.pth'), '--work-dir', str(tmp_path / 'test'),
               '--cfg-options', *opts])
    patients = pd.read_csv(tmp_path / 'test' / 'dice' / 'test_per_patient.csv')
    assert set(patients['group']) <= {'moderate', 'severe'} and len(patients) > 0
    # The phantom's faithfulness scores reach the per-patient CSV as means of the slices' scores.
    slices = pd.read_csv(tmp_path / 'test' / 'dice' / 'test_per_slice.csv')
    for score in ('removal', 'removal_heavy', 'preservation', 'bias_bright', 'bias_dark', 'ssim'):
        expected = slices.groupby('subject')[score].mean()
        found = patients.set_index('subject')[score].loc[expected.index]
        np.testing.assert_allclose(found, expected, rtol=1e-4, atol=1e-6)  # both CSVs keep 6 significant digits


def test_missing_checkpoint_is_named(tmp_path, capsys):
    assert load_tool('test').main([str(CPU_CONFIG), str(tmp_path / 'nope.pth')]) == 2
    err = capsys.readouterr().err
    assert err.startswith('error: ') and 'nope.pth' in err and err.count('\n') == 1, err


def test_resume_from_names_a_checkpoint_of_another_work_dir(tiny_cohort, tmp_path):
    train = load_tool('train')
    opts = cli_options(tiny_options(tiny_cohort, max_iters=2, checkpoint_interval=1))
    train.main([str(CPU_CONFIG), '--work-dir', str(tmp_path / 'a'), '--cfg-options', *opts])
    more = [o for o in opts if not o.startswith('train_cfg.max_iters')] + ['train_cfg.max_iters=3']
    # iter_1.pth, not the latest (iter_2.pth): the run continues from iteration 1 in the new work dir.
    assert train.main([str(CPU_CONFIG), '--work-dir', str(tmp_path / 'b'), '--resume-from',
                       str(tmp_path / 'a' / 'iter_1.pth'), '--cfg-options', *more]) == 0
    names = sorted(p.name for p in (tmp_path / 'b').glob('iter_*.pth'))
    assert names == ['iter_2.pth', 'iter_3.pth'], names


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def test_dist_train_two_processes_on_gloo(tiny_cohort, tmp_path):
    opts = cli_options(tiny_options(tiny_cohort, max_iters=2, checkpoint_interval=2))
    env = dict(os.environ, PORT=str(_free_port()), OMP_NUM_THREADS='1')
    proc = subprocess.run([str(REPO / 'tools' / 'dist_train.sh'), str(CPU_CONFIG), '2', '--work-dir', str(tmp_path),
                           '--cfg-options', *opts], cwd=REPO, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert (tmp_path / 'iter_2.pth').is_file()
    # The checkpoint carries the plain names, and a single-process model loads it strictly (tools/test.py and
    # translate): the two DDP-wrapped parts used to save as 'generators.module.<domain>...'.
    import torch
    from mmagic.registry import MODELS
    from mmengine.config import Config
    from mmengine.runner.checkpoint import load_state_dict

    from mmac import register_all_modules

    state = torch.load(tmp_path / 'iter_2.pth', map_location='cpu', weights_only=False)['state_dict']
    assert not [k for k in state if '.module.' in k]
    register_all_modules()
    model = MODELS.build(Config.fromfile(str(next(tmp_path.glob('*.py')))).model)
    load_state_dict(model, state, strict=True)


def test_train_refuses_bad_data_before_the_runner_starts(tiny_cohort, tmp_path, capsys):
    """A mask whose shape differs from its volume: one error line naming both files, exit 2, no work dir."""
    import shutil

    import nibabel as nib

    study = tmp_path / 'study'
    shutil.copytree(tiny_cohort, study)
    mask = nib.load(study / 'S01_mask.nii.gz')
    nib.save(nib.Nifti1Image(np.asarray(mask.dataobj)[..., :-1], mask.affine), study / 'S01_mask.nii.gz')
    opts = {k: v for k, v in tiny_options(study).items() if not k.endswith('.dataset.data_root')}
    work = tmp_path / 'work'
    rc = load_tool('train').main([str(CPU_CONFIG), '--work-dir', str(work), '--cfg-options', *cli_options(opts)])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2
    assert err[-1].startswith('error: ') and 'S01_mask.nii.gz' in err[-1] and 'has shape (32, 32, 7)' in err[-1]
    assert not work.exists()
    # A misspelt top-level key is refused the same way.
    rc = load_tool('train').main([str(CPU_CONFIG), '--work-dir', str(work), '--cfg-options', 'data_rot=/x'])
    assert rc == 2 and "did you mean 'data_root'" in capsys.readouterr().err and not work.exists()


@pytest.mark.parametrize('option, expected', [
    ('model.generator.base_channel=4', "model: UNetGenerator has no argument 'base_channel'; did you mean "
                                       "'base_channels'?"),
    ('train_cfg.max_iter=2', "IterBasedTrainLoop has no argument 'max_iter'; did you mean 'max_iters'?"),
])
def test_train_explains_a_misspelt_argument(tiny_cohort, tmp_path, capsys, option, expected):
    opts = cli_options(tiny_options(tiny_cohort, max_iters=2))
    rc = load_tool('train').main([str(CPU_CONFIG), '--work-dir', str(tmp_path / 'w'), '--cfg-options', *opts,
                                  option])
    err = capsys.readouterr().err
    assert rc == 2 and expected in err and 'Allowed: ' in err


def test_test_refuses_a_checkpoint_that_does_not_fit(tiny_model, tmp_path, capsys):
    """mmengine's load_from only warns about keys that do not fit and tests the weights it has; tools/test.py
    refuses such a checkpoint with one error line instead of reporting the Dice of an untrained F."""
    import torch

    from mmac.checkpoint import load_local_checkpoint

    state = load_local_checkpoint(str(tiny_model.checkpoint), map_location='cpu')['state_dict']
    renamed = {k.replace('generators.', 'gens.', 1): v for k, v in state.items()}
    torch.save({'state_dict': renamed, 'meta': {}}, tmp_path / 'other.pth')
    opts = cli_options(tiny_options(tiny_model.cohort))
    rc = load_tool('test').main([str(CPU_CONFIG), str(tmp_path / 'other.pth'), '--work-dir', str(tmp_path / 't'),
                                 '--cfg-options', *opts])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and err[-1].startswith('error: checkpoint ') and 'does not fit the model' in err[-1]
    assert not (tmp_path / 't').exists()


def _one_error_line(capsys, *words):
    """One `error:` line, the last one (an mmengine logger bound to an earlier test's closed stream may complain
    before it), with ``words`` and without torch's advice."""
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith('error')]
    assert len(errors) == 1 and lines[-1] == errors[0] and errors[0].startswith('error: checkpoint '), err
    assert all(word in errors[0] for word in words) and 'weights_only=False' not in err, err


@pytest.mark.parametrize('kind', ['truncated', 'random', 'pickle'])
def test_test_refuses_a_bad_checkpoint_in_one_line(tmp_path, capsys, kind):
    from tests.test_checkpoint import bad_checkpoint

    path, found = bad_checkpoint(tmp_path, kind)
    rc = load_tool('test').main([str(CPU_CONFIG), str(path), '--work-dir', str(tmp_path / 'w'),
                                 '--cfg-options', *cli_options(tiny_options(tmp_path))])
    assert rc == 2
    _one_error_line(capsys, str(path), found)
    assert not (tmp_path / 'w').exists()


@pytest.mark.parametrize('kind', ['truncated', 'random', 'pickle'])
@pytest.mark.parametrize('how', ['resume-from', 'load_from', 'resume'])
def test_train_refuses_a_bad_checkpoint_before_the_runner(tmp_path, capsys, kind, how):
    """--resume-from CKPT, load_from (config or --cfg-options) and --resume's latest checkpoint of the work dir."""
    from tests.test_checkpoint import bad_checkpoint

    work = tmp_path / 'w'
    work.mkdir()
    path, found = bad_checkpoint(work if how == 'resume' else tmp_path, kind)
    if how == 'resume':
        path = path.rename(work / 'iter_2.pth')
    opts = cli_options(tiny_options(tmp_path)) + ([f'load_from={path}'] if how == 'load_from' else [])
    args = {'resume-from': ['--resume-from', str(path)], 'resume': ['--resume'], 'load_from': []}[how]
    rc = load_tool('train').main([str(CPU_CONFIG), '--work-dir', str(work), *args, '--cfg-options', *opts])
    assert rc == 2
    _one_error_line(capsys, str(path), found)
    assert sorted(p.name for p in work.iterdir()) == ([path.name] if path.parent == work else [])


def test_train_refuses_to_resume_from_weights_only(tmp_path, capsys):
    import torch

    torch.save({'state_dict': {}}, tmp_path / 'weights.pth')
    rc = load_tool('train').main([str(CPU_CONFIG), '--work-dir', str(tmp_path / 'w'), '--resume-from',
                                  str(tmp_path / 'weights.pth'), '--cfg-options', *cli_options(tiny_options(tmp_path))])
    assert rc == 2
    _one_error_line(capsys, 'holds weights only', f'--cfg-options load_from={tmp_path / "weights.pth"}')


@pytest.mark.parametrize('args', [['--resume', 'w/iter_2.pth'], ['--resume=w/iter_2.pth'],
                                  ['--resume', 'w/iter_2.pth', str(CPU_CONFIG)]])
def test_resume_with_a_path_points_to_resume_from(capsys, args):
    argv = args if str(CPU_CONFIG) in args else [str(CPU_CONFIG), *args]
    with pytest.raises(SystemExit) as exc:
        load_tool('train').parse_args(argv)
    assert exc.value.code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].endswith(
        "error: --resume takes no value (it resumes from the work dir's latest checkpoint); to resume from "
        "w/iter_2.pth give --resume-from w/iter_2.pth")
