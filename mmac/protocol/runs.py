"""Executing the grid: one run = train + test through the normal configs and runners; resumable, packable.

Layout of an output folder ``OUT``::

    OUT/runs/<run>/          the run's mmengine work dir (config, logs, final checkpoint)
    OUT/runs/<run>/results.csv   its per-slice test results
    OUT/runs/<run>/DONE      JSON written last: the run is finished and never redone
    OUT/results.csv          all finished runs, one row per test slice (rebuilt after every run)

A run directory without ``DONE`` belongs to a run that was killed; it is deleted and the run restarted.
"""
from __future__ import annotations

import contextlib
import json
import os
import os.path as osp
import shutil
import subprocess
import sys
import time
from collections import deque
from collections.abc import Sequence
from pathlib import Path

from mmac._cpu import threads_per_job  # noqa: F401  (defined in mmac._cpu, which the runner uses too; re-exported)
from mmac.evaluation.stats import SCORE_KEYS
from mmac.fileio import write_csv_atomic, write_json_atomic
from mmac.protocol.grid import RunSpec
from mmac.runner.config_checks import LOADERS

RESULT_COLUMNS = ['run', 'loss', 'w_c', 'fold', 'repetition', 'subject', 'group', 'slice', 'dice_original',
                  'dice_translated', 'lo_original', 'hi_original', 'lo_translated', 'hi_translated']
OPTIONAL_COLUMNS = list(SCORE_KEYS)  # written when the metric has them (runs on the synthetic cohort)


def run_dir(out_dir: str, spec: RunSpec) -> str:
    return osp.join(out_dir, 'runs', spec.name)


def config_digest(config: str) -> str:
    """SHA-256 of a config as mmengine resolves it: its ``_base_`` chain merged, comments, formatting and the
    file's location left out. Two copies of one config (a moved or copied repository) share it.

    Raises:
        FileNotFoundError: ``config`` does not exist.
    """
    import hashlib

    from mmengine.config import Config

    if not osp.isfile(config):
        raise FileNotFoundError(f"config {config} does not exist")
    text = json.dumps(Config.fromfile(config).to_dict(), sort_keys=True, default=repr)
    return hashlib.sha256(text.encode()).hexdigest()


def data_digest(data_root: str | None) -> str | None:
    """SHA-256 of the cohort's ``manifest.csv`` in ``data_root`` (None when there is none): the cohort's identity
    wherever its folder lies (the manifest lists every subject's files, relative to the folder)."""
    import hashlib

    path = osp.join(str(data_root), 'manifest.csv') if data_root else None
    if path is None or not osp.isfile(path):
        return None
    with open(path, 'rb') as f:
        return hashlib.sha256(f.read()).hexdigest()


FOLD_FIELD = '{fold}'  # in a --cfg-options value: replaced by each run's test fold


def for_fold(cfg_options: dict | None, fold: int) -> dict | None:
    """``cfg_options`` with :data:`FOLD_FIELD` in every string value (nested in lists and dicts too) replaced by
    ``fold``: one grid call can give each fold its own file, e.g. ``load_from='starts/truth_f{fold}.pth'``.
    The settings a finished run is checked against keep the field as it was given."""
    def fill(value):
        if isinstance(value, str):
            return value.replace(FOLD_FIELD, str(fold))
        if isinstance(value, (list, tuple)):
            return type(value)(fill(v) for v in value)
        if isinstance(value, dict):
            return {k: fill(v) for k, v in value.items()}
        return value

    return None if cfg_options is None else fill(dict(cfg_options))


def check_fold_files(cfg_options: dict | None, folds: Sequence[int], keys: Sequence[str] = ('load_from',)) -> None:
    """Before any run starts: every fold's file of ``keys`` (``load_from``: a checkpoint to start from) exists.

    Raises:
        FileNotFoundError: A fold's file is missing; the message names the key, the folds and the files.
    """
    for key in keys:
        value = (cfg_options or {}).get(key)
        if not isinstance(value, str) or not value:
            continue
        missing = [(f, for_fold({key: value}, f)[key]) for f in sorted(set(folds))]
        missing = [(f, path) for f, path in missing if not osp.isfile(path)]
        if missing:
            listed = ', '.join(f'fold {f}: {path}' for f, path in missing)
            hint = '' if FOLD_FIELD in value else f" (a value with {FOLD_FIELD} gives each fold its own file)"
            raise FileNotFoundError(f"--cfg-options {key}={value!r}: no such file for {listed}{hint}")


