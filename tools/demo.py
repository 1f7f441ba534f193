"""The README's main job (CPU, under 10 minutes): make the synthetic demo cohort if missing, train the paper's
asymmetric loss L_AC and symmetric loss L_C (nothing added) on both of its folds, and beside them the variant beyond
the paper (L_AUG: augmented cycles + code cycle; --no-variant leaves it out), test them, write the report.

    python tools/demo.py [--seed 0] [--out work_dirs/demo] [--data data/demo_cohort] [--iters N] [--jobs J]
                         [--config CONFIG] [--weight W_C] [--no-variant]
    python tools/demo.py --rescore [--out work_dirs/demo]   # no training: re-test the finished runs, new report

Each --seed is a separate training seed; without --out, seed s > 0 writes to work_dirs/demo_seed<s>. Seeds run
into one --out folder are pooled in its report (e.g. --seed 1 --out work_dirs/demo after the default run).
"""
import argparse
import os.path as osp
import sys


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--seed', type=int, default=0, help='training seed (repetition index), >= 0')
    parser.add_argument('--out', default=None, help='runs, results.csv and report/ (default work_dirs/demo)')
    parser.add_argument('--data', default='data/demo_cohort', help='demo cohort folder (made if missing)')
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
    out = args.out or ('work_dirs/demo' if args.seed == 0 else f'work_dirs/demo_seed{args.seed}')
    from mmac.demo import CONFIG, run_demo

    try:
        result = run_demo(out, args.data, iters=args.iters, losses=args.losses, seed=args.seed, jobs=args.jobs,
                          rescore=args.rescore, config=args.config or CONFIG, weight=args.weight,
                          variant=args.variant)
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
