"""Checks of a user's config before anything runs: typos in top-level keys, data knobs that would not reach the
loaders, and the datasets themselves (manifest, volumes, masks, folds), each refused with one clear message.

mmengine evaluates each config file on its own and then merges the results. Two consequences surprise users of
the thigh configs:

- a misspelled top-level key (``data_rot = '/data/study'``) is just another variable: the loaders keep the
  base config's ``data_root`` and training runs on the synthetic cohort;
- a top-level variable that a base config used to build its loaders (``image_size``, ``fold``, ``num_folds``,
  ``fold_seed``, ``manifest``), or one named like a dataset argument (``mask_labels``, ``resize_mode``,
  ``annotation_every``, ...), does not reach those loaders when a derived config sets it.

:func:`check_top_level_keys` refuses the first (a key the user set that is close to a known one);
:func:`apply_data_knobs` carries the second to the loaders, or refuses when the loaders disagree among
themselves; :func:`preflight_datasets` builds the configured datasets before the runner, so that data errors
come as one line before mmengine's start-up output and before a work dir is made.
"""
from __future__ import annotations

import ast
import contextlib
import difflib
import inspect
import re
from collections.abc import Iterable, Iterator, Mapping

LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')  # a thigh config's three loaders
# Top-level keys that mmengine's Runner, mmagic's stock configs and the thigh base config define.
RUNNER_KEYS = (
    'model', 'work_dir', 'train_dataloader', 'val_dataloader', 'test_dataloader', 'train_cfg', 'val_cfg',
    'test_cfg', 'auto_scale_lr', 'optim_wrapper', 'param_scheduler', 'val_evaluator', 'test_evaluator',
    'default_hooks', 'custom_hooks', 'data_preprocessor', 'load_from', 'resume', 'launcher', 'env_cfg',
    'log_processor', 'log_level', 'visualizer', 'vis_backends', 'default_scope', 'randomness', 'experiment_name',
    'runner_type', 'model_wrapper_cfg', 'custom_imports', 'compile', 'strategy', 'cfg', 'cycle_losses')
# Data knobs: top-level name -> the ThighMRDataset argument of every loader it sets (see apply_data_knobs).
DATA_KNOBS = {'data_root': 'data_root', 'manifest': 'manifest', 'image_size': 'size', 'fold': 'fold',
              'num_folds': 'num_folds', 'fold_seed': 'fold_seed', 'resize_mode': 'resize_mode',
              'annotation_every': 'annotation_every', 'annotation_offset': 'annotation_offset',
              'mask_labels': 'mask_labels', 'random_pairing': 'random_pairing', 'cache': 'cache',
              'disk_cache': 'disk_cache', 'load_workers': 'load_workers', 'progress': 'progress',
              'lazy_init': 'lazy_init', 'max_refetch': 'max_refetch'}
# ThighMRDataset arguments that no top-level key sets: the name at top level -> where to set it instead.
LOADER_ONLY = {
    'size': "the top-level key is image_size",
    'pipeline': "the top-level keys are train_pipeline and test_pipeline",
    'split': "each loader has its own: set <loader>.dataset.split",
    'test_mode': "each loader has its own: set <loader>.dataset.test_mode",
    'subjects': "each loader has its own: set <loader>.dataset.subjects, or choose them with fold and num_folds",
    'domains': "the base config builds the model's domains from it too: set model.reachable_domains, "
               "model.related_domains, each <loader>.dataset.domains and the pipelines' keys"}
# Pipelines the thigh base config builds its loaders' datasets from: top-level name -> the loaders it feeds.
PIPELINE_KNOBS = {'train_pipeline': ('train_dataloader',), 'test_pipeline': ('val_dataloader', 'test_dataloader')}
TYPO_CUTOFF = 0.82  # difflib ratio above which an unknown key is taken for a misspelling of a known one


def assigned_names(config: str) -> set[str]:
    """Top-level names a config file assigns itself (not those it inherits).

    Args:
        config: Path of a Python config file.

    Returns:
        The names bound at module level by ``=``, ``+=`` or an annotated assignment.
    """
    with open(config, encoding='utf-8') as f:
        tree = ast.parse(f.read(), filename=config)
    names: set[str] = set()
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, 'target', None)]
        for target in targets:
            for sub in ast.walk(target) if target is not None else ():
                if isinstance(sub, ast.Name):
                    names.add(sub.id)
    return names


