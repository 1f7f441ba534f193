#!/usr/bin/env python
"""Translate thigh MR volumes to pseudo-healthy volumes with a trained F; see mmac.apis.translate_files.

Writes, per input <name>.nii[.gz] and in the input's orientation, affine and header:
<name>_pseudohealthy.nii.gz (input intensity scale), <name>_fatmap.nii.gz (max(x - F(x), 0), normalised),
<name>_muscle.nii.gz (two-threshold muscle mask on F(x)), and a row of <out>/fat_fraction.csv.

Muscle thresholds: with --mask, per slice the optimal two-threshold Dice against the mask (slices without
reference muscle take the median thresholds); without, per volume from the F(x) histogram (multi-Otsu muscle
class, mode +- 3 robust standard deviations).

Example:
    python tools/translate.py work_dirs/ac/config.py work_dirs/ac/iter_600.pth data/scans --out out/
    python tools/translate.py CONFIG CKPT scan.nii.gz --out out/ --mask scan_mask.nii.gz
"""
from __future__ import annotations

import argparse
import logging
import sys


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("config", help="model config (e.g. the config.py dumped in a run's work dir)")
    p.add_argument("checkpoint", help="checkpoint of that model (iter_<n>.pth)")
    p.add_argument("input", help="a NIfTI volume (.nii / .nii.gz) or a folder of them")
    p.add_argument("--out", required=True, help="output folder (created if missing)")
    p.add_argument("--mask", default=None,
                   help="reference muscle mask (one input) or folder of masks named <name>_mask.nii.gz or "
                        "<name>.nii.gz; picks the muscle thresholds per slice by optimal Dice")
    p.add_argument("--device", default="cpu", help="torch device (default cpu)")
    p.add_argument("--batch-size", type=int, default=16, help="slices per forward pass (default 16)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    args = p.parse_args(argv)
    if args.batch_size < 1:
        p.error(f"--batch-size must be >= 1, got {args.batch_size}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    from mmac.apis.nifti import translate_files

    try:
        results = translate_files(args.config, args.checkpoint, args.input, args.out, mask=args.mask,
                                  device=args.device, batch_size=args.batch_size, progress=not args.no_progress)
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for r in results:
        print(f"{r.volume}: mean fat fraction estimate {r.mean_ff_estimate:.4f} over {r.muscle_voxels} muscle "
              f"voxels ({r.thresholds} thresholds) -> {r.pseudo_healthy.parent}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
