"""Test a checkpoint.

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--amp] [--cfg-options KEY=VALUE ...]
"""
import argparse
import sys

from mmac.runner.config_checks import preflight_datasets, preflight_model
from mmac.runner.launch import add_runner_args, cli_error, load_config, parse_cfg_options, set_local_rank


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', help='checkpoint file (.pth)')
    add_runner_args(parser, amp_help='run the test under autocast: float16 on CUDA, bfloat16 on CPU')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    set_local_rank(args.local_rank)
    try:
        cfg = load_config(args.config, work_dir=args.work_dir, cfg_options=parse_cfg_options(args.cfg_options),
                          launcher=args.launcher, load_from=args.checkpoint, test_autocast=args.amp,
                          vis_backends=args.vis_backend)
        preflight_model(cfg, args.checkpoint)  # a checkpoint of another model: refused, not tested
        preflight_datasets(cfg, ('test_dataloader',))  # bad data or dataset arguments: one error line, no work dir
    except (FileNotFoundError, ValueError) as exc:
        return cli_error(exc)
    from mmac.runner.launch import run_runner

    return run_runner(cfg, 'test')


if __name__ == '__main__':
    from mmac._compat import quiet_third_party_warnings

    quiet_third_party_warnings()
    sys.exit(main())