def check_losses(cfg, losses: Sequence[str]) -> None:
    """Before any run starts: every loss of the grid names a cycle loss the model can be built with.

    A loss is one of the paper's (``L_C``, ``L_AC``), a name in the config's top-level ``cycle_losses``, or the
    type name of a cycle loss registered in mmagic's ``MODELS`` (a user's module reaches the registry through
    the config's ``custom_imports``). Each of the others is built into the config's model once
    (:func:`mmac.runner.config_checks.preflight_model`), so a misspelt option is refused with the arguments the
    loss takes.

    Args:
        cfg: The loaded base config.
        losses: The grid's loss names.

    Raises:
        ValueError: A name that is none of the above, or a loss whose config does not build.
    """
    import copy

    from mmagic.registry import MODELS

    from mmac.protocol.grid import LOSSES, check_loss_name, cycle_loss_config
    from mmac.runner.config_checks import preflight_model, registries_ready

    defined = cfg.get('cycle_losses') or {}
    registries_ready(cfg)
    for loss in losses:
        check_loss_name(loss)
        if loss in LOSSES:
            continue
        loss_cfg = cycle_loss_config(loss, 1.0, defined)
        if loss not in defined and MODELS.get(loss) is None:
            raise ValueError(f"--losses {loss}: not one of the paper's losses ({', '.join(LOSSES)}), not a name in "
                             f"the config's cycle_losses ({', '.join(defined) or 'it has none'}), and no loss type "
                             "of that name is registered in MODELS (does the config's custom_imports import its "
                             "module?)")
        trial = copy.deepcopy(cfg)
        trial.model.cycle_loss = loss_cfg
        try:
            with _forget_run_instances():
                preflight_model(trial)
        except ValueError as exc:
            raise ValueError(f"--losses {loss} ({loss_cfg}): {exc}") from exc


def check_fold_data(config: str, folds: Sequence[int], cfg_options: dict | None = None, log=print) -> None:
    """Before any run starts: every fold's training and test data can be read and evaluated.

    Builds each fold's train and test datasets once (:func:`mmac.runner.config_checks.preflight_datasets`):
    the manifest and every volume and mask are read and checked, every tested patient's mask covers its
    annotated slices, and every fold's test part holds a pathological patient. So a bad mask or a fold without
    patients stops the grid at once, not after the folds before it have trained.

    Raises:
        ValueError, FileNotFoundError: The dataset's message, prefixed with the fold.
    """
    from mmac.runner.config_checks import preflight_datasets
    from mmac.runner.launch import load_config

    folds = sorted(set(folds))
    if not folds:
        return
    log(f"checking the data of fold(s) {', '.join(map(str, folds))}")
    for fold in folds:
        cfg = load_config(config, cfg_options=for_fold(cfg_options, fold))
        for loader in LOADERS:
            cfg[loader].dataset.fold = fold
        try:
            with _forget_run_instances():  # the default scope and logger the check makes are not kept
                preflight_datasets(cfg, ('train_dataloader', 'test_dataloader'))
        except (ValueError, FileNotFoundError) as exc:
            raise type(exc)(f"fold {fold}: {exc}") from exc


EPOCHS_TO_ITERATIONS = 'epochs x training items / batch size'


def run_settings(config: str, iters: int | None, epochs: float | None, cfg_options: dict | None) -> dict:
    """What makes two runs of the same spec the same experiment (stored in DONE, checked on reuse)."""
    cfg_options = cfg_options or {}
    settings = dict(config=osp.abspath(config), config_digest=config_digest(config), iters=iters, epochs=epochs,
                    cfg_options=cfg_options, data_digest=data_digest(cfg_options.get('data_root')))
    if epochs is not None:  # runs made before epochs counted batches took batch-size times as many iterations
        settings['epochs_to_iterations'] = EPOCHS_TO_ITERATIONS
    return json.loads(json.dumps(settings))  # the form it takes in DONE (tuples become lists)


