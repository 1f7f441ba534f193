"""The command lines' switches and their one way of refusing input (``error: ...`` on stderr, exit status 2)."""
import importlib.util
import json
import subprocess
import sys

import pytest

from tests.conftest import CPU_CONFIG, REPO, tiny_options


def load_tool(name):
    spec = importlib.util.spec_from_file_location(f'tool_{name}', REPO / 'tools' / f'{name}.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def one_error_line(capsys, *words):
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith('error: ') and 'Traceback' not in err, err
    for word in words:
        assert word in lines[0], (word, lines[0])
    return lines[0]


def cli_options(options):
    return [f'{k}={v}' for k, v in options.items() if k != 'custom_hooks']


# ------------------------------------------------------------------ argument parsing (no config is read)
def test_resume_is_a_flag_and_leaves_the_config_positional():
    args = load_tool('train').parse_args(['--resume', 'configs/x.py'])
    assert args.config == 'configs/x.py' and args.resume is True and args.resume_from is None


def test_resume_from_names_the_checkpoint():
    args = load_tool('train').parse_args(['configs/x.py', '--resume-from', 'w/iter_4.pth'])
    assert args.config == 'configs/x.py' and args.resume_from == 'w/iter_4.pth' and args.resume is False


def test_resume_and_resume_from_exclude_each_other(capsys):
    with pytest.raises(SystemExit) as exc:
        load_tool('train').parse_args(['c.py', '--resume', '--resume-from', 'w/iter_4.pth'])
    assert exc.value.code == 2
    assert 'not allowed with argument' in capsys.readouterr().err


def test_vis_backend_choices(capsys):
    train = load_tool('train')
    assert train.parse_args(['c.py', '--vis-backend', 'tensorboard']).vis_backend == ['tensorboard']
    with pytest.raises(SystemExit):
        train.parse_args(['c.py', '--vis-backend', 'visdom'])
    assert "invalid choice: 'visdom'" in capsys.readouterr().err


# ------------------------------------------------------------------ one error line, exit status 2
@pytest.mark.parametrize('tool, argv', [
    ('train', ['missing.py']),
    ('test', ['missing.py', 'x.pth']),
    ('cross_validate', ['--out', 'OUT', '--config', 'missing.py']),
])
def test_missing_config_is_one_error_line(tool, argv, tmp_path, capsys):
    argv = [str(tmp_path / a) if a in ('missing.py', 'OUT') else a for a in argv]
    assert load_tool(tool).main(argv) == 2
    one_error_line(capsys, 'missing.py', 'does not exist')
    assert not (tmp_path / 'OUT').exists()


@pytest.mark.parametrize('tool', ['train', 'cross_validate'])
def test_cfg_option_without_value_is_one_error_line(tool, tmp_path, capsys):
    argv = ([str(CPU_CONFIG)] if tool == 'train' else ['--out', str(tmp_path / 'cv'), '--config', str(CPU_CONFIG)])
    assert load_tool(tool).main([*argv, '--cfg-options', 'train_cfg.max_iters']) == 2
    one_error_line(capsys, "'train_cfg.max_iters'", 'KEY=VALUE')


def test_config_with_a_syntax_error_is_one_error_line(tmp_path, capsys):
    bad = tmp_path / 'bad.py'
    bad.write_text('model = dict(\n')
    assert load_tool('train').main([str(bad)]) == 2
    one_error_line(capsys, str(bad), 'not valid Python')


def test_cross_validate_fold_outside_the_config(tmp_path, capsys):
    assert load_tool('cross_validate').main(['--out', str(tmp_path / 'cv'), '--config', str(CPU_CONFIG),
                                             '--folds', '0', '5']) == 2
    one_error_line(capsys, '--folds [5]', 'num_folds=5')


def test_cross_validate_repeats_and_repetitions_exclude_each_other(capsys):
    cross_validate = load_tool('cross_validate')
    assert cross_validate.parse_args(['--out', 'o', '--repetitions', '1', '2']).repetitions == [1, 2]
    with pytest.raises(SystemExit) as exc:
        cross_validate.parse_args(['--out', 'o', '--repeats', '2', '--repetitions', '1'])
    assert exc.value.code == 2 and 'not allowed with argument' in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cross_validate.parse_args(['--out', 'o', '--repetitions', '-1'])
    assert '--repetitions must be >= 0, got [-1]' in capsys.readouterr().err


def test_cross_validate_refuses_an_out_dir_of_other_settings(tmp_path, capsys):
    from mmac.protocol.grid import make_grid

    spec = make_grid(['L_AC'], [1.0], [0], 1)[0]
    done = tmp_path / 'cv' / 'runs' / spec.name / 'DONE'
    done.parent.mkdir(parents=True)
    done.write_text(json.dumps(dict(settings=dict(config='other.py', iters=5, epochs=None, cfg_options={}))))
    argv = ['--out', str(tmp_path / 'cv'), '--config', str(CPU_CONFIG), '--losses', 'L_AC', '--weights', '1',
            '--folds', '0', '--repeats', '1', '--iters', '2']
    assert load_tool('cross_validate').main(argv) == 2
    one_error_line(capsys, 'other settings', 'another --out folder')
    assert done.is_file()  # nothing deleted


def test_cross_validate_rescore_without_finished_runs_is_one_error_line(tmp_path, capsys):
    argv = ['--out', str(tmp_path / 'cv'), '--config', str(CPU_CONFIG), '--losses', 'L_AC', '--weights', '1',
            '--folds', '0', '--repeats', '1', '--iters', '2', '--rescore']
    assert load_tool('cross_validate').main(argv) == 2
    one_error_line(capsys, 'none of the 1 runs finished', 'nothing to rescore')
    assert not (tmp_path / 'cv' / 'results.csv').exists()


def test_cross_validate_refuses_a_missing_start_of_a_fold_before_training(tmp_path, capsys):
    (tmp_path / 'start_f0.pth').write_bytes(b'x')
    argv = ['--out', str(tmp_path / 'cv'), '--config', str(CPU_CONFIG), '--losses', 'L_AC', '--weights', '1',
            '--folds', '0', '1', '--repeats', '1', '--iters', '2',
            '--cfg-options', f"load_from={tmp_path / 'start_f{fold}.pth'}"]
    assert load_tool('cross_validate').main(argv) == 2
    one_error_line(capsys, 'load_from=', 'fold 1: ', 'start_f1.pth')
    assert not (tmp_path / 'cv').exists()


def test_missing_visualizer_package_is_named(monkeypatch, capsys):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, 'find_spec', lambda name, *a: None if name == 'wandb' else real(name, *a))
    assert load_tool('train').main([str(CPU_CONFIG), '--vis-backend', 'wandb']) == 2
    one_error_line(capsys, 'pip install wandb')


