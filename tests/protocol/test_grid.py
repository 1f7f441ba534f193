"""Grid specs (pure) and the resumable grid runner on a tiny cohort."""
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from mmac.protocol.grid import RunSpec, make_grid


def test_full_paper_grid_has_240_unique_runs():
    specs = make_grid()
    assert len(specs) == 2 * 3 * 5 * 8
    assert len({s.name for s in specs}) == 240


def test_paired_runs_share_the_seed():
    a = RunSpec('L_C', 0.5, fold=3, repetition=2)
    b = RunSpec('L_AC', 0.5, fold=3, repetition=2)
    assert a.seed == b.seed
    assert len({RunSpec('L_AC', 1.0, f, r).seed for f in range(5) for r in range(8)}) == 40


def test_cycle_loss_configs():
    assert RunSpec('L_AC', 0.25, 0, 0).cycle_loss() == dict(type='AsymmetricCycleLoss', loss_weight=0.25,
                                                          domain='healthy')
    assert RunSpec('L_C', 1.0, 0, 0).cycle_loss() == dict(type='CycleConsistencyLoss', loss_weight=1.0)


@pytest.mark.parametrize('kwargs, match', [
    (dict(losses=['L-X']), 'letters, digits and underscores'), (dict(weights=[0]), 'w_c'), (dict(repeats=0), 'repeats'),
    (dict(folds=[]), 'empty'), (dict(weights=[1, 1]), 'duplicate')])
