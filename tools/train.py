"""Train an mmac/mmagic config.

    python tools/train.py CONFIG [--work-dir DIR] [--resume | --resume-from CKPT] [--amp] [--fast]
        [--vis-backend tensorboard] [--cfg-options KEY=VALUE ...]
"""
import argparse
import sys

from mmac.runner.config_checks import preflight_checkpoint, preflight_datasets, preflight_training
from mmac.runner.launch import add_runner_args, cli_error, load_config, parse_cfg_options, set_local_rank


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config', help='config file, e.g. configs/ac_cyclegan_thigh.py')
    resume = parser.add_mutually_exclusive_group()
    resume.add_argument('--resume', action='store_true',
                        help='resume from the latest checkpoint in the work dir (a fresh start when there is none)')
    resume.add_argument('--resume-from', metavar='CKPT',
                        help='resume from this checkpoint (weights, optimizers, iteration and image pools)')
    parser.add_argument('--fast', action='store_true',
                        help='fast training iteration: the whole iteration as one CUDA graph on a GPU (see README)')
    add_runner_args(parser)
    # mmdetection's `--resume CKPT`: refused with the option that does it, not argparse's "unrecognized arguments"
    argv = sys.argv[1:] if argv is None else list(argv)
    ckpt = next((a.split('=', 1)[1] for a in argv if a.startswith('--resume=')), None)
    args, extra = parser.parse_known_args(argv) if ckpt is None else (None, [])
    if extra and '--resume' in argv:
        after = argv[argv.index('--resume') + 1:][:1] + extra
        ckpt = next((a for a in after if not a.startswith('-') and not a.endswith('.py')), extra[0])
    if ckpt is not None:
        parser.error(f"--resume takes no value (it resumes from the work dir's latest checkpoint); to resume from "
                     f"{ckpt} give --resume-from {ckpt}")
    if extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    set_local_rank(args.local_rank)
    resume = args.resume_from if args.resume_from is not None else ('auto' if args.resume else None)
    try:
        cfg = load_config(args.config, work_dir=args.work_dir, cfg_options=parse_cfg_options(args.cfg_options),
                          launcher=args.launcher, amp=args.amp, resume=resume, fast=args.fast,
                          vis_backends=args.vis_backend)
        preflight_training(cfg)  # model, optimizers, loops: a bad key or value is one error line, no work dir
        preflight_checkpoint(cfg)  # a truncated or foreign checkpoint to resume from or load: one error line
        preflight_datasets(cfg)  # bad data or dataset arguments: one error line, no work dir
    except (FileNotFoundError, ValueError) as exc:
        return cli_error(exc)
    from mmac.runner.launch import run_runner

    return run_runner(cfg, 'train')


if __name__ == '__main__':
    from mmac._compat import quiet_third_party_warnings

    quiet_third_party_warnings()
    sys.exit(main())