def settings_differences(done: dict | None, now: dict) -> list[str]:
    """How a finished run's recorded settings differ from ``now`` (:func:`run_settings`); [] when they agree.

    The config counts as the same when its path is, or when both resolve to the same content
    (:func:`config_digest`): a run trained from a copy of the repository is found again from another. A run
    recorded before digests were kept is compared with the content of its recorded config where that file
    still exists, by path otherwise. Likewise a ``data_root`` given in ``cfg_options`` counts as the same when
    both folders hold the same ``manifest.csv`` (:func:`data_digest`), so a moved cohort is found again, and
    differs when they do not, so a cohort made anew in the same folder is not taken for the old one.

    Returns:
        One ``'<key>: <then> then, <now> now'`` line per differing setting.
    """
    done = dict(done or {})
    then_path, then_digest = done.pop('config', None), done.pop('config_digest', None)
    now = dict(now)
    now_path, now_digest = now.pop('config', None), now.pop('config_digest', None)
    if then_digest is None and then_path != now_path and then_path and osp.isfile(then_path):
        then_digest = config_digest(then_path)
    differences = []
    if then_path != now_path and (then_digest is None or then_digest != now_digest):
        what = 'another content' if then_digest is not None else 'another path'
        differences.append(f"config: {then_path!r} then, {now_path!r} now ({what})")
    elif then_path == now_path and None not in (then_digest, now_digest) and then_digest != now_digest:
        differences.append(f"config: {then_path!r} has changed since the run")
    then_data, now_data = done.pop('data_digest', None), now.pop('data_digest', None)
    then_options, now_options = done.get('cfg_options') or {}, now.get('cfg_options') or {}
    if then_data is not None and then_data == now_data:  # the same cohort, wherever it lies
        done['cfg_options'] = {k: v for k, v in then_options.items() if k != 'data_root'}
        now['cfg_options'] = {k: v for k, v in now_options.items() if k != 'data_root'}
    elif None not in (then_data, now_data) and then_options.get('data_root') == now_options.get('data_root'):
        # another cohort made in the same folder (another folder shows as a change of cfg_options below)
        differences.append(f"data_root: {now_options.get('data_root')!r} holds another cohort than the run was "
                           f"made with (manifest.csv digest {then_data[:12]} then, {now_data[:12]} now)")
    for key in sorted(set(done) | set(now)):
        if done.get(key) != now.get(key):
            differences.append(f"{key}: {done.get(key)!r} then, {now.get(key)!r} now")
    return differences


def run_config(config: str, spec: RunSpec, out_dir: str, iters: int | None = None,
               epochs: float | None = None, cfg_options: dict | None = None, fast: bool = False):
    """The config of one run: the base config with the spec's loss, w_c, fold, seed and schedule.

    Args:
        config: Base config path (any thigh config; its cycle loss is replaced).
        spec: The run.
        out_dir: Grid output folder; the run's work dir is ``out_dir/runs/<run>``.
        iters: Training iterations; overrides the config's ``train_cfg.max_iters``.
        epochs: Training epochs, converted to iterations: epochs x the length of the run's training set / its batch
            size (one epoch = every training item once).
        cfg_options: Further ``--cfg-options`` overrides, applied first; ``{fold}`` in a value becomes the
            run's fold (:func:`for_fold`).
        fast: Train with the fast iteration (``tools/train.py --fast``). It changes how a run computes, not
            what: it is not part of the settings a finished run is checked against.

    Raises:
        ValueError: Both ``iters`` and ``epochs`` given, or a non-positive schedule.
    """
    from mmac.runner.launch import load_config

    if iters is not None and epochs is not None:
        raise ValueError("give --iters or --epochs, not both")
    cfg = load_config(config, work_dir=run_dir(out_dir, spec), cfg_options=for_fold(cfg_options, spec.fold),
                      fast=fast)
    cfg.model.cycle_loss = spec.cycle_loss(cfg.get('cycle_losses'))
    for loader in LOADERS:
        cfg[loader].dataset.fold = spec.fold
    cfg.randomness = dict(seed=spec.seed, diff_rank_seed=True)
    # mmengine names a runner's logger and visualizer '<config>_<timestamp>' (one-second resolution) and hands an
    # existing instance of that name back: two runs started in one process within a second would share the
    # first one's log and vis folders, deleted when that run is restarted. A name per run and start avoids it.
    cfg.experiment_name = f'{spec.name}_{time.time_ns()}'
    if epochs is not None:
        if epochs <= 0:
            raise ValueError(f"--epochs must be > 0, got {epochs}")
        # one epoch = every training item once; a batch takes batch_size items per iteration
        iters = max(1, round(epochs * _train_length(cfg) / cfg.train_dataloader.get('batch_size', 1)))
    if iters is not None:
        if iters < 1:
            raise ValueError(f"--iters must be >= 1, got {iters}")
        cfg.train_cfg.max_iters = iters
    max_iters = cfg.train_cfg.max_iters
    # Validation during training is not part of the protocol (its split is the test fold): test once at the
    # end and keep one checkpoint.
    cfg.val_dataloader, cfg.val_evaluator, cfg.val_cfg = None, None, None
    cfg.train_cfg.pop('val_interval', None)
    cfg.train_cfg.pop('val_begin', None)
    cfg.default_hooks.checkpoint.interval = max_iters
    cfg.default_hooks.checkpoint.max_keep_ckpts = 1
    for hook in cfg.get('custom_hooks') or []:  # a run shorter than the grids' interval still leaves one grid
        if hook.get('type') == 'CycleVisualizationHook' and hook.get('interval', 1000) > max_iters:
            hook['interval'] = max_iters
    return cfg