def test_bad_grids(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_grid(**kwargs)


def test_repetitions_are_those_of_the_full_grid():
    later = make_grid(['L_C', 'L_AC'], [1.0], [0, 3], repetitions=[1])
    full = make_grid(['L_C', 'L_AC'], [1.0], [0, 3], repeats=2)
    assert later == [s for s in full if s.repetition == 1]
    assert [s.seed for s in later] == [1000, 1000, 1003, 1003]  # the training seeds of repetition 1
    assert [s.repetition for s in make_grid(['L_AC'], [1.0], [0], repetitions=[2, 0])] == [2, 0]


@pytest.mark.parametrize('repetitions, match', [([-1], 'repetitions must be >= 0'), ([1, 1], 'duplicate repetitions'),
                                                ([], 'empty')])
def test_bad_repetitions(repetitions, match):
    with pytest.raises(ValueError, match=match):
        make_grid(['L_AC'], [1.0], [0], repetitions=repetitions)


# ---------------------------------------------------------------- the runner (needs mmagic)
@pytest.fixture(scope='module')
def grid_env(tiny_cohort):
    pytest.importorskip('mmagic')
    from tests.conftest import CPU_CONFIG, tiny_options

    options = tiny_options(tiny_cohort, max_iters=2)
    options.pop('custom_hooks')  # keep the config's hooks (ThresholdDiceHook is needed, the grid image is not)
    options['custom_hooks'] = [dict(type='ThresholdDiceHook')]
    return str(CPU_CONFIG), options


def test_grid_resumes_and_restarts_interrupted_runs(grid_env, tmp_path):
    from mmac.protocol.runs import run_grid

    config, options = grid_env
    specs = make_grid(['L_C', 'L_AC'], [1.0], [0], 1)
    out = tmp_path / 'cv'
    from mmengine.logging import MessageHub, MMLogger
    from mmengine.registry import DefaultScope
    from mmengine.visualization import Visualizer
    MMLogger.get_current_instance()  # mmengine's default logger: made by the grid's first message if not before
    before = {cls: list(cls._instance_dict) for cls in (MMLogger, MessageHub, Visualizer, DefaultScope)}

    def closed_handlers():
        return [h for logger in MMLogger._instance_dict.values() for h in logger.handlers
                if getattr(getattr(h, 'stream', None), 'closed', False)]

    # An earlier test's logger may hold a stream pytest's capture has closed since: not this grid's doing.
    closed_before = {id(h) for h in closed_handlers()}
    path = run_grid(config, specs, str(out), iters=2, cfg_options=options, progress=False, log=lambda m: None)
    results = pd.read_csv(path)
    assert set(results['run']) == {s.name for s in specs}
    # The runs' loggers, message hubs, visualizers and scopes are gone, their log files closed: later messages of
    # this process do not hit a run's closed console.log, and a grid does not grow with its runs.
    assert {cls: list(cls._instance_dict) for cls in before} == before
    assert not [h for h in closed_handlers() if id(h) not in closed_before]
    # Only the test fold's pathological subjects, annotated slices, each run alike.
    assert set(results['group']) <= {'moderate', 'severe'}
    assert (results.groupby('run').size().nunique()) == 1
    assert ((results['dice_original'] > 0) & (results['dice_original'] <= 1)).all()
    done_before = {s.name: (out / 'runs' / s.name / 'DONE').stat().st_mtime_ns for s in specs}

    # Simulate a killed run: no DONE, a half-written file left behind.
    killed = out / 'runs' / specs[1].name
    (killed / 'DONE').unlink()
    (killed / 'half_written.tmp').write_text('x')
    messages = []
    run_grid(config, specs, str(out), iters=2, cfg_options=options, progress=False, log=messages.append)
    assert any('restarting ' + specs[1].name in m for m in messages)
    assert not (killed / 'half_written.tmp').exists() and (killed / 'DONE').exists()
    # The finished run was not redone.
    assert (out / 'runs' / specs[0].name / 'DONE').stat().st_mtime_ns == done_before[specs[0].name]
    assert json.loads((killed / 'DONE').read_text())['iters'] == 2
    assert len(pd.read_csv(out / 'results.csv')) == len(results)

    with pytest.raises(ValueError, match=r"other settings than now: iters: 2 then, 3 now\. Give the run's settings"):
        run_grid(config, specs, str(out), iters=3, cfg_options=options, progress=False, log=lambda m: None)
    # The same config from a copy of the repository (another path, same content) finds the runs finished.
    copy = tmp_path / 'copy'
    shutil.copytree(Path(config).parent, copy / 'configs')
    messages = []
    run_grid(str(copy / 'configs' / Path(config).name), specs, str(out), iters=2, cfg_options=options,
             progress=False, log=messages.append)
    assert '2 of 2 runs already finished; 0 to run' in messages
    assert (out / 'runs' / specs[0].name / 'DONE').stat().st_mtime_ns == done_before[specs[0].name]


def test_a_later_repetition_adds_to_the_results_of_the_folder(grid_env, tmp_path):
    """A command over repetition 1 only keeps repetition 0's finished runs (same settings) in results.csv, in
    grid order, and leaves out, by name, a finished run of other settings."""
    from mmac.protocol.runs import rescore_grid, run_grid, run_settings

    config, options = grid_env
    out = tmp_path / 'cv'
    first = make_grid(['L_AC'], [1.0], [0], 1)
    later = make_grid(['L_AC'], [1.0], [0], repetitions=[1])
    alone = pd.read_csv(run_grid(config, first, str(out), iters=1, cfg_options=options, progress=False,
                                 log=lambda m: None))
    messages = []
    both = pd.read_csv(run_grid(config, later, str(out), iters=1, cfg_options=options, progress=False,
                                log=messages.append))
    assert list(both['run'].unique()) == [first[0].name, later[0].name]  # grid order: repetition 0 first
    assert len(both) == 2 * len(alone)
    pd.testing.assert_frame_equal(both[both['run'] == first[0].name].reset_index(drop=True), alone)
    assert f"results.csv keeps 1 finished run(s) of {out} outside this grid, made with the same settings: " \
           f"{first[0].name}" in messages
    settings = run_settings(config, 1, None, options)
    assert set(pd.read_csv(rescore_grid(str(out), later, progress=False, log=lambda m: None,
                                        settings=settings))['run']) == {first[0].name, later[0].name}

    done = out / 'runs' / first[0].name / 'DONE'
    done.write_text(json.dumps(dict(json.loads(done.read_text()), settings=dict(settings, iters=5))))
    messages = []
    path = run_grid(config, later, str(out), iters=1, cfg_options=options, progress=False, log=messages.append)
    assert set(pd.read_csv(path)['run']) == {later[0].name}
    assert any(m.startswith('results.csv leaves out 1 finished run(s)') and first[0].name in m for m in messages)
    assert done.is_file()  # left out of the table, not deleted


def test_a_grid_that_does_not_collect_writes_and_says_nothing_of_results(grid_env, tmp_path):
    """collect=False (the demo's two grids in one folder): the run finishes, results.csv is neither written nor
    mentioned, even beside another grid's finished run; collect_results afterwards covers both."""
    from mmac.protocol.runs import collect_results, run_grid

    config, options = grid_env
    out = tmp_path / 'cv'
    first = make_grid(['L_AC'], [1.0], [0], 1)
    later = make_grid(['L_C'], [1.0], [0], 1)
    messages = []
    assert run_grid(config, first, str(out), iters=1, cfg_options=options, progress=False, log=messages.append,
                    collect=False) is None
    assert run_grid(config, later, str(out), iters=1, cfg_options=options, progress=False, log=messages.append,
                    collect=False) is None
    assert not (out / 'results.csv').exists()
    assert not any('results.csv' in m for m in messages)
    assert all((out / 'runs' / spec.name / 'DONE').is_file() for spec in first + later)
    table = pd.read_csv(collect_results(str(out), first + later))
    assert list(table['run'].unique()) == [first[0].name, later[0].name]


def _configs_copy(tmp_path: Path, name: str) -> Path:
    from tests.conftest import CPU_CONFIG

    shutil.copytree(CPU_CONFIG.parent, tmp_path / name)
    return tmp_path / name / CPU_CONFIG.name


def test_settings_differences_compare_the_config_by_content(tmp_path):
    pytest.importorskip('mmagic')
    from mmac.protocol.runs import config_digest, run_settings, settings_differences

    first, second = _configs_copy(tmp_path, 'a'), _configs_copy(tmp_path, 'b')
    assert config_digest(str(first)) == config_digest(str(second))
    then = run_settings(str(first), 900, None, {'data_root': '/d'})
    assert settings_differences(then, then) == []
    assert settings_differences(then, run_settings(str(second), 900, None, {'data_root': '/d'})) == []
    # A DONE written before digests were kept: the recorded config's content is read while the file exists.
    old = {k: v for k, v in then.items() if k != 'config_digest'}
    assert settings_differences(old, run_settings(str(second), 900, None, {'data_root': '/d'})) == []
    # Every other setting is compared as it is, and named with both values.
    assert settings_differences(then, run_settings(str(second), 1800, None, {'data_root': '/e'})) == [
        "cfg_options: {'data_root': '/d'} then, {'data_root': '/e'} now", "iters: 900 then, 1800 now"]
    # Another content: a changed base config changes the digest of the config that inherits it.
    base = second.parent / '_base_' / 'thigh_cyclegan.py'
    base.write_text(base.read_text() + "\nextra_setting = 1\n")
    changed = run_settings(str(second), 900, None, {'data_root': '/d'})
    assert changed['config_digest'] != then['config_digest']
    [line] = settings_differences(then, changed)
    assert line.startswith(f"config: {str(first)!r} then, {str(second)!r} now (another content)")
    # The same path whose content changed since the run.
    assert settings_differences(changed, dict(changed, config_digest=then['config_digest'])) == [
        f"config: {str(second)!r} has changed since the run"]
    # The recorded config is gone and there is no digest: only its path is left to compare.
    shutil.rmtree(first.parent)
    assert settings_differences(old, changed) == [f"config: {str(first)!r} then, {str(second)!r} now (another path)"]
    with pytest.raises(FileNotFoundError, match="does not exist"):
        config_digest(str(first))


def test_settings_differences_find_a_moved_cohort_by_its_manifest(tmp_path):
    pytest.importorskip('mmagic')
    from mmac.protocol.runs import data_digest, run_settings, settings_differences
    from tests.conftest import CPU_CONFIG

    old, new, other = tmp_path / 'old', tmp_path / 'new', tmp_path / 'other'
    for folder, text in ((old, 'subject,group\nH1,healthy\n'), (new, 'subject,group\nH1,healthy\n'),
                         (other, 'subject,group\nH2,healthy\n')):
        folder.mkdir()
        (folder / 'manifest.csv').write_text(text)
    assert data_digest(str(old)) == data_digest(str(new)) != data_digest(str(other))
    assert data_digest(str(tmp_path)) is None and data_digest(None) is None
    then = run_settings(str(CPU_CONFIG), 900, None, {'data_root': str(old), 'x': 1})
    assert settings_differences(then, run_settings(str(CPU_CONFIG), 900, None, {'data_root': str(new), 'x': 1})) == []
    [line] = settings_differences(then, run_settings(str(CPU_CONFIG), 900, None, {'data_root': str(other), 'x': 1}))
    assert line.startswith("cfg_options: ") and str(other) in line
    # The same cohort does not hide another difference of the options.
    [line] = settings_differences(then, run_settings(str(CPU_CONFIG), 900, None, {'data_root': str(new), 'x': 2}))
    assert line == "cfg_options: {'x': 1} then, {'x': 2} now"
    # Another cohort made in the same folder is not the run's cohort, though the path is the same.
    (old / 'manifest.csv').write_text('subject,group\nH9,healthy\n')
    [line] = settings_differences(then, run_settings(str(CPU_CONFIG), 900, None, {'data_root': str(old), 'x': 1}))
    assert line.startswith(f"data_root: {str(old)!r} holds another cohort than the run was made with")
    (old / 'manifest.csv').write_text('subject,group\nH1,healthy\n')
    # A run recorded before the digest was kept: its data_root is compared as a path.
    old_style = {k: v for k, v in then.items() if k != 'data_digest'}
    assert settings_differences(old_style, run_settings(str(CPU_CONFIG), 900, None,
                                                        {'data_root': str(old), 'x': 1})) == []
    assert len(settings_differences(old_style, run_settings(str(CPU_CONFIG), 900, None,
                                                            {'data_root': str(new), 'x': 1}))) == 1


def test_rescore_tests_the_checkpoints_again_with_the_current_evaluation(grid_env, tmp_path, monkeypatch):
    from mmac.protocol.runs import rescore_grid, rescore_run, run_grid

    config, options = grid_env
    specs = make_grid(['L_AC', 'L_C'], [1.0], [0], 1)
    out = tmp_path / 'cv'
    first = pd.read_csv(run_grid(config, specs, str(out), iters=1, cfg_options=options, progress=False,
                                 log=lambda m: None))
    # Results as an older evaluation wrote them: no heavy removal, and (to see them rewritten) no Dice either.
    old = out / 'runs' / specs[0].name / 'results.csv'
    pd.read_csv(old).drop(columns=['removal_heavy']).assign(dice_translated=-1.0).to_csv(old, index=False)
    (out / 'runs' / specs[1].name / 'DONE').unlink()  # an unfinished run: named, left alone
    monkeypatch.chdir(tmp_path)  # another working directory than the training's
    messages = []
    again = pd.read_csv(rescore_grid(str(out), specs, progress=False, log=messages.append))
    assert any(specs[1].name in m and 'not rescored' in m for m in messages)
    assert set(again['run']) == {specs[0].name}
    mine = first[first['run'] == specs[0].name].reset_index(drop=True)
    pd.testing.assert_frame_equal(again[mine.columns], mine)  # same checkpoint and data: the same scores
    done = json.loads((out / 'runs' / specs[0].name / 'DONE').read_text())
    assert 'rescored' in done and done['iters'] == 1
    (out / 'runs' / specs[0].name / 'iter_1.pth').unlink()
    with pytest.raises(FileNotFoundError, match='checkpoint'):
        rescore_run(str(out), specs[0])
    with pytest.raises(FileNotFoundError, match='no DONE'):
        rescore_run(str(out), specs[1])


def test_runs_of_a_replaced_cohort_are_neither_reused_nor_rescored(tiny_cohort, tmp_path):
    """A cohort made anew in the run's data folder: the grid refuses to take the finished run as done, and a
    rescore refuses to test it there, before anything is written."""
    pytest.importorskip('mmagic')
    from mmac.protocol.runs import rescore_grid, run_grid
    from tests.conftest import CPU_CONFIG, tiny_options

    cohort = tmp_path / 'cohort'
    shutil.copytree(tiny_cohort, cohort)
    options = tiny_options(cohort, max_iters=1)
    options.pop('custom_hooks')
    options['custom_hooks'] = [dict(type='ThresholdDiceHook')]
    specs = make_grid(['L_AC'], [1.0], [0], 1)
    out = tmp_path / 'cv'
    run_grid(str(CPU_CONFIG), specs, str(out), iters=1, cfg_options=options, progress=False, log=lambda m: None)
    done = out / 'runs' / specs[0].name / 'DONE'
    before = (done.read_text(), (out / 'results.csv').read_text())
    manifest = cohort / 'manifest.csv'
    manifest.write_text(manifest.read_text() + '\n')  # another manifest at the same path
    with pytest.raises(ValueError, match="holds another cohort than the run was made with"):
        run_grid(str(CPU_CONFIG), specs, str(out), iters=1, cfg_options=options, progress=False,
                 log=lambda m: None)
    with pytest.raises(ValueError, match=f"run {specs[0].name}: .* holds another cohort"):
        rescore_grid(str(out), specs, progress=False, log=lambda m: None)
    assert (done.read_text(), (out / 'results.csv').read_text()) == before


def test_parallel_runs_in_subprocesses(grid_env, tmp_path, monkeypatch):
    from mmac.protocol.runs import run_grid

    config, options = grid_env
    specs = make_grid(['L_AC'], [0.5, 1.0], [1], 1)
    # The workers import this process's mmac, not another one in the current directory.
    elsewhere = tmp_path / 'elsewhere'
    (elsewhere / 'mmac').mkdir(parents=True)
    (elsewhere / 'mmac' / '__init__.py').write_text('raise ImportError("the mmac of the current directory")\n')
    monkeypatch.chdir(elsewhere)
    path = run_grid(config, specs, str(tmp_path), iters=1, cfg_options=options, jobs=2, gpus=[],
                    progress=False, log=lambda m: None, fast=True)
    assert set(pd.read_csv(path)['run']) == {s.name for s in specs}
    # --fast reached the worker processes (it is not a setting: the DONE settings stay as without it).
    for spec in specs:
        assert "fast_step=dict(cuda_graph='auto')" in (tmp_path / 'runs' / spec.name / 'run_config.py').read_text()


def test_runs_started_within_one_second_do_not_share_a_logger_or_visualizer(grid_env, tmp_path, monkeypatch):
    """mmengine names a runner's logger and visualizer after the second it started; a restarted run must not get
    back the instance of a run whose folder is gone."""
    import time

    import mmengine.runner.runner as mmengine_runner

    from mmac.protocol.runs import run_grid

    config, options = grid_env
    frozen = time.time()
    monkeypatch.setattr(mmengine_runner.time, 'time', lambda: frozen)  # every runner starts in the same second
    specs = make_grid(['L_AC'], [1.0], [0], 1)
    out = tmp_path / 'cv'
    run_grid(config, specs, str(out), iters=1, cfg_options=options, progress=False, log=lambda m: None)
    (out / 'runs' / specs[0].name / 'DONE').unlink()  # killed: the folder is deleted and the run restarted
    path = run_grid(config, specs, str(out), iters=1, cfg_options=options, progress=False, log=lambda m: None)
    assert set(pd.read_csv(path)['run']) == {specs[0].name}


def test_for_fold_fills_the_fold_field_everywhere():
    from mmac.protocol.runs import for_fold

    options = {'load_from': 'starts/truth_f{fold}.pth', 'custom_hooks': [dict(type='X', path='a{fold}/b')],
               'model.x': 3, 'name': 'plain'}
    assert for_fold(options, 4) == {'load_from': 'starts/truth_f4.pth', 'custom_hooks': [dict(type='X', path='a4/b')],
                                    'model.x': 3, 'name': 'plain'}
    assert options['load_from'] == 'starts/truth_f{fold}.pth'  # the given options are left as they were
    assert for_fold(None, 0) is None


def test_check_fold_files_names_each_missing_fold(tmp_path):
    from mmac.protocol.runs import check_fold_files

    (tmp_path / 'f0.pth').write_bytes(b'x')
    check_fold_files({'load_from': str(tmp_path / 'f{fold}.pth')}, [0, 0])
    check_fold_files({'data_root': 'anything'}, [0, 1])  # no load_from: nothing to check
    with pytest.raises(FileNotFoundError, match=r"fold 1: .*f1\.pth, fold 2: .*f2\.pth$"):
        check_fold_files({'load_from': str(tmp_path / 'f{fold}.pth')}, [2, 0, 1])
    with pytest.raises(FileNotFoundError, match=r"gives each fold its own file"):
        check_fold_files({'load_from': str(tmp_path / 'one.pth')}, [0])


def test_each_fold_starts_from_its_own_checkpoint(grid_env, tmp_path):
    """``load_from`` with {fold}: every run of a fold starts from that fold's file. With the generators' learning
    rate at 0 their weights cannot move, so each run's final F must be its fold's start exactly."""
    import torch
    from mmagic.registry import MODELS

    from mmac.protocol.runs import run_config, run_grid

    config, options = grid_env
    options = dict(options, **{'optim_wrapper.generators.optimizer.lr': 0.0})
    starts = {}
    for fold in (0, 1):
        cfg = run_config(config, RunSpec('L_AC', 1.0, fold, 0), str(tmp_path / 'scratch'), cfg_options=options)
        torch.manual_seed(100 + fold)
        model = MODELS.build(cfg.model)
        starts[fold] = {k: v.clone() for k, v in model.state_dict().items() if k.startswith('generators.healthy')}
        torch.save({'state_dict': model.state_dict(), 'meta': {}}, tmp_path / f'start_f{fold}.pth')
    template = dict(options, load_from=str(tmp_path / 'start_f{fold}.pth'))
    out = tmp_path / 'cv'
    specs = make_grid(['L_AC', 'L_C'], [1.0], [0, 1], 1)
    with pytest.raises(FileNotFoundError, match='fold 1'):
        run_grid(config, specs, str(out), iters=1, cfg_options=dict(options, load_from=str(tmp_path / 'start_f0x'
                                                                                         '{fold}.pth')),
                 progress=False, log=lambda m: None)
    assert not (out / 'runs').exists()  # refused before any run started
    run_grid(config, specs, str(out), iters=1, cfg_options=template, progress=False, log=lambda m: None)
    for spec in specs:
        done = json.loads((out / 'runs' / spec.name / 'DONE').read_text())
        assert done['settings']['cfg_options']['load_from'].endswith('start_f{fold}.pth')  # as given
        final = torch.load(out / 'runs' / spec.name / 'iter_1.pth', weights_only=False)['state_dict']
        for key, value in starts[spec.fold].items():
            assert torch.equal(final[key], value), (spec.name, key)
    assert not all(torch.equal(starts[0][k], starts[1][k]) for k in starts[0])


def test_a_fold_without_patients_stops_the_grid_before_any_run(grid_env, tmp_path):
    """With 4 folds of the tiny cohort, fold 2 tests the healthy H02 alone (independently: fold_subjects)."""
    import csv

    from mmac.datasets.folds import fold_subjects
    from mmac.protocol.runs import run_grid

    config, options = grid_env
    rows = list(csv.DictReader(open(Path(options['data_root']) / 'manifest.csv')))
    tested = fold_subjects([r['subject'] for r in rows], [r['group'] for r in rows], 2, 4)
    assert {r['group'] for r in rows if r['subject'] in tested} == {'healthy'}
    options = dict(options, **{f'{k}.dataset.num_folds': 4 for k in ('train_dataloader', 'val_dataloader',
                                                                     'test_dataloader')})
    out = tmp_path / 'cv'
    with pytest.raises(ValueError, match=r"^fold 2: .*manifest.csv: the val split has no pathological"):
        run_grid(config, make_grid(['L_AC', 'L_C'], [1.0], [0, 2], 1), str(out), iters=1, cfg_options=options,
                 progress=False, log=lambda m: None)
    assert not (out / 'runs').exists()  # fold 0 did not train first


def test_epochs_count_batches(grid_env, tmp_path):
    """One epoch is every training item once: at batch size 2 it takes half the iterations of batch size 1."""
    from mmagic.registry import DATASETS

    from mmac.protocol.runs import run_config

    config, options = grid_env
    spec = RunSpec('L_AC', 1.0, 0, 0)
    one = run_config(config, spec, str(tmp_path), epochs=1, cfg_options=dict(
        options, **{'train_dataloader.batch_size': 1}))
    items = len(DATASETS.build(dict(one.train_dataloader.dataset, pipeline=[])))
    assert one.train_cfg.max_iters == items
    two = run_config(config, spec, str(tmp_path), epochs=2, cfg_options=dict(
        options, **{'train_dataloader.batch_size': 2}))
    assert two.train_cfg.max_iters == items  # 2 epochs of items / 2 per batch


def test_a_short_run_still_leaves_a_translation_grid(grid_env, tmp_path):
    """The report points at each run's vis/ grids: a run shorter than the hook's interval gets one at its end."""
    from mmac.protocol.runs import run_config

    config, options = grid_env
    options = dict(options, custom_hooks=[dict(type='CycleVisualizationHook', interval=450),
                                          dict(type='ThresholdDiceHook')])
    short = run_config(config, RunSpec('L_AC', 1.0, 0, 0), str(tmp_path), iters=2, cfg_options=options)
    assert [h.get('interval') for h in short.custom_hooks] == [2, None]
    long = run_config(config, RunSpec('L_AC', 1.0, 0, 0), str(tmp_path), iters=900, cfg_options=options)
    assert long.custom_hooks[0]['interval'] == 450


def test_a_run_made_when_epochs_counted_items_is_not_reused(tmp_path):
    """--epochs used to give epochs x items iterations (batch size ignored); a DONE run made so must not pass for
    one of today's --epochs E, which trains a batch size fewer iterations."""
    from mmac.protocol.runs import EPOCHS_TO_ITERATIONS, run_settings, settings_differences
    from tests.conftest import CPU_CONFIG

    config = str(CPU_CONFIG)
    now = run_settings(config, None, 16.0, {})
    old = {k: v for k, v in now.items() if k != 'epochs_to_iterations'}
    assert settings_differences(old, now) == [f"epochs_to_iterations: None then, {EPOCHS_TO_ITERATIONS!r} now"]
    assert settings_differences(now, run_settings(config, None, 16.0, {})) == []
    assert 'epochs_to_iterations' not in run_settings(config, 900, None, {})  # --iters runs are unaffected


def test_a_weight_average_is_what_the_run_tests(grid_env, tmp_path):
    """With mmengine's EMAHook, train-then-test on one runner would score the last iterate (the hook rebuilds its
    average in before_run); the run's scores must be those of its checkpoint's average, as a later rescore gives."""
    from mmac.protocol.runs import rescore_run, run_grid

    config, options = grid_env
    options = dict(options, custom_hooks=[dict(type='ThresholdDiceHook'),
                                          dict(type='EMAHook', momentum=0.5, begin_iter=0)])
    options['train_cfg.max_iters'] = 3
    specs = make_grid(['L_AC'], [1.0], [0], 1)
    out = tmp_path / 'cv'
    trained = pd.read_csv(run_grid(config, specs, str(out), iters=3, cfg_options=options, progress=False,
                                   log=lambda m: None))
    again = pd.read_csv(rescore_run(str(out), specs[0]))
    pd.testing.assert_frame_equal(again[trained.columns], trained)
