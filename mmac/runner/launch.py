"""What ``tools/train.py`` and ``tools/test.py`` do, as functions a test can call."""
from __future__ import annotations

import os
import os.path as osp
from collections.abc import Sequence

from mmac.runner.config_checks import LOADERS  # noqa: F401  (the loaders' names; re-exported here)

LAUNCHERS = ('none', 'pytorch', 'slurm', 'mpi')


def load_config(config: str,
                work_dir: str | None = None,
                cfg_options: dict | None = None,
                launcher: str = 'none',
                amp: bool = False,
                resume: str | None = None,
                load_from: str | None = None,
                fast: bool = False,
                vis_backends: Sequence[str] = (),
                test_autocast: bool = False):
    """Read a config and apply the command-line choices.

    Args:
        config: Path of the config file.
        work_dir: Where logs and checkpoints go. Defaults to the config's ``work_dir`` or
            ``./work_dirs/<config name>``.
        cfg_options: Overrides in mmengine's ``--cfg-options`` form (``{'a.b': 1}``).
        launcher: One of ``none``, ``pytorch``, ``slurm``, ``mpi``.
        amp: Switch every optimizer wrapper to autocast (:func:`mmac.training.optim_wrappers.enable_amp`): bf16
            where the device supports it, else fp16 with dynamic loss scaling.
        resume: ``'auto'`` resumes from the latest checkpoint in ``work_dir`` (:func:`resume_latest`), or starts
            fresh when it holds none; a path resumes from that file.
        load_from: A checkpoint whose weights initialise the model (not a resume).
        fast: Train with ModularCycleGAN's fast iteration (:func:`enable_fast_step`).
        vis_backends: Extra visualizer backends by name, from :data:`VIS_BACKENDS` (:func:`add_vis_backends`).
            Defaults to ().
        test_autocast: Run validation and testing under autocast (:func:`enable_test_autocast`).
            Defaults to False.

    Returns:
        The mmengine ``Config``.

    Raises:
        FileNotFoundError: The config or a named checkpoint does not exist, or ``resume='auto'`` and the work dir's
            ``last_checkpoint`` names a checkpoint the work dir does not hold (:func:`resume_latest`).
        ValueError: Unknown launcher or visualizer backend, a backend whose package is missing, a config
            that is not valid Python, a top-level key that looks misspelt, or data knobs the loaders disagree
            on (:mod:`mmac.runner.config_checks`).
    """
    from mmengine.config import Config

    _check_arguments(config, launcher, resume, load_from)
    try:
        cfg = Config.fromfile(config)
    except SyntaxError as exc:
        raise ValueError(f"config {config} is not valid Python: {exc}") from exc
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    from mmac.runner.config_checks import apply_data_knobs, check_top_level_keys

    check_top_level_keys(cfg, config, cfg_options)
    apply_data_knobs(cfg, config, cfg_options)
    apply_data_root(cfg)
    cfg.launcher = launcher
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(config))[0])
    if amp:
        from mmac.training.optim_wrappers import enable_amp

        enable_amp(cfg)
    if fast:
        enable_fast_step(cfg)
    if vis_backends:
        add_vis_backends(cfg, vis_backends)
    if test_autocast:
        enable_test_autocast(cfg)
    if resume == 'auto':
        resume_latest(cfg)
    elif resume is not None:
        cfg.resume, cfg.load_from = True, resume
    if load_from is not None:
        cfg.load_from = load_from
    if launcher != 'none':
        _distributed_without_cuda(cfg)
    return cfg


def _check_arguments(config: str, launcher: str, resume: str | None, load_from: str | None) -> None:
    """Raise when the config or a named checkpoint does not exist, or the launcher is unknown."""
    if not osp.isfile(config):
        raise FileNotFoundError(f"config file {config} does not exist")
    if launcher not in LAUNCHERS:
        raise ValueError(f"--launcher must be one of {LAUNCHERS}, got {launcher!r}")
    for name, path in (('--resume-from', resume), ('--checkpoint/load_from', load_from)):
        if path not in (None, 'auto') and not osp.isfile(path):
            raise FileNotFoundError(f"{name}: checkpoint {path} does not exist")


