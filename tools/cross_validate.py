"""The paper's protocol: loss {L_C, L_AC} x w_c x 5 patient-level folds x R repetitions, train + test each run.

    python tools/cross_validate.py --out work_dirs/cv [--config configs/ac_cyclegan_thigh.py]
        [--losses L_C L_AC] [--weights 0.25 0.5 1] [--folds 0 1 2 3 4] [--repeats 8]
        [--iters N | --epochs E] [--jobs J] [--gpus 0 1] [--fast] [--cfg-options KEY=VALUE ...]

Writes OUT/results.csv (one row per test slice and run); rerunning the same command skips finished runs and
restarts interrupted ones. Then: python tools/report.py OUT
"""
import argparse
import sys

from mmac.engine.launch import parse_cfg_options
from mmac.protocol.grid import LOSSES, make_grid
from mmac.protocol.runs import pending_runs, run_grid


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--out', required=True, help='output folder (results.csv, runs/)')
    p.add_argument('--config', default='configs/ac_cyclegan_thigh.py',
                   help='config to start from; its cycle loss is replaced per run')
    p.add_argument('--losses', nargs='+', default=list(LOSSES), choices=list(LOSSES))
    p.add_argument('--weights', nargs='+', type=float, default=[0.25, 0.5, 1.0], help='values of w_c')
    p.add_argument('--folds', nargs='+', type=int, default=None,
                   help='test folds to run (default: all folds of the config, 0..num_folds-1)')
    p.add_argument('--repeats', type=int, default=8, help='repetitions per setting and fold')
    schedule = p.add_mutually_exclusive_group()
    schedule.add_argument('--iters', type=int, help='training iterations per run')
    schedule.add_argument('--epochs', type=float, help='training epochs per run (of the run\'s training set)')
    p.add_argument('--jobs', type=int, default=None,
                   help='runs at once (default: 1 on CPU, 2 per GPU on GPUs); >1 runs each in a subprocess')
    p.add_argument('--gpus', nargs='+', type=int, default=None, help='CUDA devices to use (default: all)')
    p.add_argument('--cfg-options', nargs='+', metavar='KEY=VALUE', help='overrides for every run')
    p.add_argument('--fast', action='store_true',
                   help='fast training iteration in every run (CUDA graph on GPUs), as tools/train.py --fast')
    p.add_argument('--no-progress', action='store_true')
    args = p.parse_args(argv)
    for name in ('repeats', 'jobs', 'iters'):
        value = getattr(args, name)
        if value is not None and value < 1:
            p.error(f"--{name} must be >= 1, got {value}")
    if args.epochs is not None and not args.epochs > 0:
        p.error(f"--epochs must be > 0, got {args.epochs}")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    from mmac.engine.launch import cli_error, load_config
    from mmac.protocol.runs import visible_gpus

    try:
        cfg_options = parse_cfg_options(args.cfg_options)
        base = load_config(args.config, cfg_options=cfg_options)
        num_folds = base.train_dataloader.dataset.num_folds
        folds = range(num_folds) if args.folds is None else args.folds
        bad = [f for f in folds if not 0 <= f < num_folds]
        if bad:
            raise ValueError(f"--folds {bad} outside [0, {num_folds}): the config {args.config} has "
                             f"num_folds={num_folds}")
        specs = make_grid(args.losses, args.weights, folds, args.repeats)
        pending_runs(args.config, specs, args.out, iters=args.iters, epochs=args.epochs,
                     cfg_options=cfg_options or None)
    except (FileNotFoundError, ValueError) as exc:
        return cli_error(exc)
    gpus = visible_gpus() if args.gpus is None else args.gpus
    jobs = args.jobs if args.jobs is not None else (2 * len(gpus) if gpus else 1)
    path = run_grid(args.config, specs, args.out, iters=args.iters, epochs=args.epochs,
                    cfg_options=cfg_options or None, jobs=jobs, gpus=gpus, progress=not args.no_progress,
                    fast=args.fast)
    print(f'results: {path}\nreport:  python tools/report.py {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