def _train_length(cfg) -> int:
    from mmagic.registry import DATASETS
    from mmengine.registry import init_default_scope

    init_default_scope('mmagic')
    dataset_cfg = dict(cfg.train_dataloader.dataset)
    dataset_cfg['pipeline'] = []
    return len(DATASETS.build(dataset_cfg))


def _manager_classes() -> list[type]:
    """Every class whose instances mmengine keeps in a process-wide registry (``ManagerMixin`` and subclasses)."""
    from mmengine.utils import ManagerMixin

    classes, todo = [], [ManagerMixin]
    while todo:
        cls = todo.pop()
        classes.append(cls)
        todo.extend(cls.__subclasses__())
    return classes


@contextlib.contextmanager
def _forget_run_instances():
    """Drop the loggers, message hubs, visualizers and scopes a run creates once the run is over.

    mmengine keeps every ``MMLogger``, ``MessageHub``, ``Visualizer`` and ``DefaultScope`` a runner makes in a
    class-wide dict for the life of the process, and ``get_current_instance()`` returns the last one. In a grid run
    in one process that leaks an open log file and a message history per run, and leaves later code with the
    finished run's logger, whose console handler writes to the run's (then closed) ``console.log``. The instances
    that existed before the run are kept; the new ones are removed, loggers with their handlers closed.
    """
    import logging

    before = {cls: set(cls._instance_dict) for cls in _manager_classes()}
    try:
        yield
    finally:
        for cls in _manager_classes():
            for name in [n for n in cls._instance_dict if n not in before.get(cls, ())]:
                instance = cls._instance_dict.pop(name)
                if isinstance(instance, logging.Logger):
                    for handler in list(instance.handlers):
                        instance.removeHandler(handler)
                        handler.close()


def execute_run(config: str, spec: RunSpec, out_dir: str, iters: int | None = None,
                epochs: float | None = None, cfg_options: dict | None = None, fast: bool = False) -> str:
    """Train and test one run in this process; write its results and then its DONE marker.

    Arguments as :func:`run_config`.

    Returns:
        Path of the run's per-slice ``results.csv``.
    """
    from mmac.runner.launch import build_runner
    start = time.time()
    cfg = run_config(config, spec, out_dir, iters=iters, epochs=epochs, cfg_options=cfg_options, fast=fast)
    work = run_dir(out_dir, spec)
    os.makedirs(work, exist_ok=True)
    # The runner's console output (config dump, per-iteration logs) goes to the run's folder, not the terminal
    # where the grid's progress bar is; mmengine binds its console handler to sys.stdout at logger creation.
    checkpoint = osp.join(work, f'iter_{cfg.train_cfg.max_iters}.pth')
    averaged = averages_weights(cfg)
    with open(osp.join(work, 'console.log'), 'a') as console, _forget_run_instances():
        with contextlib.redirect_stdout(console):
            runner = build_runner(cfg)
            runner.train()
            if not averaged:
                runner.test()
    if averaged:
        _test_checkpoint(cfg.copy(), work, checkpoint)
    results = _write_results(work, spec)
    done = dict(spec.to_dict(), run=spec.name, checkpoint=checkpoint, config=osp.join(work, 'run_config.py'),
                iters=cfg.train_cfg.max_iters, seconds=round(time.time() - start, 1),
                settings=run_settings(config, iters, epochs, cfg_options))
    cfg.dump(done['config'])
    write_json_atomic(osp.join(work, 'DONE'), done)
    return results


def averages_weights(cfg) -> bool:
    """Whether the config keeps a weight average (mmengine's ``EMAHook``) that the test must score.

    ``EMAHook`` builds its average again in ``before_run``, which ``runner.test()`` calls after ``runner.train()``
    on the same runner: that test would score the last iterate while the checkpoint holds the average. Such runs
    are tested from their checkpoint by a fresh runner instead (:func:`_test_checkpoint`).
    """
    return any(isinstance(hook, dict) and hook.get('type') in ('EMAHook', 'mmengine.EMAHook')
               for hook in cfg.get('custom_hooks') or ())