def _distributed_without_cuda(cfg) -> None:
    """On a machine without CUDA, make a distributed run use gloo and CPU model wrappers (in place)."""
    import torch

    if not torch.cuda.is_available():  # NCCL needs GPUs; gloo runs everywhere
        cfg.setdefault('env_cfg', {}).setdefault('dist_cfg', {})['backend'] = 'gloo'
        # mmengine passes device_ids=[LOCAL_RANK] to DDP wrappers, which DDP refuses for CPU modules.
        if cfg.get('model_wrapper_cfg') is not None:
            cfg.model_wrapper_cfg['device_ids'] = None


def enable_fast_step(cfg) -> None:
    """Switch ``cfg.model`` to the fast training iteration (in place) and let cuDNN pick its algorithms.

    The fast iteration (``ModularCycleGAN(fast_step=...)``) captures the whole iteration in a CUDA graph on
    a GPU and runs it eagerly elsewhere; keys already in ``cfg.model.fast_step`` are kept.

    Raises:
        ValueError: The model is not a ``ModularCycleGAN``.
    """
    model_type = cfg.model.get('type')
    if model_type != 'ModularCycleGAN':
        raise ValueError(f"--fast needs model.type='ModularCycleGAN', the config has {model_type!r}")
    fast_step = dict(cuda_graph='auto')
    fast_step.update(cfg.model.get('fast_step') or {})
    cfg.model.fast_step = fast_step
    cfg.setdefault('env_cfg', {})['cudnn_benchmark'] = True




def apply_data_root(cfg) -> None:
    """Fill every loader's ``dataset.data_root`` that is None with the config's top-level ``data_root`` (in place).

    The shipped thigh configs leave the loaders' ``data_root`` None, so that one key (in a user config or as
    ``--cfg-options data_root=...``) points training, validation and testing at a study. A loader that names
    its own ``data_root`` keeps it; when it differs from the top-level one a warning says so.

    Raises:
        ValueError: A loader's ``data_root`` is None and the config has no top-level ``data_root``.
    """
    import warnings

    root = cfg.get('data_root')
    for key in LOADERS:
        dataset = (cfg.get(key) or {}).get('dataset')
        if dataset is None or 'data_root' not in dataset:
            continue
        if dataset['data_root'] is None:
            if root is None:
                raise ValueError(f"{key}.dataset.data_root is None (take the config's data_root) but the config "
                                 "has no top-level data_root; set data_root = '<folder with manifest.csv>'")
            dataset['data_root'] = root
        elif root is not None and dataset['data_root'] != root:
            warnings.warn(f"{key}.dataset.data_root={dataset['data_root']!r} differs from the config's "
                          f"data_root={root!r}; the loader uses its own", stacklevel=1)


VIS_BACKENDS = {'tensorboard': ('TensorboardVisBackend', 'tensorboard'), 'wandb': ('WandbVisBackend', 'wandb')}


def add_vis_backends(cfg, names: Sequence[str]) -> None:
    """Add visualizer backends (in place) besides the config's own, e.g. ``['tensorboard']``.

    Scalars (losses, validation Dice) and the visualisation hook's images then also go to TensorBoard
    (``<work_dir>/<timestamp>/vis_data/events.out.tfevents.*``) or Weights & Biases. A backend the config
    has already is not added twice.

    Args:
        cfg: The mmengine ``Config``; needs a ``visualizer`` entry.
        names: Keys of :data:`VIS_BACKENDS`.

    Raises:
        ValueError: Unknown name, no ``visualizer`` in the config, or the backend's package is not installed.
    """
    import importlib.util

    if cfg.get('visualizer') is None:
        raise ValueError("--vis-backend needs a `visualizer` entry in the config")
    backends = list(cfg.visualizer.get('vis_backends') or [])
    for name in names:
        if name not in VIS_BACKENDS:
            raise ValueError(f"--vis-backend must be one of {', '.join(VIS_BACKENDS)}, got {name!r}")
        backend, package = VIS_BACKENDS[name]
        if importlib.util.find_spec(package) is None:
            raise ValueError(f"--vis-backend {name} needs the {package} package: pip install {package}")
        if not any(b.get('type') == backend for b in backends):
            backends.append(dict(type=backend))
    cfg.visualizer.vis_backends = backends


