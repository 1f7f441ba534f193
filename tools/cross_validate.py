"""The paper's protocol: loss {L_C, L_AC} x w_c x 5 patient-level folds x R repetitions, train + test each run.

    python tools/cross_validate.py --out work_dirs/cv [--config configs/ac_cyclegan_thigh.py]
        [--losses L_C L_AC] [--weights 0.25 0.5 1] [--folds 0 1 2 3 4] [--repeats 8 | --repetitions 1 2]
        [--iters N | --epochs E] [--jobs J] [--gpus 0 1] [--fast] [--cfg-options KEY=VALUE ...]
    python tools/cross_validate.py --preset cpu|gpu|rehearsal [--out DIR] [any option above]

Writes OUT/results.csv (one row per test slice and run, every finished run of OUT made with the same settings);
rerunning the same command skips finished runs and restarts interrupted ones. Then: python tools/report.py OUT

{fold} in a --cfg-options value becomes each run's test fold, so one call can start every fold from its own
checkpoint (load_from=starts/truth_f{fold}.pth, as tools/oracle_start.py --folds writes them).

The same command with --rescore trains nothing: it tests every finished run's checkpoint again with the current
evaluation (for runs made before a score was added) and rewrites the results (and the report, with --preset).

A preset (mmac.protocol.presets) fixes the cohort (made if missing), config, grid and schedule of one size of the
paper's protocol, trains with --fast, and writes the report at the end; options given beside it override it:
  cpu        5 folds x {L_C, L_AC} x w_c=1 x 2 repetitions, 64 px, with the fidelity term, 21-33 min on 2 CPU cores
  gpu        both ends of the cohort map at 128 px: the default phantom and independent slices, phantom seeds
             3 and 4, 5 folds x {L_C, L_AC} x w_c=1 each (40 runs), each cohort's report, then OUT/map
  rehearsal  the gpu preset's chain at a tiny size, to check it on a CPU
"""
import argparse
import sys

from mmac.protocol.grid import PAPER_LOSSES, REFERENCE, make_grid
from mmac.protocol.runs import (
    check_fold_data,
    check_fold_files,
    check_losses,
    pending_runs,
    rescore_grid,
    run_grid,
    run_settings,
)
from mmac.runner.launch import parse_cfg_options


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--preset', choices=['cpu', 'gpu', 'rehearsal'], default=None,
                   help='one size of the protocol (see above); other options override it')
    p.add_argument('--out', default=None, help='output folder (results.csv, runs/); required without --preset '
                   '(default there: work_dirs/protocol_<preset>)')
    p.add_argument('--config', default=None,
                   help='config to start from; its cycle loss is replaced per run (default '
                   'configs/ac_cyclegan_thigh.py)')
    p.add_argument('--losses', nargs='+', default=list(PAPER_LOSSES), metavar='LOSS',
                   help="cycle losses to run (default: L_C L_AC): the paper's, a name in the config's "
                        "cycle_losses, or a cycle loss type registered in MODELS (e.g. from the config's "
                        "custom_imports)")
    p.add_argument('--reference', default=REFERENCE,
                   help="the loss every other one is compared against in the report (default L_C)")
    p.add_argument('--weights', nargs='+', type=float, default=None, help='values of w_c (default 0.25 0.5 1)')
    p.add_argument('--folds', nargs='+', type=int, default=None,
                   help='test folds to run (default: all folds of the config, 0..num_folds-1)')
    repeats = p.add_mutually_exclusive_group()
    repeats.add_argument('--repeats', type=int, default=None,
                         help='repetitions per setting and fold: 0..N-1 (default 8)')
    repeats.add_argument('--repetitions', nargs='+', type=int, default=None, metavar='R',
                         help='run only these repetitions, e.g. 1 for a second training seed beside a finished '
                              'repetition 0 (each sets the training seed as in a full grid); the finished runs '
                              'of OUT made with the same settings stay in results.csv')
    schedule = p.add_mutually_exclusive_group()
    schedule.add_argument('--iters', type=int, help='training iterations per run')
    schedule.add_argument('--epochs', type=float, help='training epochs per run (of the run\'s training set)')
    p.add_argument('--jobs', type=int, default=None,
                   help='runs at once (default: 1 on CPU, 2 per GPU on GPUs); >1 runs each in a subprocess')
    p.add_argument('--gpus', nargs='+', type=int, default=None, help='CUDA devices to use (default: all)')
    p.add_argument('--cfg-options', nargs='+', metavar='KEY=VALUE',
                   help="overrides for every run; {fold} in a value becomes the run's fold, e.g. "
                        "load_from=starts/truth_f{fold}.pth (each fold's file is checked before any run starts)")
    p.add_argument('--fast', action='store_true',
                   help='fast training iteration in every run (CUDA graph on GPUs), as tools/train.py --fast')
    p.add_argument('--rescore', action='store_true',
                   help='train nothing: test the finished runs of OUT again with the current evaluation and '
                        'rewrite results.csv (give the options the runs were made with)')
    p.add_argument('--no-progress', action='store_true',
                   help="no progress bars (over the runs, and the report's with --preset)")
    args = p.parse_args(argv)
    for name in ('repeats', 'jobs', 'iters'):
        value = getattr(args, name)
        if value is not None and value < 1:
            p.error(f"--{name} must be >= 1, got {value}")
    if args.repetitions is not None and min(args.repetitions) < 0:
        p.error(f"--repetitions must be >= 0, got {args.repetitions}")
    if args.epochs is not None and not args.epochs > 0:
        p.error(f"--epochs must be > 0, got {args.epochs}")
    if args.out is None and args.preset is None:
        p.error("--out is required without --preset")
    return args