def read_names(config: str) -> set[str]:
    """Names a config file reads anywhere (``dict(data_root=dataroot)`` reads ``dataroot``): a variable the file
    uses is the user's own, never a misspelt setting."""
    with open(config, encoding='utf-8') as f:
        tree = ast.parse(f.read(), filename=config)
    return {node.id for node in ast.walk(tree) if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)}


def is_dumped_config(names: set[str]) -> bool:
    """Whether a config file that assigns ``names`` is one mmengine dumped into a work dir: no ``_base_``, and
    the keys a dump always has (mmengine writes ``work_dir`` and ``launcher`` with the merged config)."""
    return '_base_' not in names and {'work_dir', 'launcher', 'model', 'train_dataloader'} <= names


def misspelt_keys(config: str, cfg_keys: Iterable[str], cfg_options: Mapping | None = None) -> list[tuple]:
    """``(key, known key it resembles, where it was set)`` for each top-level key the user set that looks like a
    misspelling (see :func:`check_top_level_keys`); [] when there is none.

    A config that mmengine dumped into a work dir holds every variable of its base configs, as assigned keys
    (mmagic's stock ``dataroot``, say): its own keys passed this check when the run started, so only the
    ``--cfg-options`` keys are checked.
    """
    own = assigned_names(config) - {'_base_'}
    if is_dumped_config(own):
        own = set()
    from_options = _top_level(cfg_options)
    inherited = set(cfg_keys) - own - from_options
    targets = sorted(set(RUNNER_KEYS) | set(DATA_KNOBS))  # keys whose misspelling silently changes the run
    found = []
    for key in sorted((own | from_options) - set(targets) - inherited - (read_names(config) - from_options)):
        close = difflib.get_close_matches(key, targets, n=1, cutoff=TYPO_CUTOFF)
        if close:
            found.append((key, close[0], '--cfg-options' if key in from_options else config))
    return found


def _top_level(options: Mapping | None) -> set[str]:
    return {key.split('.', 1)[0] for key in (options or {})}


def check_top_level_keys(cfg, config: str, cfg_options: Mapping | None = None) -> None:
    """Refuse a top-level key the user set that looks like a misspelling of a known one.

    A key counts as the user's when the config file itself assigns it or ``--cfg-options`` sets it. A user key
    that is not one of :data:`RUNNER_KEYS` or :data:`DATA_KNOBS`, nor a key the config has without the user
    setting it (from a base config), nor a variable the file itself reads (``dataroot`` in
    ``dict(data_root=dataroot)``, ``gen_cfg`` in ``model = dict(generator=gen_cfg)``), but within
    :data:`TYPO_CUTOFF` of one of :data:`RUNNER_KEYS` or :data:`DATA_KNOBS` is refused: mmengine would keep it as
    a variable nobody reads, and the run would silently go on without it. Other new keys are the user's own
    variables and pass, and so do overrides of a base config's variables (``train_pipeline = [...]``). A key of
    :data:`LOADER_ONLY` (a dataset argument that no top-level key sets, e.g. ``size``) is refused with where to
    set it, unless the file reads it itself (or, for ``domains``, it names the model's domains).

    Args:
        cfg: The merged mmengine ``Config``.
        config: Path of the config file.
        cfg_options: The ``--cfg-options`` overrides (``{'a.b': value}``).

    Raises:
        ValueError: Names the key, where it was set and the known key it resembles, or where to set a
            :data:`LOADER_ONLY` key instead.
    """
    for key, close, where in misspelt_keys(config, cfg.keys(), cfg_options)[:1]:
        raise ValueError(f"{where}: unknown top-level key {key!r}; did you mean {close!r}? (A key that is your "
                         f"own variable and not a misspelling: give it a name less like {close!r}.)")
    from_options = _top_level(cfg_options)
    for key in sorted((assigned_names(config) - read_names(config) | from_options) & set(LOADER_ONLY)):
        if key == 'domains' and cfg.get(key) == (cfg.get('model') or {}).get('reachable_domains'):
            continue  # the model's own (a config a run dumped into its work dir has it at top level)
        where = '--cfg-options' if key in from_options else config
        raise ValueError(f"{where}: the top-level key {key!r} reaches no loader ({LOADER_ONLY[key]})")