def enable_test_autocast(cfg) -> None:
    """Run the validation and test loops under autocast (in place): mmengine's ``fp16`` loop switch.

    mmengine's autocast picks the device's default dtype: float16 on CUDA, bfloat16 on CPU. Inference needs
    no loss scaling; training precision is the optimizer wrappers' business (``--amp`` of tools/train.py).
    """
    for key in ('val_cfg', 'test_cfg'):
        if cfg.get(key) is not None:
            cfg[key]['fp16'] = True


def build_runner(cfg):
    """Build the runner (``runner_type`` honoured) after making sure mmac's components are registered."""
    from mmac.registry import register_all_modules

    register_all_modules()  # also for configs without custom_imports; installs the checkpoint loader
    from mmengine.registry import RUNNERS
    from mmengine.runner import Runner

    init_cpu_process_group(cfg.get('launcher', 'none'))
    if 'runner_type' in cfg:
        return RUNNERS.build(cfg)
    return Runner.from_cfg(cfg)


def run_runner(cfg, method: str) -> int:
    """Build the runner and call ``method`` (``'train'`` or ``'test'``); the tools' exit status.

    A misspelt argument of a part mmengine builds late (a loop, an evaluator) is refused as one ``error:`` line
    with the arguments that part takes (:func:`mmac.runner.config_checks.explain_unexpected_argument`); any
    other error propagates. The process group is closed after a success.
    """
    from mmac.runner.config_checks import explain_unexpected_argument

    try:
        getattr(build_runner(cfg), method)()
    except TypeError as exc:
        explained = explain_unexpected_argument(exc)
        if explained is None:
            raise
        return cli_error(explained)
    # Only after success: a failing rank must not wait at the closing barrier for ranks that are still working.
    finish_process_group()
    return 0


def add_runner_args(parser, amp_help: str | None = None) -> None:
    """The options tools/train.py and tools/test.py share: --work-dir, --amp, --cfg-options, --vis-backend,
    --launcher. ``amp_help`` replaces the help of ``--amp`` (the training one by default)."""
    import argparse

    parser.add_argument('--work-dir', help='directory for logs, checkpoints and per-patient results')
    parser.add_argument('--amp', action='store_true',
                        help=amp_help or 'mixed precision in every optimizer wrapper (generators and '
                                         'discriminators): bf16 where the device supports it, else fp16 with '
                                         'dynamic loss scaling')
    parser.add_argument('--vis-backend', action='append', choices=list(VIS_BACKENDS), default=[],
                        help='also log to this visualizer backend (repeatable), e.g. --vis-backend tensorboard')
    parser.add_argument('--cfg-options', nargs='+', metavar='KEY=VALUE',
                        help='override config entries, e.g. train_cfg.max_iters=100')
    parser.add_argument('--launcher', choices=LAUNCHERS, default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=None, help=argparse.SUPPRESS)


def init_cpu_process_group(launcher: str) -> None:
    """Start the gloo process group for ``launcher='pytorch'`` on a machine without CUDA.

    mmengine's ``init_dist`` calls ``torch.cuda.set_device`` unconditionally, so multi-process runs fail on CPU
    machines; the runner skips ``init_dist`` when a process group exists already.
    """
    import torch
    import torch.distributed as dist

    if launcher == 'pytorch' and not torch.cuda.is_available() and not dist.is_initialized():
        dist.init_process_group(backend='gloo')  # env:// from torchrun: RANK, WORLD_SIZE, MASTER_ADDR/PORT