def apply_preset(args) -> dict:
    """Fill the options left unset from ``args.preset`` (or the plain defaults); return the preset's overrides."""
    if args.preset is None:
        args.config = args.config or 'configs/ac_cyclegan_thigh.py'
        args.weights = args.weights or [0.25, 0.5, 1.0]
        args.repeats = args.repeats or 8
        return {}
    from mmac.protocol.presets import get_preset

    preset = get_preset(args.preset)
    args.out = args.out or f'work_dirs/protocol_{preset.name}'
    args.config = args.config or preset.config_path
    args.weights = args.weights or list(preset.weights)
    args.repeats = args.repeats or preset.repeats
    if args.iters is None and args.epochs is None:
        args.iters = preset.iters
    args.fast = True
    return preset.options()


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.preset is not None:
        from mmac.protocol.presets import get_preset

        preset = get_preset(args.preset)
        if preset.points:
            return run_map_preset(args, preset)
    return run_protocol(args)


def run_map_preset(args, preset) -> int:
    """A preset over several cohorts (points of the cohort map): each cohort's protocol and report into
    ``OUT/<cohort>``, then the map of L_AC - L_C over them into ``OUT/map`` (tools/cohort_map.py)."""
    import os.path as osp

    out = args.out or f'work_dirs/protocol_{preset.name}'
    points: dict[str, list] = {}
    for point, name, cohort in preset.points:
        print(f'== {preset.name}: {point}, cohort {name} ==')
        sub = argparse.Namespace(**vars(args))
        sub.out = osp.join(out, name)
        rc = run_protocol(sub, cohort=cohort, data_root=osp.join(preset.data_root, name))
        if rc:
            return rc
        points.setdefault(point, []).append(dict(seed=cohort['seed'], loss_dir=osp.abspath(sub.out)))
    from mmac.fileio import write_json_atomic
    from mmac.report.cohort_map import cohort_map, read_spec, write_map

    # The spec is kept beside the runs, so tools/cohort_map.py can redo the map (e.g. with --coverage).
    spec_path = osp.join(out, 'map_spec.json')
    write_json_atomic(spec_path, dict(points=[dict(name=p, cohorts=c) for p, c in points.items()]))
    options, spec = read_spec(spec_path)
    table, patients = cohort_map(spec, **options)
    print(write_map(table, patients, osp.join(out, 'map'), source=spec_path, **options))
    return 0

def run_protocol(args, cohort: dict | None = None, data_root: str | None = None) -> int:
    """One protocol: the grid of ``args`` on one cohort (the preset's, or ``cohort`` in ``data_root``)."""
    from mmac._cpu import available_cpus
    from mmac.protocol.runs import visible_gpus
    from mmac.runner.launch import cli_error, load_config

    try:
        cfg_options = dict(apply_preset(args), **parse_cfg_options(args.cfg_options))
        if args.preset is not None:
            import os.path as osp

            from mmac.protocol.presets import ensure_cohort, get_preset

            if data_root is not None:
                cfg_options['data_root'] = osp.abspath(data_root)
            ensure_cohort(cfg_options['data_root'], cohort or get_preset(args.preset).cohort,
                          workers=min(2, available_cpus()))
        base = load_config(args.config, cfg_options=cfg_options)
        num_folds = base.train_dataloader.dataset.num_folds
        folds = range(num_folds) if args.folds is None else args.folds
        bad = [f for f in folds if not 0 <= f < num_folds]
        if bad:
            raise ValueError(f"--folds {bad} outside [0, {num_folds}): the config {args.config} has "
                             f"num_folds={num_folds}")
        specs = make_grid(args.losses, args.weights, folds, args.repeats, repetitions=args.repetitions)
        check_losses(base, args.losses)
        todo = pending_runs(args.config, specs, args.out, iters=args.iters, epochs=args.epochs,
                            cfg_options=cfg_options or None)
        if args.rescore:
            path = rescore_grid(args.out, specs, progress=not args.no_progress,
                                settings=run_settings(args.config, args.iters, args.epochs, cfg_options or None))
        else:
            check_fold_files(cfg_options, [spec.fold for spec in todo])
            check_fold_data(args.config, [spec.fold for spec in todo], cfg_options or None)  # one error line
    except (FileNotFoundError, ValueError) as exc:
        return cli_error(exc)
    if not args.rescore:
        gpus = visible_gpus() if args.gpus is None else args.gpus
        jobs = args.jobs
        if jobs is None:
            jobs = ((8 if args.preset else 2) * len(gpus) if gpus
                    else (min(2, available_cpus()) if args.preset else 1))
        path = run_grid(args.config, specs, args.out, iters=args.iters, epochs=args.epochs,
                        cfg_options=cfg_options or None, jobs=jobs, gpus=gpus, progress=not args.no_progress,
                        fast=args.fast, check_folds=False)
    print(f'results: {path}')
    if args.preset is None:
        print(f'report:  python tools/report.py {args.out}')
        return 0
    from mmac.report import make_report

    result = make_report(args.out, progress=not args.no_progress, reference=args.reference)
    print(result['files']['summary.md'].read_text())
    print(f"report:  {result['files']['report.md']}")
    return 0


if __name__ == '__main__':
    from mmac._compat import quiet_third_party_warnings

    quiet_third_party_warnings()
    sys.exit(main())