def _thigh_loaders(cfg) -> list[str]:
    return [key for key in LOADERS
            if isinstance((cfg.get(key) or {}).get('dataset'), Mapping)
            and cfg[key]['dataset'].get('type') == 'ThighMRDataset']


def apply_data_knobs(cfg, config: str, cfg_options: Mapping | None = None, log=None) -> list[str]:
    """Carry the data knobs a config sets at top level to the loaders built from them in a base config.

    For each knob of :data:`DATA_KNOBS` except ``data_root`` (:func:`mmac.runner.launch.apply_data_root` owns
    it), and each pipeline of :data:`PIPELINE_KNOBS`, that the config file assigns or ``--cfg-options`` sets at
    top level: every ``ThighMRDataset`` loader it feeds whose argument ``--cfg-options`` does not set itself gets
    the knob's value, provided those loaders agree with each other (untouched inheritance; a loader that leaves
    the argument to the dataset's default agrees with any). When they disagree among themselves and with the
    knob, which one the user meant is unknown and the config is refused. A data knob that no loader takes (none
    builds a ``ThighMRDataset``) is refused too, unless the file reads it itself.

    Args:
        cfg: The merged mmengine ``Config``, changed in place.
        config: Path of the config file.
        cfg_options: The ``--cfg-options`` overrides.
        log: Called with one line per knob applied. Defaults to mmengine's ``print_log``.

    Returns:
        The lines logged.

    Raises:
        ValueError: Loaders that disagree, named with their values and how to set them, or a data knob that
            reaches no loader.
    """
    if log is None:
        from mmengine.logging import print_log

        def log(line):
            print_log(line, logger='current')
    own = assigned_names(config) | _top_level(cfg_options)
    options = set(cfg_options or {})
    lines = []
    knobs = [(knob, field, LOADERS) for knob, field in DATA_KNOBS.items() if knob != 'data_root']
    knobs += [(knob, 'pipeline', loaders) for knob, loaders in PIPELINE_KNOBS.items()]
    for knob, field, fed in knobs:
        if knob not in own or knob not in cfg:
            continue
        value = cfg[knob]
        loaders = [key for key in _thigh_loaders(cfg) if key in fed]
        if not loaders and field != 'pipeline' and knob not in read_names(config):
            where = '--cfg-options' if knob in _top_level(cfg_options) else config
            raise ValueError(f"{where}: the top-level key {knob!r} reaches no loader: none of {', '.join(fed)} "
                             f"has a ThighMRDataset; set the argument in the loaders' datasets")
        pinned = {key: cfg[key]['dataset'].get(field) for key in loaders if f'{key}.dataset.{field}' in options}
        clash = {key: v for key, v in pinned.items() if v != value}
        if clash and knob in _top_level(cfg_options):
            found = ', '.join(f'{key}.dataset.{field}={v!r}' for key, v in clash.items())
            raise ValueError(f"--cfg-options sets {knob}={value!r} and also {found}; give one of them")
        values = {key: cfg[key]['dataset'].get(field) for key in loaders if key not in pinned}
        stale = [key for key, v in values.items() if v != value]
        if not stale:
            continue
        # a loader that leaves the argument to the dataset's default disagrees with none
        if len({repr(v) for key, v in values.items() if field in cfg[key]['dataset']}) > 1:
            found = ', '.join(f'{key}.dataset.{field}={v!r}' for key, v in values.items())
            hint = ' '.join(f'{key}.dataset.{field}={value!r}' for key in stale)
            raise ValueError(f"{config}: {knob} = {value!r} at top level, but the loaders disagree ({found}); a "
                             "top-level variable does not reach loaders built in a base config. Set each "
                             f"loader's dataset {field} (e.g. train_dataloader = dict(dataset=dict({field}="
                             f"{value!r}))) or give --cfg-options {hint}")
        for key in stale:
            cfg[key]['dataset'][field] = value
        shown = f" = {value!r}" if field != 'pipeline' else ''
        line = f"config: {knob}{shown} applied to {', '.join(stale)} (dataset.{field})"
        log(line)
        lines.append(line)
    return lines


_UNEXPECTED = re.compile(r"(\w+)\.__init__\(\) got an unexpected keyword argument '(\w+)'")


