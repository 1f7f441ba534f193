"""Test a checkpoint: python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--cfg-options ...]"""
import argparse

from mmac.engine.launch import LAUNCHERS, build_runner, load_config, parse_cfg_options, set_local_rank


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', help='checkpoint file (.pth)')
    parser.add_argument('--work-dir', help='directory for logs and per-patient results')
    parser.add_argument('--amp', action='store_true', help='bf16 autocast during inference')
    parser.add_argument('--cfg-options', nargs='+', metavar='KEY=VALUE', help='override config entries')
    parser.add_argument('--launcher', choices=LAUNCHERS, default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=None, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    set_local_rank(args.local_rank)
    cfg = load_config(args.config, work_dir=args.work_dir, cfg_options=parse_cfg_options(args.cfg_options),
                      launcher=args.launcher, amp=args.amp, load_from=args.checkpoint)
    build_runner(cfg).test()


if __name__ == '__main__':
    main()
