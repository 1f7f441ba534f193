#!/usr/bin/env python
"""Tissue levels of each group after the dataset's normalisation: is the healthy domain calibrated as the patients'?

F learns to make pathological slices look like the healthy ones; if the healthy scans' normal fat or muscle comes
out of the normalisation brighter or darker than the patients', F learns to shift normal tissue too. Run this
before training (mmac.datasets.levels):

    python tools/tissue_levels.py data/thigh_study [--every 4] [--mask-labels 1 2 3] [--csv levels.csv]

Label-map masks that also label other tissue (bone, subcutaneous fat) need --mask-labels, the muscle labels (the
dataset's mask_labels); by default every non-zero label is muscle.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('data_root', help='folder holding manifest.csv')
    p.add_argument('--manifest', default='manifest.csv', help='manifest file name (default manifest.csv)')
    p.add_argument('--every', type=int, default=4, help='slice stride (default 4)')
    p.add_argument('--mask-labels', type=int, nargs='+', default=None, metavar='LABEL',
                   help='labels of the masks that are muscle, e.g. 1 2 3 of a label map that also labels bone or '
                        'subcutaneous fat (default: every non-zero voxel; 0/1 and 0/255 masks need nothing)')
    p.add_argument('--csv', default=None, help='also write the per-subject levels here')
    p.add_argument('--no-progress', action='store_true', help='no progress bar over the subjects (on stderr)')
    args = p.parse_args(argv)
    if args.every < 1:
        p.error(f'--every must be >= 1, got {args.every}')
    if args.mask_labels is not None and min(args.mask_labels) < 1:
        p.error(f"--mask-labels must be >= 1 (0 is the background), got {' '.join(map(str, args.mask_labels))}")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    from mmac.runner.launch import cli_error

    try:
        from mmac.datasets.levels import level_summary, tissue_levels

        levels = tissue_levels(Path(args.data_root) / args.manifest, every=args.every, mask_labels=args.mask_labels,
                               progress=not args.no_progress)
    except (FileNotFoundError, ValueError) as exc:
        return cli_error(exc)
    summary = level_summary(levels)
    print('grey levels on the 0-255 scale the model sees; mean and std over subjects')
    print(summary.round(1).to_string(index=False))
    patients = levels[levels['group'] != 'healthy']
    if len(patients):
        measured = ', '.join(f'{v} on their {k}' for k, v in patients['measured'].value_counts().items())
        print(f'patients: {measured} (a counterpart is the synthetic cohort\'s healthy version; on a scan the '
              'infiltrated muscle is left out by the mask)')
    if args.csv:
        from mmac.fileio import write_csv_atomic

        write_csv_atomic(levels, args.csv)
        print(f'per subject: {args.csv}')
    return 0


if __name__ == '__main__':
    from mmac._compat import quiet_third_party_warnings

    quiet_third_party_warnings()
    sys.exit(main())