@pytest.mark.parametrize('tool', ['train', 'cross_validate'])
def test_process_prints_no_traceback(tool, tmp_path):
    argv = ['missing.py'] if tool == 'train' else ['--out', str(tmp_path / 'cv'), '--config', 'missing.py']
    proc = subprocess.run([sys.executable, f'tools/{tool}.py', *argv], cwd=REPO, capture_output=True, text=True,
                          env={'PYTHONPATH': str(REPO), 'PATH': '/usr/bin:/bin'})
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith('error: ') and 'Traceback' not in proc.stderr


# ------------------------------------------------------------------ switches that run something
def test_vis_backend_tensorboard_writes_event_files(tiny_cohort, tmp_path):
    pytest.importorskip('mmagic')
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    opts = cli_options(tiny_options(tiny_cohort, max_iters=2, checkpoint_interval=2))
    assert load_tool('train').main([str(CPU_CONFIG), '--work-dir', str(tmp_path), '--vis-backend', 'tensorboard',
                                    '--cfg-options', *opts]) == 0
    events = sorted(tmp_path.glob('*/vis_data/events.out.tfevents.*'))
    assert len(events) == 1, sorted(str(p) for p in tmp_path.rglob('*'))
    acc = EventAccumulator(str(events[0].parent))
    acc.Reload()
    scalars = acc.Tags()['scalars']
    # the training losses (every iteration at logger interval 1) and the validation Dice
    assert any('loss' in t for t in scalars) and any('dice' in t.lower() for t in scalars), scalars
    assert len(acc.Scalars(next(t for t in scalars if 'loss' in t))) == 2


def test_test_amp_runs_the_generator_under_autocast(tiny_model, tmp_path, monkeypatch):
    import torch

    from mmac.models.unet import UNetGenerator

    seen = []
    forward = UNetGenerator.forward

    def spy(self, x):
        seen.append(torch.is_autocast_cpu_enabled() or torch.is_autocast_enabled())
        return forward(self, x)

    monkeypatch.setattr(UNetGenerator, 'forward', spy)
    opts = cli_options(tiny_options(tiny_model.cohort))
    test = load_tool('test')
    assert test.main([str(CPU_CONFIG), str(tiny_model.checkpoint), '--work-dir', str(tmp_path / 'fp32'),
                      '--cfg-options', *opts]) == 0
    assert seen and not any(seen)
    seen.clear()
    assert test.main([str(CPU_CONFIG), str(tiny_model.checkpoint), '--work-dir', str(tmp_path / 'amp'), '--amp',
                      '--cfg-options', *opts]) == 0
    assert seen and all(seen)
    assert (tmp_path / 'amp' / 'dice' / 'test_per_patient.csv').is_file()


def test_a_fresh_process_refuses_with_one_line_only():
    """In a new process the stack's import warnings (pkg_resources, torch pytree) would come before the error
    line; the tools hide those (mmac._compat.THIRD_PARTY_NOISE), so the promise of one line holds."""
    proc = subprocess.run([sys.executable, str(REPO / 'tools' / 'train.py'), str(CPU_CONFIG), '--cfg-options',
                           'data_rot=/x'], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()] and \
        proc.stderr.startswith("error: --cfg-options: unknown top-level key 'data_rot'"), proc.stderr


def test_cross_validate_refuses_missing_data_with_one_line(tmp_path, capsys):
    """The grid's data check (every fold's data before the first run) is one error line, not a traceback."""
    argv = ['--out', str(tmp_path / 'cv'), '--config', str(CPU_CONFIG), '--losses', 'L_AC', '--weights', '1',
            '--folds', '0', '--repeats', '1', '--iters', '2', '--cfg-options', f"data_root={tmp_path / 'nodata'}"]
    assert load_tool('cross_validate').main(argv) == 2
    one_error_line(capsys, 'fold 0: ', 'manifest not found')
    assert not (tmp_path / 'cv').exists()
