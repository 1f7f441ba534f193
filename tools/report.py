#!/usr/bin/env python
"""Write the report of a cross-validation (Table 1, p-values, slice shares, figures); see mmac.report.make_report.

Reads RESULTS_DIR/results.csv (tools/cross_validate.py) and, for Fig. 3, the runs' DONE files and checkpoints
under RESULTS_DIR/runs/. Writes report.md with its tables and figures into --out (default RESULTS_DIR/report).

Example:
    python tools/report.py work_dirs/cv --out work_dirs/cv/report
    python tools/report.py work_dirs/cv --format pdf svg      # figures also as PDF and SVG
"""
from __future__ import annotations

import argparse
import logging
import sys


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("results_dir", help="folder with results.csv (and runs/<run>/DONE for Fig. 3)")
    p.add_argument("--out", default=None, help="output folder (default RESULTS_DIR/report)")
    p.add_argument("--fig3-slices", type=int, default=3, help="rows of Fig. 3 (default 3)")
    p.add_argument("--fig3-wc", type=float, default=None, help="w_c of Fig. 3 (default 1 if present, else the largest)")
    p.add_argument("--device", default="cpu", help="torch device for Fig. 3's translations (default cpu)")
    p.add_argument("--format", nargs="+", default=[], choices=["pdf", "svg"], dest="formats", metavar="FORMAT",
                   help="also write every figure as pdf and/or svg (vector, for papers); PNG is always written "
                        "(report.md shows it)")
    p.add_argument("--reference", default="L_C",
                   help="the loss every other loss is compared against (default L_C; the paper's grid: L_AC - L_C)")
    p.add_argument("--no-progress", action="store_true",
                   help="no progress bars on stderr (Fig. 3 and the coverage read the runs' checkpoints)")
    args = p.parse_args(argv)
    if args.fig3_slices < 1:
        p.error(f"--fig3-slices must be >= 1, got {args.fig3_slices}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    from mmac.report import make_report

    try:
        written = make_report(args.results_dir, args.out, fig3_slices=args.fig3_slices, fig3_w_c=args.fig3_wc,
                              device=args.device, formats=args.formats, progress=not args.no_progress,
                              reference=args.reference)
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for note in written["notes"]:
        print(f"note: {note}", file=sys.stderr)
    print(written["files"]["summary.md"].read_text())
    print(written["files"]["report.md"])
    return 0


if __name__ == "__main__":
    from mmac._compat import quiet_third_party_warnings

    quiet_third_party_warnings()
    sys.exit(main())
