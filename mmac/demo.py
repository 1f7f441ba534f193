"""The README's main job: synthetic cohort -> train L_AC and L_C (the paper's losses) -> test -> report, on a CPU.

Sized for a 2-core CPU (under 10 minutes): a small 64 x 64 cohort (20 healthy, 8 moderate, 12 severe subjects
of 12 slices), two patient-level folds, both tested, so that every pathological patient is scored and L_AC - L_C
is measured on two paired units; one training seed per call (``--seed``). Runs use the fast iteration (batched
network calls, eager on a CPU) and go through the same code as the full protocol
(:func:`mmac.protocol.runs.run_grid` with ``configs/ac_cyclegan_thigh_cpu.py``, then :func:`make_report`), so
rerunning it skips what is finished.

The paper's runs train its losses with nothing added; beside them, unless ``variant=False``, the variant beyond
the paper that passed L_C on the map (:data:`VARIANT_LOSS` with :data:`VARIANT_CONFIG`) trains on the same folds
and seed. The cohort is one point of the cohort map (docs/results.md): :data:`COHORT` says which, and the summary
ends with the map's headline (``docs/map/map.csv``), so that the demo's one cohort is read beside the seeds and
settings that decide the sign; with two seeds or more in one folder it also says whether each sign held.
:func:`demo_cohort` (``tools/demo.py --phantom-seed S --subjects H M S --slices N``) runs the same design on
another cohort, to see whether what the demo shows holds on cohorts it was not chosen on.
``config=`` (``tools/demo.py --config configs/ac_cyclegan_thigh_cpu_fidelity.py``) trains with the optional
fidelity term instead (not in the paper; :mod:`mmac.losses.fidelity`).
"""
from __future__ import annotations

import glob
import json
import os.path as osp
from collections.abc import Sequence

from mmac._cpu import available_cpus
from mmac._validate import check_int, check_real

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIG = osp.join(REPO, 'configs', 'ac_cyclegan_thigh_cpu.py')
MAP = osp.join(REPO, 'docs', 'map', 'map.csv')
# The demo's cohort: the default phantom, 40 subjects of 12 slices (as many slices as 20 x 24). Its seed (1)
# differs from the development cohort (seed 0) on which the CPU training settings were chosen, and from phantom
# seed 7, on which this make-up was chosen (paper's losses, training seeds 0-2, L_AC - L_C per seed, severe:
# 40 x 12 -0.021, -0.046, -0.019, L_C ahead in all six folds; 80 x 6 -0.040, -0.078, +0.005), so the demo's
# table reports patients that took no part in either choice.
COHORT = dict(healthy=20, moderate=8, severe=12, size=64, slices=12, seed=1)
FOLDS = (0, 1)  # two patient-level folds, both tested: every pathological patient of the cohort is scored
# Beyond the paper, trained beside the paper's losses unless ``variant=False`` (``tools/demo.py --no-variant``):
# augmented CycleGAN's cycles with the code cycle, the change measured ahead of L_C on the map's default phantom
# (docs/results.md, Result 3). Its runs share the paper runs' folds and training seeds: each fold pairs the three.
VARIANT_LOSS = 'L_AUG'
VARIANT_CONFIG = osp.join(REPO, 'configs', 'ac_cyclegan_thigh_cpu_augmented_codecycle.py')


def demo_cohort(phantom_seed: int | None = None, subjects: Sequence[int] | None = None,
                slices: int | None = None) -> dict:
    """The demo's cohort (:data:`COHORT`) with another phantom seed, make-up or number of slices.

    The demo's design (two patient-level folds, both tested) is then run on another point of the map, e.g. to see
    whether the sign of L_AC - L_C it shows holds on cohorts it was not chosen on
    (``tools/demo.py --phantom-seed 8``).

    Args:
        phantom_seed: Cohort seed (>= 0). Defaults to :data:`COHORT`'s.
        subjects: ``(healthy, moderate, severe)`` subject counts: at least 2 healthy and 2 severe (each fold
            trains on healthy subjects and tests a severe one), moderate >= 0. Defaults to :data:`COHORT`'s.
        slices: Slices per subject (>= 1). Defaults to :data:`COHORT`'s.

    Returns:
        The cohort's settings, as :data:`COHORT` (the keyword arguments of
        :func:`mmac.phantom.cohort.make_cohort`).

    Raises:
        TypeError: A value that is not an integer (bools are not), or ``subjects`` not a sequence of three.
        ValueError: A value below its minimum.
    """
    cohort = dict(COHORT)
    if phantom_seed is not None:
        cohort['seed'] = check_int(phantom_seed, 'phantom seed', minimum=0)
    if subjects is not None:
        if isinstance(subjects, (str, bytes)) or not isinstance(subjects, Sequence) or len(subjects) != 3:
            raise TypeError(f"subjects must be three counts (healthy, moderate, severe), got {subjects!r}")
        for name, value, minimum in zip(('healthy', 'moderate', 'severe'), subjects, (2, 0, 2), strict=True):
            cohort[name] = check_int(value, f'{name} subjects', minimum=minimum)
    if slices is not None:
        cohort['slices'] = check_int(slices, 'slices', minimum=1)
    return cohort