def _test_checkpoint(cfg, work: str, checkpoint: str) -> None:
    """Test ``checkpoint`` with the run's config ``cfg`` by a runner that trains nothing, output in ``work``."""
    from mmac.runner.launch import build_runner

    cfg.work_dir, cfg.load_from, cfg.resume = work, str(checkpoint), False
    with open(osp.join(work, 'console.log'), 'a') as console, _forget_run_instances():
        with contextlib.redirect_stdout(console):
            build_runner(cfg).test()


def _write_results(work: str, spec: RunSpec) -> str:
    """The run's test slices (``dice/test_per_slice.csv``) with the run's keys in front, as ``results.csv``."""
    import pandas as pd

    slices = osp.join(work, 'dice', 'test_per_slice.csv')
    if not osp.isfile(slices):
        raise RuntimeError(f"run {spec.name}: the test wrote no {slices}; does the config's test evaluator hold "
                           "a ThresholdDiceMetric and custom_hooks a ThresholdDiceHook?")
    frame = pd.read_csv(slices)
    for key, value in reversed(list(dict(run=spec.name, **spec.to_dict()).items())):
        frame.insert(0, key, value)
    columns = RESULT_COLUMNS + [c for c in OPTIONAL_COLUMNS if c in frame.columns]
    results = osp.join(work, 'results.csv')
    write_csv_atomic(frame[columns], results)
    return results


def rescore_run(out_dir: str, spec: RunSpec) -> str:
    """Test a finished run's checkpoint again with the current evaluation and rewrite its ``results.csv``.

    For runs made before the evaluation gained a score (``removal_heavy``, say): their checkpoint is tested with
    the run's own config (``run_config.py``) and today's metric, nothing is trained. The Dice is the same as
    before for the same checkpoint and data; ``DONE`` keeps its settings and gains ``rescored`` (a timestamp).
    Relative paths in the run's config (``data_root``) are read from the current directory, as in training.

    Returns:
        Path of the run's per-slice ``results.csv``.

    Raises:
        FileNotFoundError: The run is not finished (no ``DONE``), or its config or checkpoint is gone.
        ValueError: Its DONE is not JSON or lacks ``config`` / ``checkpoint``, or its ``data_root`` now holds
            another cohort than the run was made with (:func:`check_run_cohort`).
    """
    from mmengine.config import Config

    work = run_dir(out_dir, spec)
    config, checkpoint = run_files(out_dir, spec.name)
    done = read_done(out_dir, spec)
    cfg = Config.fromfile(str(config))
    check_run_cohort(cfg, done, spec.name)
    _test_checkpoint(cfg, work, checkpoint)
    results = _write_results(work, spec)
    write_json_atomic(osp.join(work, 'DONE'), dict(done, rescored=time.strftime('%Y-%m-%d %H:%M:%S')))
    return results


def check_run_cohort(cfg, done: dict | None, name: str) -> None:
    """Raise ValueError when the cohort at the run's ``data_root`` is not the one it was made with.

    Args:
        cfg: The run's config (``run_config.py``), whose top-level ``data_root`` the datasets read.
        done: The run's ``DONE`` record; its ``settings['data_digest']`` is the cohort's manifest digest at
            training time (:func:`data_digest`; absent for runs made before it was kept: nothing to check).
        name: The run's name, for the message.
    """
    then = ((done or {}).get('settings') or {}).get('data_digest')
    root = cfg.get('data_root')
    now = data_digest(root)
    if None not in (then, now) and then != now:
        raise ValueError(f"run {name}: {root!r} holds another cohort than the run was made with (manifest.csv "
                         f"digest {then[:12]} then, {now[:12]} now); testing it there would score patients it "
                         "may have trained on. Put the run's cohort back or train again")


def _check_cohorts(out_dir: str, specs: Sequence[RunSpec]) -> None:
    """:func:`check_run_cohort` for each finished run of ``specs``."""
    from mmengine.config import Config

    for spec in specs:
        config, _ = run_files(out_dir, spec.name)
        check_run_cohort(Config.fromfile(str(config)), read_done(out_dir, spec), spec.name)


