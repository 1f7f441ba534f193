#!/usr/bin/env python
"""What a run's generators do to healthy thighs: G's pathology against the patients', and F's change. See
mmac.apis.coverage.

For each training run (its work dir, or a cross-validation folder: all its finished runs), G translates the
cohort's healthy subjects; the fat fraction it adds to their muscle is set beside the patients' own (from the
cohort's fat-fraction maps, which the phantom writes). Under L_AC, F learns to remove G's pathology: where G's
is milder than the patients', F has not been taught the severe slices.

F translates the same healthy subjects, which need no change: how far F(y) departs from y, in units of the
noise's mean absolute value (0: the identity; about 1: a perfect denoiser), and the signed shift of bright
tissue (fat, marrow) and darker tissue (muscle) in grey levels of the 0-255 scale. Held-out subjects (the test
part of the run's fold) are reported apart from the training ones. It needs no ground truth: it works on real
cohorts with healthy subjects. A G that takes a code (a latent cycle) gets codes as its fakes did in training
(those the encoder infers from the severe patients' slices, or prior draws; --codes chooses).

    python tools/pathology_coverage.py work_dirs/demo/runs/L_AC_wc1_f0_r0 [more runs] [--out coverage.csv]
    python tools/pathology_coverage.py work_dirs/demo          # every finished run of a grid
"""
from __future__ import annotations

import argparse
import glob
import os.path as osp
import sys


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('runs', nargs='+', help="training runs' work dirs, or grid folders (OUT of cross_validate)")
    parser.add_argument('--every', type=int, default=4, help='every n-th slice that holds muscle (default 4)')
    parser.add_argument('--out', help='also write the per-subject rows to this CSV')
    parser.add_argument('--device', default='cpu', help="torch device (default 'cpu')")
    parser.add_argument('--codes', choices=('prior', 'posterior'),
                        help="a latent G's codes: the encoder's of the severe patients' slices (posterior) or prior "
                             "draws (default: as its fakes took them in training)")
    parser.add_argument('--no-progress', action='store_true', help='no progress bar over the runs (on stderr)')
    return parser.parse_args(argv)


def expand(paths):
    """Work dirs: a grid folder (with runs/) becomes its finished runs, in name order."""
    runs = []
    for path in paths:
        if osp.isdir(osp.join(path, 'runs')):
            found = sorted(osp.dirname(p) for p in glob.glob(osp.join(path, 'runs', '*', 'DONE')))
            if not found:
                raise FileNotFoundError(f"{path}: a grid folder without finished runs (no runs/*/DONE)")
            runs.extend(found)
        elif osp.isdir(path):
            runs.append(path)
        else:
            raise FileNotFoundError(f"{path} is not a folder")
    return runs


def summarise(frame):
    """Per run: G's synthetic fat fraction (mean, range) beside the patients' by group; F's change of healthy
    subjects, held-out and training ones apart."""
    import pandas as pd

    lines = []
    for run, rows in frame.groupby('run', sort=False):
        synthetic = rows[rows.source == 'G(y)'].fat_fraction.dropna()  # NaN: a healthy subject without a mask
        real = rows[rows.source == 'real'].groupby('group').fat_fraction.mean()
        patients = ', '.join(f'{group} {value:.3f}' for group, value in real.items()) or 'no fat-fraction maps'
        codes = set(rows[rows.source == 'G(y)'].get('codes', pd.Series(dtype=object)).dropna()) - {'none'}
        given = f"; G's codes: {', '.join(sorted(codes))}" if codes else ''
        if len(synthetic):
            lines.append(f'{run}: G(y) muscle fat fraction {synthetic.mean():.3f} '
                         f'(healthy subjects {synthetic.min():.3f}-{synthetic.max():.3f}, n={len(synthetic)}{given}); '
                         f'patients: {patients}')
        else:
            lines.append(f'{run}: G(y) muscle fat fraction not measured (no healthy subject has a muscle mask); '
                         f'patients: {patients}')
        healthy = rows[rows.source == 'G(y)']
        for held_out, label in ((True, 'held-out'), (False, 'training')):
            part = healthy[healthy.held_out == held_out] if 'held_out' in healthy else healthy.iloc[:0]
            if len(part) and 'change' in part:
                lines.append(f'  F(y) on {label} healthy subjects (n={len(part)}): change {part.change.mean():.2f} '
                             f'x noise ({part.change.min():.2f}-{part.change.max():.2f}); shift of bright tissue '
                             f'{part.bias_bright.mean():+.1f}, dark tissue {part.bias_dark.mean():+.1f} grey levels')
    return lines


def main(argv=None) -> int:
    args = parse_args(argv)
    from mmac.runner.launch import cli_error

    if args.every < 1:
        return cli_error(ValueError(f"--every must be >= 1, got {args.every}"))
    try:
        runs = expand(args.runs)
    except FileNotFoundError as exc:
        return cli_error(exc)
    import pandas as pd
    from tqdm import tqdm

    from mmac.apis.coverage import run_coverage
    from mmac.fileio import write_csv_atomic

    cohorts = {}  # runs of one grid share their cohort: loaded once
    try:
        frame = pd.DataFrame([row for run in tqdm(runs, desc='pathology coverage', unit='run',
                                                  disable=args.no_progress)
                              for row in run_coverage(run, every=args.every, device=args.device, cohorts=cohorts,
                                                           codes=args.codes)])
    except (FileNotFoundError, ValueError) as exc:
        return cli_error(exc)
    if frame.empty or not (frame.source == 'G(y)').any():
        return cli_error(ValueError("no healthy subject in the runs' cohorts: nothing to translate"))
    print('\n'.join(summarise(frame)))
    if args.out:
        write_csv_atomic(frame, args.out)
    return 0


if __name__ == '__main__':
    from mmac._compat import quiet_third_party_warnings

    quiet_third_party_warnings()
    sys.exit(main())
