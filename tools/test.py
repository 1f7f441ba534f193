"""Test a checkpoint: python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--amp] [--cfg-options ...]"""
import argparse

from mmac.engine.launch import add_runner_args, build_runner, load_config, parse_cfg_options, set_local_rank


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', help='checkpoint file (.pth)')
    add_runner_args(parser)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    set_local_rank(args.local_rank)
    cfg = load_config(args.config, work_dir=args.work_dir, cfg_options=parse_cfg_options(args.cfg_options),
                      launcher=args.launcher, amp=args.amp, load_from=args.checkpoint)
    build_runner(cfg).test()


if __name__ == '__main__':
    main()
