"""Subprocess entry of :func:`mmac.protocol.runs.run_grid` with ``jobs > 1``: executes one run."""
import argparse
import json

from mmac.protocol.grid import RunSpec
from mmac.protocol.runs import execute_run


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--config', required=True)
    parser.add_argument('--out', required=True)
    parser.add_argument('--spec', required=True, help='RunSpec as JSON')
    parser.add_argument('--settings', required=True, help='iters/epochs/cfg_options as JSON')
    parser.add_argument('--fast', action='store_true', help='fast training iteration')
    args = parser.parse_args(argv)
    from mmac._compat import quiet_third_party_warnings

    quiet_third_party_warnings()  # a worker is one of the command lines' processes
    settings = json.loads(args.settings)
    execute_run(args.config, RunSpec(**json.loads(args.spec)), args.out, iters=settings['iters'],
                epochs=settings['epochs'], cfg_options=settings['cfg_options'] or None, fast=args.fast)


if __name__ == '__main__':
    main()