def cohort_tag(cohort: dict) -> str:
    """A short folder-name tag of a demo cohort, e.g. ``p8_20-8-12x12`` (phantom seed 8, 20 healthy, 8 moderate,
    12 severe subjects of 12 slices); empty for :data:`COHORT` itself, whose folders keep their plain names."""
    if cohort == COHORT:
        return ''
    return f"p{cohort['seed']}_{cohort['healthy']}-{cohort['moderate']}-{cohort['severe']}x{cohort['slices']}"


def ensure_cohort(data_dir: str, workers: int = 2, log=print, cohort: dict | None = None) -> str:
    """Generate the demo cohort (``cohort``, default :data:`COHORT`) in ``data_dir`` unless it is there
    (:func:`mmac.protocol.presets.ensure_cohort`, which refuses a folder holding another cohort)."""
    from mmac.protocol.presets import ensure_cohort as ensure

    return ensure(data_dir, COHORT if cohort is None else cohort, workers=workers, log=log)


def demo_options(data_dir: str) -> dict:
    """``--cfg-options`` pointing the CPU config at the demo cohort with two patient-level folds."""
    options = {'data_root': osp.abspath(data_dir)}
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        options[f'{loader}.dataset.num_folds'] = len(FOLDS)
    return options


def demo_runs(losses: Sequence[str] = ('L_AC', 'L_C'), seed: int = 0, weight: float = 1.0) -> list:
    """The demo's runs: each loss at w_c = ``weight`` (default 1) on both folds, with training seeds from ``seed``.

    ``seed`` is the repetition index of :class:`~mmac.protocol.grid.RunSpec` (training seed
    ``1000 * seed + fold``); both losses of a fold share it, so each fold is a paired unit.

    Raises:
        TypeError: ``seed`` not an integer, or ``weight`` not a real number (bools are neither).
        ValueError: ``seed`` < 0, or ``weight`` not a finite number > 0.
    """
    from mmac.protocol.grid import RunSpec

    seed = check_int(seed, "seed", minimum=0)
    weight = check_real(weight, "weight (w_c)", minimum=0.0, exclusive_minimum=True)
    return [RunSpec(loss, weight, fold, seed) for fold in FOLDS for loss in losses]


