"""Train an mmac/mmagic config: python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]] [--amp] [--fast] ..."""
import argparse

from mmac.engine.launch import add_runner_args, build_runner, load_config, parse_cfg_options, set_local_rank


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('config', help='config file, e.g. configs/ac_cyclegan_thigh.py')
    parser.add_argument('--resume', nargs='?', const='auto', default=None,
                        help='resume from CKPT, or from the latest checkpoint in the work dir when no path is given')
    parser.add_argument('--fast', action='store_true',
                        help='fast training iteration: the whole iteration as one CUDA graph on a GPU (see README)')
    add_runner_args(parser)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    set_local_rank(args.local_rank)
    cfg = load_config(args.config, work_dir=args.work_dir, cfg_options=parse_cfg_options(args.cfg_options),
                      launcher=args.launcher, amp=args.amp, resume=args.resume,
                      fast=args.fast)
    build_runner(cfg).train()


if __name__ == '__main__':
    main()
