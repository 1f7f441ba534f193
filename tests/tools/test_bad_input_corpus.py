"""A corpus of bad inputs to the command-line tools: each one ends in one ``error:`` line, never a traceback.

Every case runs a tool's ``main`` in this process, as ``python tools/<tool>.py ...`` would, and asks four things:
the exit status is 2 (argparse's and :func:`mmac.runner.launch.cli_error`'s), no exception escapes, stderr has one
``error:`` line (argparse: ``<prog>: error:``), last but for the indented bad inputs it lists, that names what is
wrong, and nothing was written:
no work dir, no output folder. Kinds: missing, misspelt and contradicting config keys and options, values out of
range, bad NIfTI volumes and masks, bad checkpoints, bad command-line values.
"""
from __future__ import annotations

import importlib.util
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip('mmagic')
from tests.conftest import CPU_CONFIG, REPO, tiny_options  # noqa: E402

TOOLS: dict[str, object] = {}


def tool(name):
    if name not in TOOLS:
        spec = importlib.util.spec_from_file_location(f'corpus_tool_{name}', REPO / 'tools' / f'{name}.py')
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        TOOLS[name] = module
    return TOOLS[name]


def opts(cohort, **changes):
    """The tiny cohort's ``--cfg-options`` (as ``KEY=VALUE`` strings) with ``changes`` applied, None drops a key."""
    options = {k: v for k, v in tiny_options(cohort).items() if k != 'custom_hooks'}
    options.update(changes)
    return [f'{k}={v}' for k, v in options.items() if v is not None]


def copy_study(cohort, tmp: Path) -> Path:
    study = tmp / 'study'
    shutil.copytree(cohort, study)
    return study


def nifti(path: Path, array: np.ndarray) -> Path:
    import nibabel as nib

    nib.save(nib.Nifti1Image(array, np.eye(4)), path)
    return path