def rescore_grid(out_dir: str, specs: Sequence[RunSpec], progress: bool = True, log=print,
                 settings: dict | None = None) -> str:
    """:func:`rescore_run` every finished run of ``specs`` in this process, then rebuild ``results.csv``.

    Runs that are not finished are left alone and named in a message (train them with :func:`run_grid`).
    ``settings`` as in :func:`collect_results`: given, the other finished runs made with them stay in
    ``results.csv`` (as they were scored).

    Returns:
        Path of ``out_dir/results.csv``.

    Raises:
        FileNotFoundError: None of ``specs`` is finished in ``out_dir``, or a finished run lost its files.
        ValueError: A finished run's ``data_root`` now holds another cohort (:func:`check_run_cohort`); checked
            for every run before any is rescored.
    """
    from tqdm import tqdm

    finished = [s for s in specs if read_done(out_dir, s) is not None]
    if not finished:
        raise FileNotFoundError(f"{out_dir} holds none of the {len(specs)} runs finished: nothing to rescore")
    missing = [s.name for s in specs if s not in finished]
    if missing:
        log(f"{len(missing)} of {len(specs)} runs are not finished and not rescored: {', '.join(missing)}")
    _check_cohorts(out_dir, finished)  # all before any: a refused grid leaves every run as it was
    for spec in tqdm(finished, unit='run', disable=not progress):
        rescore_run(out_dir, spec)
    log(f"rescored {len(finished)} run(s) with the current evaluation")
    return collect_results(out_dir, specs, settings)


def resolve_path(value: str, *bases: Path) -> Path:
    """``value`` as it is when absolute, else under the first of ``bases`` (then the working directory) where it
    exists; unchanged when it exists nowhere."""
    path = Path(value)
    if path.is_absolute():
        return path
    for base in (*bases, Path.cwd()):
        if (base / path).exists():
            return base / path
    return path


def run_files(out_dir: str | Path, run: str) -> tuple[Path, Path]:
    """``(config, checkpoint)`` of a finished run, as its ``<out_dir>/runs/<run>/DONE`` names them.

    DONE holds the paths as the training saw them, relative to its working directory: each is looked for as it
    is, under the run's folder and ``out_dir`` (:func:`resolve_path`), and last as the file of that name in the
    run's folder, where training writes both.

    Raises:
        FileNotFoundError: No DONE file, or its config/checkpoint does not exist.
        ValueError: DONE is not JSON or lacks ``config`` / ``checkpoint``.
    """
    folder = Path(out_dir) / "runs" / str(run)
    done = folder / "DONE"
    if not done.is_file():
        raise FileNotFoundError(f"run {run!r} has no DONE file ({done}); is it finished?")
    try:
        info = json.loads(done.read_text())
        names = info["config"], info["checkpoint"]
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise ValueError(f"{done}: expected JSON with 'config' and 'checkpoint', got an error {exc!r}") from exc
    paths = []
    for what, name in zip(("config", "checkpoint"), names, strict=True):
        path = resolve_path(name, folder, Path(out_dir))
        if not path.is_file() and (folder / Path(name).name).is_file():
            path = folder / Path(name).name
        if not path.is_file():
            raise FileNotFoundError(f"{done}: {what} {path} does not exist")
        paths.append(path)
    return paths[0], paths[1]


def read_done(out_dir: str, spec: RunSpec) -> dict | None:
    path = osp.join(run_dir(out_dir, spec), 'DONE')
    if not osp.isfile(path):
        return None
    with open(path) as f:
        return json.load(f)


def finished_runs(out_dir: str, settings: dict) -> tuple[list[RunSpec], list[str]]:
    """Every finished run in ``out_dir/runs``, split by whether it was made with ``settings``.

    Args:
        out_dir: Output folder.
        settings: The settings of the command (:func:`run_settings`), compared with each run's DONE by
            :func:`settings_differences`.

    Returns:
        ``(same, other)``: the runs made with these settings, and the names of the others (other settings, or a
        DONE this layout does not read), each in name order.
    """
    same, other = [], []
    for done_file in sorted(Path(out_dir, 'runs').glob('*/DONE')):
        try:
            done = json.loads(done_file.read_text())
            spec = RunSpec(done['loss'], float(done['w_c']), int(done['fold']), int(done['repetition']))
        except (json.JSONDecodeError, KeyError, TypeError, ValueError):
            other.append(done_file.parent.name)  # not a run of this layout: never part of results.csv
            continue
        if spec.name != done_file.parent.name:
            other.append(done_file.parent.name)
            continue
        if settings_differences(done.get('settings'), settings):
            other.append(spec.name)
        else:
            same.append(spec)
    return same, other


