"""The README's main job (CPU, about 10 minutes): make the synthetic cohort if missing, train the default
asymmetric config and the symmetric baseline on it, test both, write the report.

    python tools/demo.py [--out work_dirs/demo] [--data data/phantom_demo] [--iters 900]
"""
import argparse
import os.path as osp

from mmac.demo import run_demo


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--out', default='work_dirs/demo', help='runs, results.csv and report/')
    parser.add_argument('--data', default='data/phantom_demo', help='demo cohort folder (made if missing)')
    parser.add_argument('--iters', type=int, default=900, help='training iterations per run')
    parser.add_argument('--losses', nargs='+', default=['L_AC', 'L_C'], choices=['L_AC', 'L_C'])
    args = parser.parse_args(argv)
    result = run_demo(args.out, args.data, iters=args.iters, losses=args.losses)
    report = osp.join(args.out, 'report', 'report.md')
    table = osp.join(args.out, 'report', 'table1.md')
    if osp.isfile(table):
        print(open(table).read())
    print(f'report: {report}')
    return result


if __name__ == '__main__':
    main()