def explain_unexpected_argument(exc: TypeError, where: str = '') -> ValueError | None:
    """Turn Python's "X.__init__() got an unexpected keyword argument 'k'" into a message that lists what X takes.

    Looks ``X`` up in mmagic's and mmengine's registries to read its arguments.

    Args:
        exc: The ``TypeError``.
        where: Where the arguments came from, e.g. ``'train_dataloader.dataset'``.

    Returns:
        A ``ValueError`` to raise in its place, or None when ``exc`` is another kind of ``TypeError`` or ``X``
        is not registered.
    """
    match = _UNEXPECTED.search(str(exc))
    if match is None:
        return None
    name, key = match.groups()
    cls = _registered(name)
    if cls is None:
        return None
    allowed = [p for p in inspect.signature(cls.__init__).parameters
               if p not in ('self', 'args', 'kwargs')]
    return _no_such_argument(where, name, key, allowed)


def _did_you_mean(key: str, choices) -> str:
    """``"; did you mean 'x'?"`` for the closest of ``choices`` to ``key``, or '' when none is close."""
    close = difflib.get_close_matches(key, list(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ''


def _no_such_argument(where: str, name: str, key: str, allowed: list[str]) -> ValueError:
    """The refusal of argument ``key`` that ``name`` does not take, with the closest one and all it takes."""
    prefix = f"{where}: " if where else ''
    return ValueError(f"{prefix}{name} has no argument {key!r}{_did_you_mean(key, allowed)} "
                      f"Allowed: {', '.join(allowed)}")


def _registered(name: str):
    from mmagic.registry import DATASETS, MODELS
    from mmengine.registry import LOOPS

    for registry in (DATASETS, MODELS, LOOPS):
        cls = registry.get(name)
        if cls is not None:
            return cls
    return None


def _thigh_datasets(dataset, where: str) -> list[tuple[str, dict]]:
    """The ``ThighMRDataset`` configs in ``dataset``: itself, or inside a wrapper's ``dataset`` / ``datasets``
    (``RepeatDataset``, ``ConcatDataset``, ...), each with where it sits."""
    if not isinstance(dataset, Mapping):
        return []
    plain = dataset.to_dict() if hasattr(dataset, 'to_dict') else dict(dataset)
    if plain.get('type') == 'ThighMRDataset':
        return [(where, plain)]
    found = _thigh_datasets(plain.get('dataset'), f'{where}.dataset')
    for i, inner in enumerate(plain.get('datasets') or []):
        found += _thigh_datasets(inner, f'{where}.datasets[{i}]')
    return found


def _distinct_datasets(cfg, loaders: Iterable[str]) -> list[tuple[str, dict]]:
    seen, out = [], []
    for key in loaders:
        for where, plain in _thigh_datasets((cfg.get(key) or {}).get('dataset'), f'{key}.dataset'):
            if plain not in seen:
                seen.append(plain)
                out.append((where, plain))
    return out


@contextlib.contextmanager
def _explained_arguments(where: str) -> Iterator[None]:
    """Raise a misspelt argument's ``TypeError`` inside as :func:`explain_unexpected_argument`'s ``ValueError``."""
    try:
        yield
    except TypeError as exc:
        explained = explain_unexpected_argument(exc, where)
        if explained is None:
            raise
        raise explained from exc


def registries_ready(cfg) -> None:
    """mmac's components registered and the config's default scope (mmagic's) set, for a build outside a runner."""
    from mmengine.registry import init_default_scope

    from mmac.registry import register_all_modules

    register_all_modules()
    init_default_scope(cfg.get('default_scope') or 'mmagic')


def preflight_model(cfg, checkpoint: str | None = None):
    """Build the config's model once, before the runner, so that a misspelt argument is refused early; with
    ``checkpoint``, also load it strictly (the runner's ``load_from`` only warns about keys that do not fit and
    would go on with the weights it has).

    Args:
        cfg: The loaded config.
        checkpoint: A checkpoint the run will load, or None.

    Returns:
        The built model (on the CPU, untrained), for further checks.

    Raises:
        ValueError: A model part has no argument of that name (the message lists the ones it takes), a type no
            registry holds, a generator that cannot take the loaders' slice size (:func:`check_input_sizes`), or
            the checkpoint's weights do not fit the model.
    """
    from mmagic.registry import MODELS

    registries_ready(cfg)
    with _explained_arguments('model'), _named_registry_miss('model'):
        model = MODELS.build(cfg.model)
    check_input_sizes(model, cfg)
    if checkpoint is not None:
        from mmac.checkpoint import load_checkpoint_strict

        load_checkpoint_strict(model, checkpoint)
    return model


@contextlib.contextmanager
def _named_registry_miss(where: str) -> Iterator[None]:
    """Raise mmengine's ``KeyError`` for a type no registry holds as a ``ValueError`` that says where it was set."""
    try:
        yield
    except KeyError as exc:
        message = str(exc.args[0]) if exc.args else str(exc)
        match = re.match(r"(\S+) is not in the (\S+) registry", message)
        if match is None:
            raise
        raise ValueError(f"{where}: type {match.group(1)!r} is not in the {match.group(2)} registry; is it "
                         "misspelt, or does its module need custom_imports?") from exc


def _dataset_sizes(cfg) -> list[tuple[str, int]]:
    """``(where, slice size)`` of each ``ThighMRDataset`` of the loaders (the dataset's default where unset)."""
    default = None
    found = []
    for where, dataset in _distinct_datasets(cfg, LOADERS):
        if 'size' not in dataset and default is None:
            from mmac.datasets.thigh_mr import ThighMRDataset

            default = inspect.signature(ThighMRDataset.__init__).parameters['size'].default
        found.append((f'{where}.size', dataset.get('size', default)))
    return found


def check_input_sizes(model, cfg) -> None:
    """Refuse a generator that cannot take the loaders' slices (a U-Net deeper than the slice size allows).

    Every sub-module with a ``check_spatial_size`` method (:class:`~mmac.models.unet.UNetGenerator`) is asked
    about each ``ThighMRDataset``'s slice size.

    Raises:
        ValueError: Names the module, the dataset key and what to change.
    """
    sizes = [(where, size) for where, size in _dataset_sizes(cfg) if isinstance(size, int) and size > 0]
    for name, module in model.named_modules():
        check = getattr(module, 'check_spatial_size', None)
        if not callable(check):
            continue
        for where, size in sizes:
            try:
                check((size, size))
            except ValueError as exc:
                raise ValueError(f"model.{name} cannot take the slices of {where} = {size}: {exc}") from exc


def check_loops(cfg) -> None:
    """Refuse a training loop or a loader that mmengine would only reject after making the work dir.

    Checks ``train_cfg``'s arguments against the loop it builds (``IterBasedTrainLoop`` for ``by_epoch=False``,
    else ``EpochBasedTrainLoop``, or its ``type``), ``max_iters`` / ``max_epochs`` and ``val_interval`` >= 1, and
    every loader's ``batch_size`` >= 1.

    Raises:
        ValueError: Names the key and the allowed values (or arguments).
    """
    for key in LOADERS:
        loader = cfg.get(key)
        if isinstance(loader, Mapping) and 'batch_size' in loader:
            size = loader['batch_size']
            if isinstance(size, bool) or not isinstance(size, int) or size < 1:
                raise ValueError(f"{key}.batch_size must be an integer >= 1, got {size!r}")
    train_cfg = cfg.get('train_cfg')
    if not isinstance(train_cfg, Mapping):
        return
    from mmengine.registry import LOOPS

    loop_type = train_cfg.get('type') or ('EpochBasedTrainLoop' if train_cfg.get('by_epoch', True)
                                          else 'IterBasedTrainLoop')
    loop = LOOPS.get(loop_type) if isinstance(loop_type, str) else loop_type
    if loop is None:
        raise ValueError(f"train_cfg.type {loop_type!r} is not a registered training loop")
    allowed = [p for p in inspect.signature(loop.__init__).parameters
               if p not in ('self', 'runner', 'dataloader', 'args', 'kwargs')]
    for arg in train_cfg:
        if arg not in allowed and arg not in ('type', 'by_epoch'):
            raise _no_such_argument('train_cfg', loop.__name__, arg, allowed)
    for arg in ('max_iters', 'max_epochs', 'val_interval', 'val_begin'):
        if arg in train_cfg:
            value = train_cfg[arg]
            if isinstance(value, bool) or not isinstance(value, int) or value < (0 if arg == 'val_begin' else 1):
                least = 0 if arg == 'val_begin' else 1
                raise ValueError(f"train_cfg.{arg} must be an integer >= {least}, got {value!r}")


def check_optimizers(model, cfg) -> None:
    """Build the optimizers once, before the runner, so that a bad learning rate or optimizer type is one line.

    Raises:
        ValueError: From the optimizer's constructor (torch's "Invalid learning rate: -1"), or an optimizer type
            that no registry holds, prefixed with ``optim_wrapper``.
    """
    if not isinstance(cfg.get('optim_wrapper'), Mapping):
        return
    from mmengine.registry import OPTIMIZERS

    def walk(node, where):
        if isinstance(node, Mapping):
            lr = node.get('lr') if where.endswith('.optimizer') else None
            if lr is not None and (isinstance(lr, bool) or not isinstance(lr, (int, float)) or not lr >= 0):
                raise ValueError(f"{where}.lr must be a number >= 0, got {lr!r}")
            kind = node.get('type') if where.endswith('.optimizer') else None
            if isinstance(kind, str) and OPTIMIZERS.get(kind) is None:
                raise ValueError(f"{where}.type {kind!r} is not in the optimizer registry"
                                 f"{_did_you_mean(kind, OPTIMIZERS.module_dict)}")
            for key, value in node.items():
                walk(value, f'{where}.{key}')

    walk(cfg.optim_wrapper, 'optim_wrapper')
    from mmengine.optim import build_optim_wrapper

    with _named_registry_miss('optim_wrapper'), _explained_arguments('optim_wrapper'):
        try:
            build_optim_wrapper(model, cfg.optim_wrapper)
        except ValueError as exc:
            raise ValueError(f"optim_wrapper: {exc}") from exc


def preflight_training(cfg) -> None:
    """The checks of a training run before its runner: the model (:func:`preflight_model`), its optimizers and
    its loops; each refusal is one ``ValueError`` naming the key.

    Raises:
        ValueError: See :func:`preflight_model`, :func:`check_optimizers` and :func:`check_loops`.
    """
    check_loops(cfg)
    check_optimizers(preflight_model(cfg), cfg)


def preflight_checkpoint(cfg) -> None:
    """Read the checkpoint a training run resumes from or starts with (``cfg.load_from``) once, before the runner,
    so that a truncated, corrupt or foreign file is refused as one line before a work dir is made.

    Remote checkpoints (``https://``, ``s3://`` ...) are left to the runner.

    Args:
        cfg: The loaded config (``--resume`` / ``--resume-from`` applied).

    Raises:
        FileNotFoundError: The checkpoint does not exist.
        ValueError: It is not a checkpoint (:func:`mmac.checkpoint.load_local_checkpoint`), or a resume
            names a file that holds weights only (no ``meta`` with the iteration to go on from).
    """
    path = cfg.get('load_from')
    if not path or '://' in str(path):
        return
    from mmac.checkpoint import load_local_checkpoint

    checkpoint = load_local_checkpoint(str(path), map_location='cpu')
    if cfg.get('resume') and not {'meta', 'state_dict'} <= set(checkpoint):
        raise ValueError(f"checkpoint {path} holds weights only (no 'meta' and 'state_dict' of a training run), "
                         f"nothing to resume from; start from its weights with --cfg-options load_from={path}")


def preflight_datasets(cfg, loaders: Iterable[str] = LOADERS) -> None:
    """Build each distinct ``ThighMRDataset`` of ``loaders`` once, before the runner, to refuse bad data early.

    ``ThighMRDataset`` reads its manifest, volumes and masks at construction and checks them (the slice cache
    makes the runner's own build that follows cheap). It is found as a loader's dataset or inside a dataset
    wrapper; other datasets (the drop-in's image folders) are left to the runner. A bad argument name is
    reported with the arguments the dataset takes.

    Args:
        cfg: The loaded config (``data_root`` applied).
        loaders: Which loaders to build. Defaults to the three.

    Raises:
        ValueError, FileNotFoundError: From the dataset (they name the manifest row, file and allowed values),
            or a bad argument name.
    """
    from mmagic.registry import DATASETS

    registries_ready(cfg)
    for where, dataset in _distinct_datasets(cfg, loaders):
        with _explained_arguments(where):
            DATASETS.build(dict(dataset, pipeline=[]))
