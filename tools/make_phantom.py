#!/usr/bin/env python
"""Write a synthetic thigh-MR cohort (NIfTI volumes + manifest.csv); see mmac.phantom.make_cohort.

Example:
    python tools/make_phantom.py --out data/phantom                       # 41 subjects, 256 x 256 x 53
    python tools/make_phantom.py --out data/demo --size 64 --slices 8     # CPU demo size
    python tools/make_phantom.py --out data/phantom --workers 2           # two processes (default: CPUs available)
    python tools/make_phantom.py --out data/indep --size 64 --independent-slices   # a point of the cohort map

Cohort variations (one axis of the map in docs/results.md each; mmac.phantom.variation): --templates,
--atrophy, --severe-ff, --anatomy compartments, --independent-slices, --texture patches.
"""
from __future__ import annotations

import argparse
import sys

from mmac._cpu import available_cpus


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True, help="output folder (must be empty or absent unless --overwrite)")
    p.add_argument("--healthy", type=int, default=21, help="number of healthy subjects (default 21)")
    p.add_argument("--moderate", type=int, default=7, help="number of moderately infiltrated subjects (default 7)")
    p.add_argument("--severe", type=int, default=13, help="number of severely infiltrated subjects (default 13)")
    p.add_argument("--size", type=int, default=256, help="in-plane matrix size, a multiple of 16 >= 32 (default 256)")
    p.add_argument("--slices", type=int, default=53, help="slices per volume, 7 mm apart (default 53)")
    p.add_argument("--seed", type=int, default=0, help="cohort seed (default 0)")
    p.add_argument("--chemical-shift", action="store_true", help="shift the fat signal by 1-2 mm along x")
    p.add_argument("--workers", type=int, default=available_cpus(),
                   help="subjects generated in parallel processes; same files for any value "
                        "(default: the CPUs this process may use)")
    p.add_argument("--templates", nargs="+", default=None, metavar="NAME",
                   help="disease templates subjects draw from (default: all of dystrophinopathy, "
                        "posterior_adductor, quadriceps)")
    p.add_argument("--atrophy", type=float, default=None, help="scale on the muscle lost to atrophy (0: none; "
                   "default 1)")
    p.add_argument("--severe-ff", type=float, nargs=2, default=None, metavar=("LOW", "HIGH"),
                   help="range of the severe group's target mean fat fraction (default 0.42 0.62)")
    p.add_argument("--anatomy", default=None, choices=["muscles", "compartments"],
                   help="13 muscles (default) or the 3 fascial compartments")
    p.add_argument("--independent-slices", action="store_true",
                   help="every slice its own subject (no correlation along z within a subject)")
    p.add_argument("--texture", default=None, choices=["mercuri", "patches"],
                   help="fat inside muscle: Mercuri-graded patterns (default) or patches of thresholded smooth noise")
    p.add_argument("--overwrite", action="store_true", help="replace a non-empty output folder")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.add_argument("--calibration", action="store_true",
                   help="then print the threshold-only Dice per group (the paper's difficulty, every 4th slice) and "
                        "what reference outputs score on the preservation error (its scale at this size)")
    args = p.parse_args(argv)
    for name in ("healthy", "moderate", "severe"):
        if getattr(args, name) < 0:
            p.error(f"--{name} must be >= 0, got {getattr(args, name)}")
    if args.healthy + args.moderate + args.severe == 0:
        p.error("the cohort is empty: --healthy, --moderate and --severe are all 0")
    if args.size < 32 or args.size % 16 or args.size > 1024:
        p.error(f"--size must be a multiple of 16 between 32 and 1024, got {args.size}")
    if args.workers < 1:
        p.error(f"--workers must be >= 1, got {args.workers}")
    if args.slices < 1:
        p.error(f"--slices must be >= 1, got {args.slices}")
    args.variation = variation_kwargs(args)
    try:
        from mmac.phantom.variation import Variation

        Variation.from_kwargs(**args.variation)
    except (TypeError, ValueError) as exc:
        p.error(str(exc))
    return args


def variation_kwargs(args: argparse.Namespace) -> dict:
    """The cohort-variation options given on the command line, as :class:`~mmac.phantom.variation.Variation`
    keyword arguments."""
    given = dict(templates=args.templates, atrophy=args.atrophy, severe_ff=args.severe_ff, anatomy=args.anatomy,
                 independent_slices=args.independent_slices or None, texture=args.texture)
    return {k: (tuple(v) if isinstance(v, list) else v) for k, v in given.items() if v is not None}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from mmac.phantom import make_cohort

    try:
        manifest = make_cohort(args.out, healthy=args.healthy, moderate=args.moderate, severe=args.severe,
                               size=args.size, slices=args.slices, seed=args.seed,
                               chemical_shift=args.chemical_shift, progress=not args.no_progress,
                               overwrite=args.overwrite, workers=args.workers, variation=args.variation)
    except FileExistsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(manifest)
    if args.calibration:
        from mmac.phantom.calibration import calibration_report

        report = calibration_report(manifest)
        print("optimal two-threshold Dice on the original slices (mean over subjects, every 4th slice):")
        for group, dice in report.items():
            print(f"  {group:<9} {dice:.3f}")
        if args.moderate + args.severe:
            from mmac.phantom import preservation_scale

            scale = preservation_scale(moderate=args.moderate, severe=args.severe, size=args.size, slices=args.slices,
                                       seed=args.seed, chemical_shift=args.chemical_shift)
            groups = [g for g in ("moderate", "severe") if g in next(iter(scale.values()))]
            print("preservation error of reference outputs (units of the noise; mean over subjects, every 4th slice):")
            print(f"  {'output':<17}" + "".join(f"{g:>10}" for g in groups))
            for name, by_group in scale.items():
                print(f"  {name:<17}" + "".join(f"{by_group[g]:>10.2f}" for g in groups))
    return 0


if __name__ == "__main__":
    from mmac._compat import quiet_third_party_warnings

    quiet_third_party_warnings()
    sys.exit(main())