def finish_process_group() -> None:
    """Wait for every rank, then close the process group (no-op without one).

    A rank that leaves while gloo's threads still run can die with "terminate called without an active
    exception" (SIGABRT) after its work is done; closing the group first lets every rank exit cleanly.
    """
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def parse_cfg_options(pairs: Sequence[str] | None) -> dict:
    """Parse ``key=value`` pairs with mmengine's ``DictAction`` semantics.

    Raises:
        ValueError: A pair without ``=`` or with an empty key.
    """
    if not pairs:
        return {}
    import argparse

    from mmengine.config import DictAction

    structured = {}
    plain = []
    for pair in pairs:
        if '=' not in pair or not pair.split('=', 1)[0]:
            raise ValueError(f"--cfg-options: {pair!r} is not of the form KEY=VALUE")
        key, value = pair.split('=', 1)
        if 'dict(' in value:  # DictAction splits dict(a=1, b=2) at its commas (or recurses without end)
            structured[key] = literal_value(value, key)
        else:
            plain.append(pair)
    namespace = argparse.Namespace(cfg_options={})
    if plain:
        DictAction(option_strings=['--cfg-options'], dest='cfg_options')(None, namespace, plain)
    return {**namespace.cfg_options, **structured}


def literal_value(text: str, key: str = 'value'):
    """Read a ``--cfg-options`` value written as Python literals with ``dict(k=v)`` calls, as configs write them.

    ``[dict(type='VisBackend'), dict(type='TensorboardVisBackend')]`` -> a list of two dicts. Only literals
    (numbers, strings, True/False/None, lists, tuples, ``{...}`` and ``dict(key=...)``) are accepted; nothing
    is evaluated.

    Raises:
        ValueError: Names ``key`` and the part that is not a literal.
    """
    import ast

    def convert(node):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == 'dict' \
                and not node.args and all(kw.arg for kw in node.keywords):
            return {kw.arg: convert(kw.value) for kw in node.keywords}
        if isinstance(node, (ast.List, ast.Tuple)):
            items = [convert(item) for item in node.elts]
            return items if isinstance(node, ast.List) else tuple(items)
        if isinstance(node, ast.Dict) and None not in node.keys:
            return {convert(k): convert(v) for k, v in zip(node.keys, node.values, strict=True)}
        try:
            return ast.literal_eval(node)
        except ValueError:
            raise ValueError(f"--cfg-options {key}: {ast.unparse(node)!r} is not a literal (numbers, strings, "
                             "True/False/None, lists, tuples, dict(key=value) or {...})") from None

    try:
        tree = ast.parse(text.strip(), mode='eval')
    except SyntaxError as exc:
        raise ValueError(f"--cfg-options {key}: cannot read {text!r}: {exc.msg}") from None
    return convert(tree.body)


def latest_checkpoint(work_dir: str) -> str | None:
    """The latest checkpoint of a work dir, looked for in that work dir only, wherever it now lies.

    mmengine's ``last_checkpoint`` file stores the checkpoint's absolute path at saving time: after the work dir
    is moved that path is gone, and in a copy it names the original folder's file. So only the name it stores is
    used, looked up in ``work_dir``; without that file, the ``iter_<n>.pth`` / ``epoch_<n>.pth`` with the largest
    ``n`` is taken.

    Args:
        work_dir: A training run's work dir.

    Returns:
        The checkpoint's path in ``work_dir``, or None when ``work_dir`` holds none (or does not exist).
    """
    import glob
    import re

    named = _last_checkpoint_name(work_dir)
    if named and osp.isfile(osp.join(work_dir, osp.basename(named))):
        return osp.join(work_dir, osp.basename(named))
    numbered = []
    for path in glob.glob(osp.join(glob.escape(work_dir), '*.pth')):
        match = re.fullmatch(r'(?:iter|epoch)_(\d+)\.pth', osp.basename(path))
        if match:
            numbered.append((int(match.group(1)), path))
    return max(numbered)[1] if numbered else None


def _last_checkpoint_name(work_dir: str) -> str:
    """What mmengine's ``last_checkpoint`` file in ``work_dir`` names; '' without one."""
    last = osp.join(work_dir, 'last_checkpoint')
    if not osp.isfile(last):
        return ''
    with open(last) as f:
        return f.read().strip()