def run_demo(out_dir: str = 'work_dirs/demo', data_dir: str = 'data/demo_cohort', iters: int | None = None,
             losses: Sequence[str] = ('L_AC', 'L_C'), seed: int = 0, jobs: int | None = None, log=print,
             rescore: bool = False, config: str = CONFIG, weight: float = 1.0, variant: bool = True,
             cohort: dict | None = None) -> dict:
    """Run the main job; returns :func:`mmac.report.make_report`'s result (paths of the report files).

    Seeds run into the same ``out_dir`` are pooled: ``results.csv`` and the report cover every seed whose runs
    have finished there, so the spread of L_AC - L_C is then over 2 folds x the seeds.

    Args:
        out_dir: Runs, ``results.csv`` and ``report/``.
        data_dir: The demo cohort (made if missing).
        iters: Training iterations per run. Defaults to the CPU config's.
        losses: Losses to train. Defaults to both.
        seed: Training seed (repetition index). Defaults to 0.
        jobs: Runs at once. Defaults to one per core, at most 2.
        rescore: Train nothing: test every finished seed's runs in ``out_dir`` again with the current evaluation
            (:func:`mmac.protocol.runs.rescore_grid`), then write the report. ``seed``, ``iters`` and ``jobs``
            are then not used. Defaults to False.
        config: The config every run trains with (the demo's cohort and folds are set over it). Defaults to
            ``configs/ac_cyclegan_thigh_cpu.py`` (the paper's losses alone);
            ``configs/ac_cyclegan_thigh_cpu_fidelity.py`` adds the optional fidelity term.
        weight: The cycle weight w_c of both losses. Defaults to 1 (the paper's grid is 0.25, 0.5, 1; a
            weight of 4 is measured in docs/science.md).
        variant: Also train :data:`VARIANT_LOSS` with :data:`VARIANT_CONFIG` on the same folds and seed (beyond
            the paper; its own config, whatever ``config`` says; 2 min 40 s more per seed on 2 cores); the report
            then compares it with L_C too. With ``rescore``, the variant runs already finished in ``out_dir`` are
            tested again whatever this says. Defaults to True.
        cohort: The cohort's settings (:func:`demo_cohort`); ``data_dir`` must hold this cohort or nothing.
            Defaults to :data:`COHORT`.

    Raises:
        FileNotFoundError: ``rescore`` and no finished run in ``out_dir``.
        TypeError, ValueError: A bad ``seed`` or ``weight`` (see :func:`demo_runs`), raised before the cohort is
            made or anything is written.
    """
    from mmac.protocol.runs import rescore_grid, run_grid

    cpus = available_cpus()
    specs = demo_runs(losses, seed, weight)  # validates seed and weight before anything is made
    cohort = COHORT if cohort is None else cohort
    if rescore:
        specs = finished_runs(out_dir, losses, weight)
        if not specs:
            raise FileNotFoundError(f"{out_dir} holds no finished demo run to rescore")
        ensure_cohort(data_dir, workers=min(2, cpus), log=log, cohort=cohort)
        rescore_grid(out_dir, specs, progress=False, log=log)
        return _report(out_dir, specs, cohort)
    ensure_cohort(data_dir, workers=min(2, cpus), log=log, cohort=cohort)
    jobs = min(2, cpus) if jobs is None else jobs
    plan = [(config, specs)]
    if variant:
        plan.append((VARIANT_CONFIG, demo_runs((VARIANT_LOSS,), seed, weight)))

    for run_config, run_specs in plan:
        log(f'training and testing {len(run_specs)} runs ({jobs} at once) with {osp.basename(run_config)}: '
            f'{", ".join(s.name for s in run_specs)}')
        # collect=False: the demo writes results.csv of both grids itself (_report)
        run_grid(run_config, run_specs, out_dir, iters=iters, cfg_options=demo_options(data_dir), jobs=jobs,
                 log=log, fast=True, collect=False)
    seeds = finished_seeds(out_dir, losses, weight)
    if seeds != [seed]:
        log(f'the report pools the seeds finished in {out_dir}: {seeds}')
    return _report(out_dir, finished_runs(out_dir, losses, weight), cohort)


def finished_runs(out_dir: str, losses: Sequence[str] = ('L_AC', 'L_C'), weight: float = 1.0) -> list:
    """The runs the report covers: every seed finished with all ``losses`` (:func:`finished_seeds`), and the
    variant's runs of those seeds where both of its folds have finished too."""
    seeds = finished_seeds(out_dir, losses, weight)
    with_variant = set(finished_seeds(out_dir, (VARIANT_LOSS,), weight))
    return ([spec for s in seeds for spec in demo_runs(losses, s, weight)]
            + [spec for s in seeds if s in with_variant for spec in demo_runs((VARIANT_LOSS,), s, weight)])


def _report(out_dir: str, specs: list, cohort: dict) -> dict:
    """``results.csv`` of ``specs``, the report, and the summary's variant note and map headline."""
    from mmac.protocol.runs import collect_results
    from mmac.report import make_report

    collect_results(out_dir, specs)
    result = make_report(out_dir)
    summary = result['files']['summary.md']
    if any(spec.loss == VARIANT_LOSS for spec in specs):
        append_variant_note(summary, cohort)
    append_map_headline(summary, cohort=cohort)
    return result


