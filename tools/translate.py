#!/usr/bin/env python
"""Translate thigh MR volumes to pseudo-healthy volumes with a trained F; see mmac.apis.translate_files.

Writes, per input <name>.nii[.gz] and in the input's orientation, affine and header:
<name>_pseudohealthy.nii.gz (input intensity scale), <name>_fatmap.nii.gz (max(x - F(x), 0), normalised),
<name>_muscle.nii.gz (two-threshold muscle mask on F(x)), and a row of <out>/fat_fraction.csv.

Muscle thresholds: with --mask, per slice the optimal two-threshold Dice against the mask (slices without
reference muscle take the median thresholds); without, per volume from the F(x) histogram (multi-Otsu muscle
class, mode +- 3 robust standard deviations). A folder of masks holds <name>_mask.nii.gz, <name>_muscle.nii.gz
or <name>.nii.gz (.nii too) for each input <name>.nii[.gz]. A study's manifest.csv as the input translates every
image it lists, each with its row's mask (rows without one: histogram thresholds). The muscle labels of
label-map masks are --mask-labels, else the run config's mask_labels (as the dataset read them in training),
else every non-zero label.

Every input volume (and its mask) is checked before any is translated: one error lists all bad inputs, and then
nothing is written.

The model is a training run's work dir (its config and last checkpoint are found: the config mmengine saved
as <config name>.py, or run_config.py in a cross-validation run's folder; the checkpoint named in
last_checkpoint, else the iter_<n>.pth with the largest n), or a config and a checkpoint.

Example:
    python tools/translate.py work_dirs/ac_cyclegan_thigh data/scans --out out/
    python tools/translate.py work_dirs/ac_cyclegan_thigh /data/thigh_study/manifest.csv --out out/
    python tools/translate.py work_dirs/cv/runs/L_AC_wc1_f0_r0 scan.nii.gz --out out/ --mask scan_mask.nii.gz
    python tools/translate.py work_dirs/ac/ac_cyclegan_thigh.py work_dirs/ac/iter_14400.pth data/scans --out out/
"""
from __future__ import annotations

import argparse
import logging
import os
import sys


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                usage="%(prog)s (WORK_DIR | CONFIG CHECKPOINT) INPUT --out OUT [options]")
    p.add_argument("model", metavar="WORK_DIR | CONFIG",
                   help="a training run's work dir, or a model config (the <config name>.py a run saves)")
    p.add_argument("checkpoint", nargs="?", metavar="CHECKPOINT",
                   help="checkpoint of that config (iter_<n>.pth); only with CONFIG")
    p.add_argument("input", help="a NIfTI volume (.nii / .nii.gz), a folder of them, or a study's manifest.csv "
                                 "(every image it lists, with its mask where it has one)")
    p.add_argument("--out", required=True, help="output folder (created if missing)")
    p.add_argument("--mask", default=None,
                   help="reference muscle mask (one input), folder of masks named <name>_mask.nii.gz, "
                        "<name>_muscle.nii.gz or <name>.nii.gz (.nii too), tried in this order, or a manifest.csv "
                        "(each image's row); picks the muscle thresholds per slice by optimal Dice")
    p.add_argument("--mask-labels", type=int, nargs="+", default=None, metavar="LABEL",
                   help="labels of the masks that are muscle, e.g. 1 2 3 of a one-label-per-muscle segmentation "
                        "(default: the run config's dataset mask_labels, else every non-zero voxel, which 0/1 "
                        "and 0/255 masks need)")
    p.add_argument("--device", default="cpu", help="torch device (default cpu)")
    p.add_argument("--batch-size", type=int, default=16, help="slices per forward pass (default 16)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    args = p.parse_args(argv)
    if args.batch_size < 1:
        p.error(f"--batch-size must be >= 1, got {args.batch_size}")
    if args.mask_labels is not None and args.mask is None and not args.input.lower().endswith(".csv"):
        p.error("--mask-labels needs --mask (or a manifest.csv as the input, whose masks it then reads)")
    if args.mask_labels is not None and min(args.mask_labels) < 1:
        p.error(f"--mask-labels must be >= 1 (0 is the background), got {' '.join(map(str, args.mask_labels))}")
    if args.checkpoint is None and not os.path.isdir(args.model):
        p.error(f"{args.model} is not a work dir; give CONFIG CHECKPOINT INPUT or WORK_DIR INPUT")
    if args.checkpoint is not None and os.path.isdir(args.model):
        p.error(f"{args.model} is a work dir: its config and checkpoint are found, give WORK_DIR INPUT")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    from mmac.apis.nifti import translate_files

    try:
        if args.checkpoint is None:
            from mmac.runner.launch import find_run

            config, checkpoint = find_run(args.model)
            print(f"model: {config} + {checkpoint}", file=sys.stderr)
        else:
            config, checkpoint = args.model, args.checkpoint
        results = translate_files(config, checkpoint, args.input, args.out, mask=args.mask,
                                  mask_labels=args.mask_labels, device=args.device, batch_size=args.batch_size,
                                  progress=not args.no_progress)
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for r in results:
        print(f"{r.volume}: mean fat fraction estimate {r.mean_ff_estimate:.4f} over {r.muscle_voxels} muscle "
              f"voxels ({r.thresholds} thresholds) -> {r.pseudo_healthy.parent}")
    return 0


if __name__ == "__main__":
    from mmac._compat import quiet_third_party_warnings

    quiet_third_party_warnings()
    sys.exit(main())