def truncated(src: Path, tmp: Path) -> Path:
    data = src.read_bytes()
    out = tmp / 'truncated.pth'
    out.write_bytes(data[: len(data) // 2])
    return out


def not_a_checkpoint(tmp: Path) -> Path:
    out = tmp / 'list.pth'
    with open(out, 'wb') as f:
        pickle.dump([1, 2, 3], f)
    return out


def text_file(tmp: Path, name: str, text: str = 'not an image\n') -> Path:
    out = tmp / name
    out.write_text(text)
    return out


def _train(c, t, *args, options=None):
    return ['train', [str(CPU_CONFIG), '--work-dir', str(t / 'work'), *args, '--cfg-options',
                      *(options if options is not None else opts(c))]]


def _study_with(c, t, name, array_of):
    """A copy of the cohort whose file ``name`` is replaced by ``array_of(old array)`` (or by text: None)."""
    import nibabel as nib

    study = copy_study(c, t)
    path = study / name
    if array_of is None:
        path.write_bytes(b'this is not gzip')
    else:
        old = np.asarray(nib.load(path).dataobj)
        nifti(path, array_of(old))
    return study


def _bad_study(name, array_of=None):
    def case(c, m, t):
        study = _study_with(c, t, name, array_of)
        return _train(c, t, options=opts(study, **{f'{loader}.dataset.data_root': None for loader in
                                                   ('train_dataloader', 'val_dataloader', 'test_dataloader')}))
    return case


def _test(c, m, t, checkpoint, *options):
    return ['test', [str(m.config), str(checkpoint), '--work-dir', str(t / 'work'), '--cfg-options',
                     *opts(c), *options]]


def _translate(m, t, *args):
    return ['translate', [str(m.work_dir), *map(str, args), '--out', str(t / 'out'), '--no-progress']]


def _config_with_syntax_error(t):
    return text_file(t, 'broken.py', "_base_ = '" + str(CPU_CONFIG) + "'\nmodel = dict(\n")


# id -> (lambda cohort, model, tmp: [tool, argv], a piece of the error line)
CASES = {
    # --- train.py: the config and its keys
    'train/missing config': (lambda c, m, t: ['train', [str(t / 'nope.py')]], 'nope.py'),
    'train/config with a syntax error': (lambda c, m, t: ['train', [str(_config_with_syntax_error(t)),
                                                                    '--work-dir', str(t / 'work')]], 'broken.py'),
    'train/cfg option without a value': (lambda c, m, t: _train(c, t, options=['train_cfg.max_iters']),
                                         'KEY=VALUE'),
    'train/misspelt top-level key': (lambda c, m, t: _train(c, t, options=opts(c, data_rot='/x')),
                                     "did you mean 'data_root'"),
    'train/misspelt top-level data key': (lambda c, m, t: _train(c, t, options=opts(c, mask_label='[1]')),
                                          "mask_labels"),
    'train/misspelt nested key': (lambda c, m, t: _train(c, t, options=opts(c, **{'train_cfg.max_iter': 2})),
                                  'max_iters'),
    'train/misspelt model argument': (lambda c, m, t: _train(
        c, t, options=opts(c, **{'model.generator.base_channel': 4})), 'base_channels'),
    'train/unknown component type': (lambda c, m, t: _train(
        c, t, options=opts(c, **{'model.generator.type': 'NoSuchNet'})), 'NoSuchNet'),
    'train/U-Net too deep for the slice size': (lambda c, m, t: _train(
        c, t, options=opts(c, **{'model.generator.num_down': 9})), 'num_down'),
    'train/latent cycle with a deterministic G': (lambda c, m, t: _train(
        c, t, options=opts(c, **{'model.latent_encoder.type': 'LatentEncoder',
                                 'model.latent_cycle_loss.type': 'LatentCycleLoss'})), 'noise_channels=2'),
    'train/cycle loss on an unknown domain': (lambda c, m, t: _train(
        c, t, options=opts(c, **{'model.cycle_loss.domain': 'zebra'})), 'zebra'),
    'train/negative learning rate': (lambda c, m, t: _train(
        c, t, options=opts(c, **{'optim_wrapper.generators.optimizer.lr': -1})), 'lr'),
    'train/zero iterations': (lambda c, m, t: _train(c, t, options=opts(c, **{'train_cfg.max_iters': 0})),
                              'max_iters'),
    'train/batch size zero': (lambda c, m, t: _train(
        c, t, options=opts(c, **{'train_dataloader.batch_size': 0})), 'batch_size'),
    'train/negative slice size': (lambda c, m, t: _train(
        c, t, options=opts(c, **{'train_dataloader.dataset.size': -4})), 'size'),
    'train/fold outside the folds': (lambda c, m, t: _train(
        c, t, options=opts(c, **{'train_dataloader.dataset.fold': 5})), 'fold'),
    'train/mask label absent from the masks': (lambda c, m, t: _train(
        c, t, options=opts(c, mask_labels='[999]')), '999'),
    # --- train.py: data
    'train/missing data root': (lambda c, m, t: _train(c, t, options=opts(t / 'nowhere', **{
        f'{loader}.dataset.data_root': None for loader in ('train_dataloader', 'val_dataloader',
                                                           'test_dataloader')})), 'nowhere'),
    'train/empty data root': (lambda c, m, t: (t / 'empty').mkdir() or _train(c, t, options=opts(t / 'empty', **{
        f'{loader}.dataset.data_root': None for loader in ('train_dataloader', 'val_dataloader',
                                                           'test_dataloader')})), 'empty'),
    'train/mask of another shape': (_bad_study('S01_mask.nii.gz', lambda a: a[..., :-1]), 'S01_mask.nii.gz'),
    'train/volume that is not gzip': (_bad_study('S01_t1.nii.gz'), 'S01_t1.nii.gz'),
    'train/4D volume': (_bad_study('S01_t1.nii.gz', lambda a: np.stack([a, a], -1)), 'S01_t1.nii.gz'),
    'train/volume with NaN': (_bad_study('S01_t1.nii.gz', lambda a: np.where(np.arange(a.size).reshape(a.shape)
                                                                            == 5, np.nan, a.astype(np.float32))),
                              'S01_t1.nii.gz'),
    # --- train.py: resuming and checkpoints
    'train/--resume with a path': (lambda c, m, t: _train(c, t, '--resume', str(m.checkpoint)), '--resume-from'),
    'train/--resume and --resume-from': (lambda c, m, t: _train(c, t, '--resume', '--resume-from',
                                                                str(m.checkpoint)), 'not allowed with'),
    'train/--resume-from a missing file': (lambda c, m, t: _train(c, t, '--resume-from', str(t / 'gone.pth')),
                                           'gone.pth'),
    'train/--resume-from a truncated checkpoint': (lambda c, m, t: _train(
        c, t, '--resume-from', str(truncated(m.checkpoint, t))), 'truncated.pth'),
    'train/load_from a file that is not a checkpoint': (lambda c, m, t: _train(
        c, t, options=opts(c, load_from=not_a_checkpoint(t))), 'list.pth'),
    'train/unknown launcher': (lambda c, m, t: _train(c, t, '--launcher', 'mpi2'), 'launcher'),
    'train/unknown visualization backend': (lambda c, m, t: _train(c, t, '--vis-backend', 'wandb2'),
                                            'vis-backend'),
    # --- test.py
    'test/missing checkpoint': (lambda c, m, t: _test(c, m, t, t / 'nope.pth'), 'nope.pth'),
    'test/truncated checkpoint': (lambda c, m, t: _test(c, m, t, truncated(m.checkpoint, t)), 'truncated.pth'),
    'test/not a checkpoint': (lambda c, m, t: _test(c, m, t, not_a_checkpoint(t)), 'list.pth'),
    'test/checkpoint of another model': (lambda c, m, t: _test(c, m, t, m.checkpoint,
                                                               'model.generator.base_channels=8'), 'does not fit'),
    'test/text file as checkpoint': (lambda c, m, t: _test(c, m, t, text_file(t, 'notes.pth')), 'notes.pth'),
    # --- translate.py
    'translate/missing input': (lambda c, m, t: _translate(m, t, t / 'scan.nii.gz'), 'scan.nii.gz'),
    'translate/input that is not NIfTI': (lambda c, m, t: _translate(m, t, text_file(t, 'scan.nii.gz')),
                                          'scan.nii.gz'),
    'translate/2D input': (lambda c, m, t: _translate(m, t, nifti(t / 'flat.nii.gz', np.zeros((32, 32),
                                                                                                np.float32))),
                           'flat.nii.gz'),
    'translate/mask of another shape': (lambda c, m, t: _translate(
        m, t, c / 'M01_t1.nii.gz', '--mask', nifti(t / 'm.nii.gz', np.zeros((31, 32, 8), np.uint8))), 'm.nii.gz'),
    'translate/work dir without a checkpoint': (lambda c, m, t: (t / 'run').mkdir() or [
        'translate', [str(t / 'run'), str(c / 'M01_t1.nii.gz'), '--out', str(t / 'out')]], 'run'),
    'translate/--mask-labels without --mask': (lambda c, m, t: _translate(m, t, c / 'M01_t1.nii.gz',
                                                                          '--mask-labels', '1'), '--mask'),
    'translate/batch size zero': (lambda c, m, t: _translate(m, t, c / 'M01_t1.nii.gz', '--batch-size', '0'),
                                  '--batch-size'),
    'translate/truncated checkpoint': (lambda c, m, t: [
        'translate', [str(m.config), str(truncated(m.checkpoint, t)), str(c / 'M01_t1.nii.gz'), '--out',
                      str(t / 'out')]], 'truncated.pth'),
    # --- cross_validate.py and make_phantom.py
    'cross_validate/fold outside the config': (lambda c, m, t: [
        'cross_validate', ['--config', str(CPU_CONFIG), '--folds', '9', '--out', str(t / 'work'), '--cfg-options',
                           f'data_root={c}']], 'fold'),
    'cross_validate/missing data': (lambda c, m, t: [
        'cross_validate', ['--config', str(CPU_CONFIG), '--out', str(t / 'work'), '--cfg-options',
                           f'data_root={t / "nowhere"}']], 'nowhere'),
    'make_phantom/slice size too small': (lambda c, m, t: [
        'make_phantom', ['--out', str(t / 'work'), '--size', '4']], 'size'),
}


def loggers_write_to_this_test():
    """mmengine's loggers keep the stream of the test that made them; point them at this test's stderr."""
    import logging
    import sys

    from mmengine.logging import MMLogger

    for logger in MMLogger._instance_dict.values():
        for handler in logger.handlers:
            if type(handler) is logging.StreamHandler:
                handler.stream = sys.stderr  # not setStream: it flushes the old, closed stream


@pytest.mark.parametrize('case', sorted(CASES))
def test_bad_input_gives_one_error_line_and_writes_nothing(case, tiny_cohort, tiny_model, tmp_path, capsys):
    build, expected = CASES[case]
    name, argv = build(tiny_cohort, tiny_model, tmp_path)
    loggers_write_to_this_test()
    try:
        rc = tool(name).main(argv)
    except SystemExit as exc:  # argparse
        rc = exc.code
    err = capsys.readouterr().err
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert 'Traceback' not in err, err[-3000:]
    assert rc == 2, (rc, err[-3000:])
    errors = [i for i, line in enumerate(lines) if 'error: ' in line]
    assert len(errors) == 1, err[-3000:]
    # One error: its line, and the bad inputs it lists below it (translate.py checks every input first).
    assert all(line.startswith('  ') for line in lines[errors[0] + 1:]), err[-3000:]
    assert expected in '\n'.join(lines[errors[0]:]), (expected, lines[errors[0]:])
    assert not (tmp_path / 'work').exists() and not (tmp_path / 'out').exists()


def test_the_corpus_covers_at_least_the_issue_s_33_kinds():
    assert len(CASES) >= 33
