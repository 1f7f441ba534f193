"""The README's main job: synthetic cohort -> train L_AC (and the L_C baseline) -> test -> report, on a CPU.

Sized for a 2-core CPU (about 10 minutes): a small 64 x 64 cohort, two patient-level folds of which the first is
tested, one repetition. Everything goes through the same code as the full protocol
(:func:`mmac.protocol.runs.run_grid` with ``configs/ac_cyclegan_thigh_cpu.py``, then :func:`make_report`), so
rerunning it skips what is finished.
"""
from __future__ import annotations

import os.path as osp
from typing import Sequence

from mmac._cpu import available_cpus

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIG = osp.join(REPO, 'configs', 'ac_cyclegan_thigh_cpu.py')
COHORT = dict(healthy=10, moderate=4, severe=6, size=64, slices=24, seed=0)


def ensure_cohort(data_dir: str, workers: int = 2, log=print) -> str:
    """Generate the demo cohort in ``data_dir`` unless its manifest exists; return the manifest path."""
    from mmac.phantom.cohort import make_cohort

    manifest = osp.join(data_dir, 'manifest.csv')
    if osp.isfile(manifest):
        log(f'cohort: using {manifest}')
        return manifest
    log(f'cohort: generating the synthetic demo cohort in {data_dir} ({COHORT})')
    return str(make_cohort(data_dir, progress=True, workers=workers, **COHORT))


def demo_options(data_dir: str) -> dict:
    """``--cfg-options`` pointing the CPU config at the demo cohort with two patient-level folds."""
    options = {'data_root': osp.abspath(data_dir)}
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        options[f'{loader}.dataset.num_folds'] = 2
    return options


def run_demo(out_dir: str = 'work_dirs/demo', data_dir: str = 'data/phantom_demo', iters: int = 900,
             losses: Sequence[str] = ('L_AC', 'L_C'), log=print) -> dict:
    """Run the main job; returns :func:`mmac.report.make_report`'s result (paths of the report files)."""
    from mmac.protocol.grid import make_grid
    from mmac.protocol.runs import run_grid
    from mmac.report import make_report

    ensure_cohort(data_dir, workers=min(2, available_cpus()), log=log)
    specs = make_grid(losses, [1.0], folds=[0], repeats=1)
    log(f'training and testing {len(specs)} runs of {iters} iterations: {", ".join(s.name for s in specs)}')
    run_grid(CONFIG, specs, out_dir, iters=iters, cfg_options=demo_options(data_dir), log=log)
    return make_report(out_dir)