def collect_results(out_dir: str, specs: Sequence[RunSpec], settings: dict | None = None) -> str:
    """Concatenate the finished runs' results into ``out_dir/results.csv`` (atomically); return its path.

    Args:
        out_dir: Output folder.
        specs: The runs of the command, in grid order.
        settings: The command's settings (:func:`run_settings`). Given, the other finished runs in ``out_dir``
            made with the same settings are kept too, so that a command run over some folds or repetitions adds
            to ``results.csv`` instead of replacing it. None: the runs of ``specs`` only.

    The rows are in grid order (:func:`mmac.protocol.grid.make_grid`: repetition, then fold), a kept run after
    the command's runs of its repetition and fold, whichever command made it.
    """
    import pandas as pd

    runs = [s for s in specs if read_done(out_dir, s)]
    if settings is not None:
        mine = set(specs)
        runs += [s for s in finished_runs(out_dir, settings)[0] if s not in mine]
    runs.sort(key=lambda s: (s.repetition, s.fold))  # stable: the command's order within a repetition and fold
    frames = [pd.read_csv(osp.join(run_dir(out_dir, s), 'results.csv')) for s in runs]
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=RESULT_COLUMNS)
    path = osp.join(out_dir, 'results.csv')
    write_csv_atomic(frame, path)
    return path


def visible_gpus() -> list[int]:
    """Indices of the CUDA devices this process may use ([] without CUDA)."""
    import torch

    return list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []


def pending_runs(config: str, specs: Sequence[RunSpec], out_dir: str, iters: int | None = None,
                 epochs: float | None = None, cfg_options: dict | None = None) -> list[RunSpec]:
    """The specs of ``specs`` without a finished run in ``out_dir``, in order (nothing is changed on disk).

    Raises:
        ValueError: A finished run in ``out_dir`` was made with other settings.
    """
    settings = run_settings(config, iters, epochs, cfg_options)
    todo = []
    for spec in specs:
        done = read_done(out_dir, spec)
        if done is None:
            todo.append(spec)
        elif done.get('settings') != settings:
            differences = settings_differences(done.get('settings'), settings)
            if differences:
                raise ValueError(f"{run_dir(out_dir, spec)} was finished with other settings than now: "
                                 f"{'; '.join(differences)}. Give the run's settings again, or use another "
                                 "--out folder")
    return todo


def run_grid(config: str, specs: Sequence[RunSpec], out_dir: str, iters: int | None = None,
             epochs: float | None = None, cfg_options: dict | None = None, jobs: int = 1,
             gpus: Sequence[int] | None = None, progress: bool = True, log=print, fast: bool = False,
             check_folds: bool = True, collect: bool = True) -> str | None:
    """Run every spec not yet finished, ``jobs`` at a time; return the path of ``results.csv`` (None when
    ``collect`` is False).

    Finished runs (``DONE`` present, same settings) are skipped; a run folder without ``DONE`` is deleted and
    the run restarted. With ``jobs > 1`` each run is a subprocess; runs are dealt round-robin to ``gpus``
    (several per GPU when ``jobs > len(gpus)``: at batch size 1 one run leaves a large GPU mostly idle).

    Args:
        config: Base config path.
        specs: Runs (see :func:`mmac.protocol.grid.make_grid`).
        out_dir: Output folder.
        iters: Iterations per run (see :func:`run_config`).
        epochs: Epochs per run (see :func:`run_config`).
        cfg_options: Overrides for every run; ``{fold}`` in a value becomes the run's fold (:func:`for_fold`).
        jobs: Runs at the same time. 1 runs them one after the other in this process.
        gpus: CUDA device indices to spread runs over. Defaults to all visible devices.
        progress: Show a progress bar over runs.
        log: Where messages go.
        fast: Train every run with the fast iteration (see :func:`run_config`).
        check_folds: Check every pending fold's start files and data first (:func:`check_fold_files`,
            :func:`check_fold_data`); False when the caller already did. Defaults to True.
        collect: Write ``results.csv`` of ``out_dir`` after each run and at the end (:func:`collect_results`).
            False when the caller writes it itself from several grids (the demo trains its variant with another
            config into the same folder): nothing is then written or said about ``results.csv``. Defaults to True.

    Raises:
        ValueError: ``jobs < 1``, or a finished run in ``out_dir`` was made with other settings.
        FileNotFoundError: A fold's ``load_from`` checkpoint does not exist (:func:`check_fold_files`); checked
            before any run starts.
        RuntimeError: A run failed (its folder is left for inspection and restarted next time).
    """
    from tqdm import tqdm

    if jobs < 1:
        raise ValueError(f"--jobs must be >= 1, got {jobs}")
    settings = run_settings(config, iters, epochs, cfg_options)
    todo = pending_runs(config, specs, out_dir, iters=iters, epochs=epochs, cfg_options=cfg_options)
    if check_folds:
        check_fold_files(cfg_options, [spec.fold for spec in todo])
        check_fold_data(config, [spec.fold for spec in todo], cfg_options, log=log)
    for spec in todo:
        if osp.isdir(run_dir(out_dir, spec)):
            log(f"restarting {spec.name}: its folder has no DONE marker (the run was interrupted)")
            shutil.rmtree(run_dir(out_dir, spec))
    log(f"{len(specs) - len(todo)} of {len(specs)} runs already finished; {len(todo)} to run")
    if collect:
        _say_what_results_keep(out_dir, specs, settings, log)
    os.makedirs(out_dir, exist_ok=True)
    bar = tqdm(total=len(specs), initial=len(specs) - len(todo), unit='run', disable=not progress)
    try:
        if jobs == 1:
            for spec in todo:
                bar.set_postfix_str(spec.name)
                execute_run(config, spec, out_dir, iters=iters, epochs=epochs, cfg_options=cfg_options,
                            fast=fast)
                if collect:
                    collect_results(out_dir, specs, settings)
                bar.update()
        else:
            _run_parallel(config, todo, out_dir, settings, jobs,
                          visible_gpus() if gpus is None else list(gpus), bar, specs if collect else None, fast)
    finally:
        bar.close()
    return collect_results(out_dir, specs, settings) if collect else None


