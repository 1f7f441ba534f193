"""Named sizes of the paper's protocol: cohort, config, grid and schedule in one word (no mmagic).

``tools/cross_validate.py --preset cpu`` runs the paper's protocol at a size a 2-core CPU finishes in about half
an hour (21 min measured): 5 patient-level folds x {L_C, L_AC} x w_c = 1 x 2 repetitions on a 64 px synthetic
cohort of the default cohort's make-up (21 healthy, 7 moderate, 13 severe subjects), then the report. It trains
the paper's losses with nothing added (``configs/ac_cyclegan_thigh_cpu.py``); ``--config
configs/ac_cyclegan_thigh_cpu_fidelity.py`` adds the optional fidelity term on F (``mmac.losses.fidelity``, not in
the paper; docs/science.md).
``--preset gpu`` runs both ends of the cohort map at 128 px (the default phantom and independent slices, phantom
seeds 3 and 4, 5 folds x {L_C, L_AC} x w_c = 1 each: 40 runs packed onto one H100-class GPU, about 11 minutes
extrapolated, not yet run on a GPU), each cohort's report, then the map over them; ``--weights 0.25 0.5 1`` gives
Table 1's whole grid on each. ``--preset rehearsal`` is the GPU preset's chain at a tiny size, to check it on a CPU
in a few minutes.

The CPU cohort uses phantom seed 2 and the GPU preset's map the map's seeds 3 and 4: the CPU settings were chosen on
seed 0 (the development cohort) and the demo reports seed 1, so no preset scores a patient that took part in
choosing the settings.
"""
from __future__ import annotations

import json
import os.path as osp
from collections.abc import Callable
from dataclasses import dataclass, field

from mmac._validate import check_choice

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEFAULT_MAKEUP = dict(healthy=21, moderate=7, severe=13)


@dataclass(frozen=True)
class Preset:
    """One size of the protocol.

    Attributes:
        name: Preset name.
        config: Config path, relative to the repository.
        data_root: Cohort folder, relative to the working directory (made if missing).
        cohort: :func:`mmac.phantom.cohort.make_cohort` arguments of the cohort.
        weights: Values of w_c.
        repeats: Repetitions per setting and fold.
        iters: Training iterations per run.
        jobs: Runs at once; None: one per CPU core (at most 2) on CPUs, 8 per GPU on GPUs.
        num_folds: Patient-level folds, all tested.
        cfg_options: Further overrides.
        budget: What the preset is sized for, in words.
        points: ``(map point, cohort name, cohort)`` triples: when given, the preset runs its grid on each cohort
            (in ``data_root/<name>``, results in ``OUT/<name>``) and then the cohort map over them
            (:mod:`mmac.report.cohort_map`); ``cohort`` is then unused. Defaults to () (one cohort).
    """

    name: str
    config: str
    data_root: str
    cohort: dict[str, int]
    weights: tuple[float, ...]
    repeats: int
    iters: int
    jobs: int | None = None
    num_folds: int = 5
    cfg_options: dict[str, object] = field(default_factory=dict)
    budget: str = ''
    points: tuple[tuple[str, str, dict], ...] = ()

    @property
    def config_path(self) -> str:
        return osp.join(REPO, self.config)

    def options(self) -> dict[str, object]:
        """``--cfg-options`` of the preset: its cohort as ``data_root``, its folds, its overrides."""
        options: dict[str, object] = {'data_root': osp.abspath(self.data_root)}
        for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
            options[f'{loader}.dataset.num_folds'] = self.num_folds
        options.update(self.cfg_options)
        return options


def map_points(makeup: dict, seeds=(3, 4)) -> tuple[tuple[str, str, dict], ...]:
    """Both ends of the cohort map (docs/results.md) for ``makeup``: the default phantom, where slices of a subject
    follow one anatomy along z, and independent slices, each phantom seed of ``seeds``."""
    ends = (('default phantom', 'default', {}), ('independent slices', 'independent',
                                                 {'variation': {'independent_slices': True}}))
    return tuple((point, f'{name}_s{seed}', dict(makeup, seed=seed, **extra))
                 for point, name, extra in ends for seed in seeds)


PRESETS: dict[str, Preset] = {
    'cpu': Preset(
        name='cpu', config='configs/ac_cyclegan_thigh_cpu.py', data_root='data/protocol_cpu',
        cohort=dict(DEFAULT_MAKEUP, size=64, slices=53, seed=2), weights=(1.0,), repeats=2, iters=900,
        budget='20 runs, 21 min measured on 2 idle CPU cores (33 min with other jobs)'),
    'gpu': Preset(
        name='gpu', config='configs/ac_cyclegan_thigh_gpu.py', data_root='data/protocol_gpu',
        cohort=dict(DEFAULT_MAKEUP, size=128, slices=53, seed=2), weights=(1.0,), repeats=1, iters=2000,
        points=map_points(dict(DEFAULT_MAKEUP, size=128, slices=53), seeds=(3, 4)),
        budget='40 runs packed 8 per GPU (both ends of the cohort map, 2 phantom seeds each), about 11 min on '
               'one H100-class GPU with --fast (extrapolated from 30 runs in 8 min; not yet run on a GPU)'),
    'rehearsal': Preset(
        name='rehearsal', config='configs/ac_cyclegan_thigh_gpu.py', data_root='data/protocol_rehearsal',
        cohort=dict(healthy=5, moderate=2, severe=3, size=32, slices=6, seed=2), weights=(1.0,),
        points=map_points(dict(healthy=5, moderate=2, severe=3, size=32, slices=6), seeds=(3,)),
        repeats=1, iters=4, num_folds=2,
        cfg_options={'train_dataloader.dataset.size': 32, 'val_dataloader.dataset.size': 32,
                     'test_dataloader.dataset.size': 32, 'model.generator.num_down': 5,
                     'model.generator.base_channels': 4, 'model.discriminator.base_channels': 4,
                     'model.discriminator.num_conv': 1},
        budget='8 tiny runs on 2 tiny cohorts: the GPU preset\'s chain (runs, reports, map) on a CPU in a few minutes'),
}


def get_preset(name: str) -> Preset:
    """The preset called ``name``.

    Raises:
        ValueError: Unknown name (the message lists the presets).
    """
    return PRESETS[check_choice(name, PRESETS, 'preset')]


def ensure_cohort(data_dir: str, cohort: dict[str, int], workers: int = 2, log: Callable = print) -> str:
    """Generate the synthetic cohort ``cohort`` in ``data_dir`` unless it is there; return the manifest path.

    The generation settings are kept in ``cohort.json`` beside the manifest, so that a folder holding another
    cohort is never used in its place.

    Raises:
        ValueError: ``data_dir`` holds a cohort made with other settings, or one of unknown origin.
    """
    from mmac.fileio import write_json_atomic
    from mmac.phantom.cohort import make_cohort

    manifest = osp.join(data_dir, 'manifest.csv')
    settings = osp.join(data_dir, 'cohort.json')
    if osp.isfile(manifest):
        found = None
        if osp.isfile(settings):
            with open(settings) as f:
                found = json.load(f)
        if found != dict(cohort):
            raise ValueError(f"{data_dir} holds a cohort made with {found or 'unknown settings'}, not {dict(cohort)}; "
                             "delete the folder or choose another one")
        log(f'cohort: using {manifest}')
        return manifest
    log(f'cohort: generating a synthetic cohort in {data_dir} ({dict(cohort)})')
    path = str(make_cohort(data_dir, progress=True, workers=workers, **cohort))
    write_json_atomic(settings, dict(cohort))
    return path