def resume_latest(cfg) -> None:
    """Set ``cfg`` (in place) to resume from the latest checkpoint of its work dir (:func:`latest_checkpoint`).

    mmengine's own auto-resume follows the absolute path in ``last_checkpoint``, which fails after the work dir
    was moved and resumes from the original run in a copy. Without a checkpoint the run starts fresh (the
    config's ``load_from``, if any, initialises it) and says so.

    Raises:
        FileNotFoundError: ``last_checkpoint`` names a checkpoint that is not in the work dir, and the work dir
            holds no other (moved or copied without its checkpoints): a fresh start would overwrite the record.
    """
    from mmengine.logging import print_log

    checkpoint = latest_checkpoint(cfg.work_dir)
    named = _last_checkpoint_name(cfg.work_dir)
    if checkpoint is None and named:
        raise FileNotFoundError(f"{osp.join(cfg.work_dir, 'last_checkpoint')} names {named}, but "
                                f"{osp.basename(named)} is not in {cfg.work_dir} and the work dir holds no other "
                                "checkpoint (moved or copied without them?); resume from a checkpoint with "
                                "--resume-from CKPT, or delete last_checkpoint to start fresh")
    if checkpoint is None:
        cfg.resume = False
        print_log(f"--resume: {cfg.work_dir} holds no checkpoint: nothing to resume, starting fresh",
                  logger='current')
    else:
        cfg.resume, cfg.load_from = True, checkpoint
        print_log(f"--resume: resuming from {checkpoint}, the latest checkpoint in {cfg.work_dir}", logger='current')


def find_run(work_dir: str) -> tuple:
    """The config and the last checkpoint of a finished or interrupted run, from its work dir.

    The config is ``run_config.py`` (written by the cross-validation grid) or else the one ``*.py`` that
    mmengine dumps into a work dir (``<config name>.py``). The checkpoint is :func:`latest_checkpoint`'s: the one
    named in mmengine's ``last_checkpoint`` file, found in ``work_dir`` itself, or else the ``iter_<n>.pth`` /
    ``epoch_<n>.pth`` with the largest ``n``.

    Args:
        work_dir: A training run's work dir (``tools/train.py --work-dir`` or ``OUT/runs/<run>`` of a grid).

    Returns:
        ``(config, checkpoint)`` paths.

    Raises:
        FileNotFoundError: ``work_dir`` is not a folder, or holds no config or no checkpoint.
        ValueError: Several configs and no ``run_config.py``.
    """
    import glob

    if not osp.isdir(work_dir):
        raise FileNotFoundError(f"work dir {work_dir} is not a folder")
    configs = sorted(glob.glob(osp.join(work_dir, '*.py')))
    if osp.join(work_dir, 'run_config.py') in configs:
        config = osp.join(work_dir, 'run_config.py')
    elif len(configs) == 1:
        config = configs[0]
    elif not configs:
        raise FileNotFoundError(f"work dir {work_dir} holds no config (*.py): is it a training run's work dir?")
    else:
        raise ValueError(f"work dir {work_dir} holds several configs ({', '.join(map(osp.basename, configs))}); "
                         "name the config and the checkpoint instead")
    checkpoint = latest_checkpoint(work_dir)
    if checkpoint is None:
        raise FileNotFoundError(f"work dir {work_dir} holds no checkpoint (last_checkpoint, iter_<n>.pth or "
                                "epoch_<n>.pth)")
    return config, checkpoint


def cli_error(exc: BaseException) -> int:
    """The tools' one way to refuse input: ``error: <message>`` on stderr, exit status 2 (as argparse).

    ``MMAC_TRACEBACK=1`` in the environment re-raises instead, to see where the error came from.
    """
    import sys

    if os.environ.get('MMAC_TRACEBACK'):
        raise exc
    message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
    print(f"error: {message}", file=sys.stderr)
    return 2


def set_local_rank(local_rank: int | None) -> None:
    """torchrun passes LOCAL_RANK in the environment; older launchers pass ``--local-rank``."""
    if local_rank is not None and 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(local_rank)