def _say_what_results_keep(out_dir: str, specs: Sequence[RunSpec], settings: dict, log) -> None:
    """Log the finished runs of ``out_dir`` outside ``specs`` that ``results.csv`` keeps or leaves out."""
    same, other = finished_runs(out_dir, settings)
    grid = set(specs)
    kept = [s.name for s in same if s not in grid]
    if kept:
        log(f"results.csv keeps {len(kept)} finished run(s) of {out_dir} outside this grid, made with the same "
            f"settings: {', '.join(kept)}")
    if other:
        log(f"results.csv leaves out {len(other)} finished run(s) of {out_dir} made with other settings: "
            f"{', '.join(other)}")


# The worker process runs the mmac this process runs: `python -m mmac.protocol.worker` would import the first
# `mmac` on its path, where the current directory (another checkout, a copy of the code) comes first.
_PACKAGE_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
_WORKER_ENTRY = (f"import sys; sys.path.insert(0, {_PACKAGE_ROOT!r}); "
                 "from mmac.protocol.worker import main; main()")


def _run_parallel(config, todo, out_dir, settings, jobs, gpus, bar, specs, fast) -> None:
    """Subprocess pool: at most ``jobs`` runs at once, run k of a slot on GPU ``gpus[slot % len(gpus)]``;
    ``results.csv`` of ``specs`` rewritten after each finished run (not when ``specs`` is None)."""
    queue = deque(todo)
    running: dict[int, tuple] = {}  # slot -> (process, spec, log file)
    failed = []
    while queue or running:
        for slot in range(jobs):
            if slot in running or not queue:
                continue
            spec = queue.popleft()
            env = dict(os.environ)
            if gpus:
                env['CUDA_VISIBLE_DEVICES'] = str(gpus[slot % len(gpus)])
            elif 'OMP_NUM_THREADS' not in os.environ:
                env['OMP_NUM_THREADS'] = str(threads_per_job(jobs))
            os.makedirs(run_dir(out_dir, spec), exist_ok=True)
            log_file = open(osp.join(run_dir(out_dir, spec), 'worker.log'), 'w')  # errors; logs: console.log
            cmd = [sys.executable, '-c', _WORKER_ENTRY, '--config', settings['config'], '--out', out_dir,
                   '--spec', json.dumps(spec.to_dict()), '--settings', json.dumps(settings)]
            if fast:
                cmd.append('--fast')
            running[slot] = (subprocess.Popen(cmd, env=env, stdout=log_file, stderr=subprocess.STDOUT), spec,
                             log_file)
        time.sleep(0.5)
        for slot, (proc, spec, log_file) in list(running.items()):
            if proc.poll() is None:
                continue
            log_file.close()
            del running[slot]
            if proc.returncode != 0:
                failed.append(spec.name)
            elif specs is not None:
                collect_results(out_dir, specs, settings)
            bar.update()
    if failed:
        raise RuntimeError(f"{len(failed)} run(s) failed: {', '.join(failed)}; see runs/<run>/worker.log. "
                           "Rerunning the same command restarts only those")
