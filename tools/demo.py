"""The README's main job (CPU, under 10 minutes): make the synthetic demo cohort if missing, train the paper's
asymmetric loss L_AC and symmetric loss L_C (nothing added) on both of its folds, and beside them the variant beyond
the paper (L_AUG: augmented cycles + code cycle; --no-variant leaves it out), test them, write the report.

    python tools/demo.py [--seed 0] [--out work_dirs/demo] [--data data/demo_cohort] [--iters N] [--jobs J]
                         [--config CONFIG] [--weight W_C] [--no-variant]
                         [--phantom-seed S] [--subjects HEALTHY MODERATE SEVERE] [--slices N]
    python tools/demo.py --rescore [--out work_dirs/demo]   # no training: re-test the finished runs, new report

Each --seed is a separate training seed; without --out, seed s > 0 writes to work_dirs/demo_seed<s>. Seeds run
into one --out folder are pooled in its report (e.g. --seed 1 --out work_dirs/demo after the default run).

--phantom-seed, --subjects and --slices run the same design on another cohort (default: 20 healthy, 8 moderate,
12 severe subjects of 12 slices, phantom seed 1); without --data and --out its folders are then named after it,
e.g. data/demo_cohort_p8_20-8-12x12 and work_dirs/demo_p8_20-8-12x12.
"""
import argparse
import os.path as osp
import sys


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--seed', type=int, default=0, help='training seed (repetition index), >= 0')
    parser.add_argument('--out', default=None, help='runs, results.csv and report/ (default '
                        'work_dirs/demo[_<cohort>][_seed<s>])')
    parser.add_argument('--data', default=None, help='demo cohort folder, made if missing (default '
                        'data/demo_cohort, or data/demo_cohort_<cohort> with --phantom-seed, --subjects, --slices)')
    parser.add_argument('--iters', type=int, default=None, help="training iterations per run (default: the CPU "
                        "config's)")
    parser.add_argument('--jobs', type=int, default=None, help='runs at once (default: one per core, at most 2)')
    parser.add_argument('--losses', nargs='+', default=['L_AC', 'L_C'], choices=['L_AC', 'L_C'])
    parser.add_argument('--config', default=None, help='config every run trains with (default: '
                        "configs/ac_cyclegan_thigh_cpu.py, the paper's losses alone; "
                        'configs/ac_cyclegan_thigh_cpu_fidelity.py adds the optional fidelity term)')
    parser.add_argument('--weight', type=float, default=1.0, help='cycle weight w_c of both losses (default 1)')
    parser.add_argument('--variant', action=argparse.BooleanOptionalAction, default=True,
                        help="also train the variant beyond the paper (augmented cycles + code cycle, L_AUG, "
                        "configs/ac_cyclegan_thigh_cpu_augmented_codecycle.py) on the same folds and seed, about "
                        "2 min 40 s more; --no-variant: the paper's losses only (default: --variant)")
    parser.add_argument('--phantom-seed', type=int, default=None, help="the cohort's seed (default 1)")
    parser.add_argument('--subjects', type=int, nargs=3, default=None, metavar=('HEALTHY', 'MODERATE', 'SEVERE'),
                        help='subjects per group (default 20 8 12; at least 2 healthy and 2 severe)')
    parser.add_argument('--slices', type=int, default=None, help='slices per subject (default 12)')
    parser.add_argument('--rescore', action='store_true', help='train nothing: test the finished runs of --out '
                        'again with the current evaluation and rewrite the report')
    args = parser.parse_args(argv)
    for name in ('seed', 'iters', 'jobs'):
        value = getattr(args, name)
        if value is not None and value < (0 if name == 'seed' else 1):
            parser.error(f"--{name} must be >= {0 if name == 'seed' else 1}, got {value}")
    if not args.weight > 0:
        parser.error(f"--weight must be > 0, got {args.weight}")
    if args.config is not None and not osp.isfile(args.config):
        parser.error(f"--config {args.config}: no such file")
    from mmac.demo import CONFIG, cohort_tag, demo_cohort, run_demo

    try:
        cohort = demo_cohort(args.phantom_seed, args.subjects, args.slices)
    except ValueError as exc:
        parser.error(str(exc))
    tag = cohort_tag(cohort)
    data = args.data or ('data/demo_cohort' + (f'_{tag}' if tag else ''))
    out = args.out or ('work_dirs/demo' + (f'_{tag}' if tag else '') + (f'_seed{args.seed}' if args.seed else ''))
    try:
        result = run_demo(out, data, iters=args.iters, losses=args.losses, seed=args.seed, jobs=args.jobs,
                          rescore=args.rescore, config=args.config or CONFIG, weight=args.weight,
                          variant=args.variant, cohort=cohort)
    except (FileNotFoundError, ValueError) as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 2
    summary = osp.join(out, 'report', 'summary.md')
    if osp.isfile(summary):
        with open(summary) as f:
            print(f.read())
    print(f"report: {osp.join(out, 'report', 'report.md')}")
    return 0 if result else 1


if __name__ == '__main__':
    from mmac._compat import quiet_third_party_warnings

    quiet_third_party_warnings()
    sys.exit(main())
