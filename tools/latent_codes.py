#!/usr/bin/env python
"""Does a latent-cycle run's G use its code? Per group of the run's cohort (every 4th slice with muscle of each
subject), the code's size and what it changes in G's reconstruction of the slices from F(x): see
mmac.apis.latent_codes.

    python tools/latent_codes.py work_dirs/map/latentmean_s0/runs/L_AC_wc1_f0_r0
"""
from __future__ import annotations

import argparse
import sys


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('run', help="a training run's work dir (config and checkpoint inside)")
    parser.add_argument('--every', type=int, default=4, help='every n-th slice that holds muscle (default 4)')
    args = parser.parse_args(argv)
    import numpy as np

    from mmac.apis import init_model
    from mmac.apis.inference import model_manifest
    from mmac.apis.latent_codes import code_effect
    from mmac.datasets.manifest import load_subject, read_manifest, volume_to_slices
    try:
        translator = init_model(args.run)
        model = translator.model
        records = read_manifest(model_manifest(translator.cfg))
        by_group = {}
        for record in records:
            volume = load_subject(record, load_counterpart=False)
            slices = volume_to_slices(volume.image)
            keep = np.flatnonzero((slices > 0.1).mean(axis=(1, 2)) > 0.01)[::args.every]
            by_group.setdefault(record.group, []).append(slices[keep])
        rows = {group: code_effect(model, np.concatenate(parts)) for group, parts in by_group.items()}
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    keys = list(next(iter(rows.values())))
    print('| group | ' + ' | '.join(keys) + ' |')
    print('|---' * (len(keys) + 1) + '|')
    for group, row in rows.items():
        print(f'| {group} | ' + ' | '.join(f'{row[k]:.3f}' for k in keys) + ' |')
    return 0


if __name__ == '__main__':
    sys.exit(main())