def map_headline(path: str = MAP) -> str:
    """The cohort map's pooled rows as a short markdown table (empty when ``path`` does not exist).

    Args:
        path: A ``map.csv`` written by ``tools/cohort_map.py``. Defaults to the committed ``docs/map/map.csv``.
    """
    if not osp.isfile(path):
        return ''
    import pandas as pd

    table = pd.read_csv(path)
    pooled = table[table['seed'].astype(str) == 'pooled']
    seeds = table[table['seed'].astype(str) != 'pooled'].groupby('point', sort=False)['seed'].apply(
        lambda s: ', '.join(str(v) for v in s))
    lines = ['| cohort setting (map point) | phantom seeds | severe patients | L_AC - L_C (or the pair the point '
             'names) per patient (95 % CI) '
             '| over seeds (95 % t) |', '|---|---|---|---|---|']
    for row in pooled.itertuples(index=False):
        over = ('' if pd.isna(getattr(row, 'seeds_low', float('nan'))) else
                f"{row.seeds_mean:+.4f} ({row.seeds_low:+.4f} to {row.seeds_high:+.4f})")
        lines.append(f"| {row.point} | {seeds.get(row.point, '')} | {row.patients} | {row.shift:+.4f} "
                     f"({row.ci_low:+.4f} to {row.ci_high:+.4f}) | {over} |")
    return '\n'.join(lines)


def append_map_headline(summary, path: str = MAP, cohort: dict | None = None) -> None:
    """Append where the demo's cohort sits and the map's headline to the report's ``summary.md``."""
    table = map_headline(path)
    if not table:
        return
    cohort = COHORT if cohort is None else cohort
    variation = cohort.get('variation') or {}
    setting = ', '.join(f'{k}={v}' for k, v in variation.items()) or 'the default phantom (13 muscles, slices along z)'
    text = (f"\n## Where this cohort sits on the cohort map\n\nThe demo's cohort: {setting}; "
            f"{cohort['healthy']} healthy, {cohort['moderate']} moderate, {cohort['severe']} severe subjects of "
            f"{cohort['slices']} slices, phantom seed {cohort['seed']} (the map's 'subjects x slices' points show how "
            "the number of distinct subjects moves the difference). One cohort decides nothing: the map "
            "(CPU protocol, paper's losses, w_c = 1 unless a point says otherwise, 5 folds, each point on its own "
            "phantom seeds; docs/results.md, docs/map/map.png) says how L_AC - L_C moves with the cohort, and how "
            "sure:\n\n" + table + "\n\nThis design (two folds, three training seeds) on other phantom seeds: "
            "docs/demo_map/map.md (`python tools/demo.py --phantom-seed S --seed R` runs it on another).\n")
    with open(summary, 'a') as f:
        f.write(text)


def append_variant_note(summary, cohort: dict | None = None) -> None:
    """Append what the variant's rows (:data:`VARIANT_LOSS`) are to the report's ``summary.md`` (``cohort``: the
    demo's cohort, default :data:`COHORT`)."""
    cohort = COHORT if cohort is None else cohort
    text = (f"\n## {VARIANT_LOSS}: beyond the paper\n\n{VARIANT_LOSS} is not one of the paper's losses: augmented "
            "CycleGAN's cycles (G draws the pathology from a code that an encoder reads off a patient's slice, "
            "and the healthy cycle runs through it) with the code cycle (G's fakes must give their code back), "
            f"`{osp.relpath(VARIANT_CONFIG, REPO)}`. No term ties F(x) to x. Its runs share the paper runs' folds "
            "and training seeds. On the map's default phantom (CPU protocol, phantom seeds 3-5, 39 severe "
            "patients) it is the one change measured ahead of L_C (the map's 'code cycle' rows below); "
            f"with {cohort['severe']} severe patients, one seed here can hardly test a lead of that size; the "
            "seeds pooled in one folder can (the per-seed section above says how sure).\n")
    with open(summary, 'a') as f:
        f.write(text)


def finished_seeds(out_dir: str, losses: Sequence[str] = ('L_AC', 'L_C'), weight: float = 1.0) -> list:
    """Seeds whose demo runs (every loss, both folds, at w_c = ``weight``) have finished in ``out_dir``."""
    from mmac.protocol.runs import read_done

    candidates = set()
    for path in glob.glob(osp.join(out_dir, 'runs', '*', 'DONE')):
        with open(path) as f:
            candidates.add(json.load(f).get('repetition'))
    return sorted(s for s in candidates if isinstance(s, int)
                  and all(read_done(out_dir, spec) for spec in demo_runs(losses, s, weight)))
