#!/usr/bin/env python
"""Benchmarks of mmac, one subcommand each.

    python tools/benchmark.py dice [--n 1000] [--size 256] [--seed 0] [--repeat 1] [--baseline-slices 50]
    python tools/benchmark.py data MANIFEST [--n 2000] [--size 256] [--split train]
    python tools/benchmark.py train [--size 64] [--base-channels 16] [--num-down 6] [--batch-sizes 1 4]
                                    [--iters 10] [--warmup 5] [--device auto] [--amp] [--channels-last]
                                    [--variants ...] [--check-iters 8] [--tolerance T] [--drift-factor 10]
                                    [--check-fp64]
    python tools/benchmark.py pack  [--jobs 1 2 4] [--iters 20] [model options as for train]

``train`` exits with 1 when its fast-vs-plain check fails: the fast step without batching must match the plain
path bit for bit, the batched one within ``--tolerance`` at the first iteration and, later, within what rounding
alone explains (see :func:`benchmarks.training.check_fast_equivalence`).

Each subcommand is a pair in ``SUBCOMMANDS``: a function adding its arguments to a subparser and a function
running it with the parsed arguments. To add one, write both and register them there.

The timing code lives in the repository's ``benchmarks/`` folder, outside the installed package; this script puts
the repository root on ``sys.path`` so that it runs from any directory.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # benchmarks/ is not installed: import it (and the mmac beside it) from the checkout
    sys.path.insert(0, str(REPO))


def _add_dice_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--n", type=int, default=1000, help="slices for the batched metric (default 1000)")
    parser.add_argument("--size", type=int, default=256, help="slice height and width (default 256)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--repeat", type=int, default=1, help="timing repeats, best kept (default 1)")
    parser.add_argument("--baseline-slices", type=int, default=50,
                        help="slices timed for the slow plain baseline; 0 = all (default 50)")


def _run_dice(args: argparse.Namespace) -> int:
    from benchmarks.threshold_dice import benchmark_threshold_dice

    for name in ("n", "size", "repeat"):
        if getattr(args, name) < 1:
            raise SystemExit(f"--{name} must be >= 1, got {getattr(args, name)}")
    rows = benchmark_threshold_dice(n=args.n, size=args.size, seed=args.seed, repeat=args.repeat,
                                    baseline_slices=args.baseline_slices or None)
    print(f"exact optimal two-threshold Dice, {args.n} slices of {args.size}x{args.size}")
    for r in rows:
        print(f"{r['kind']:>8}: batched ({r['workers']} threads) {r['batched_slices_per_s']:7.0f} slices/s "
              f"({r['batched_s']:.3f} s wall,"
              f" {r['batched_cpu_s']:.3f} s CPU) | plain sort+scan {r['baseline_slices_per_s']:5.0f} slices/s"
              f" ({r['baseline_n']} slices) | speed-up x{r['speedup']:.1f} wall, x{r['cpu_speedup']:.1f} CPU")
    return 0


def _add_data_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("manifest", help="manifest.csv of a cohort (e.g. made by tools/make_phantom.py)")
    parser.add_argument("--n", type=int, default=2000, help="items to serve (default 2000)")
    parser.add_argument("--size", type=int, default=256, help="slice size served (default 256)")
    parser.add_argument("--split", default="train", choices=["train", "val", "test"])


def _run_data(args: argparse.Namespace) -> int:
    from benchmarks.dataset import benchmark_slices

    result = benchmark_slices(args.manifest, n=args.n, size=args.size, split=args.split)
    for key, value in result.items():
        print(f"{key:>28}: {value:.1f}" if isinstance(value, float) else f"{key:>28}: {value}")
    return 0


def _add_model_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--size", type=int, default=64, help="slice size (default 64; the paper: 256)")
    parser.add_argument("--base-channels", type=int, default=16, help="network width (default 16; paper: 64)")
    parser.add_argument("--num-down", type=int, default=6, help="U-Net levels (default 6; paper: 8)")
    parser.add_argument("--device", default="auto", help="cuda, cpu or auto (default)")
    parser.add_argument("--amp", action="store_true",
                        help="autocast: bf16 where the device supports it, else fp16 with dynamic loss scaling")
    parser.add_argument("--channels-last", action="store_true", help="channels_last in the fast variants")


def _add_train_args(parser: argparse.ArgumentParser) -> None:
    _add_model_args(parser)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--iters", type=int, default=10, help="timed iterations (default 10)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed iterations first (default 5)")
    parser.add_argument("--variants", nargs="+", default=None, metavar="VARIANT",
                        help="variants to time, quoted (default all: 'stock CycleGAN', 'Modular L_C', "
                             "'Modular L_AC', 'fast L_C', 'fast L_AC')")
    parser.add_argument("--check-iters", type=int, default=8,
                        help="iterations of the fast-vs-plain check; 0 skips it (default 8)")
    parser.add_argument("--tolerance", type=float, default=None,
                        help="largest relative loss difference at the first iteration, and the floor of the "
                             "later bound (default 1e-5 fp32, 2e-2 with --amp)")
    parser.add_argument("--drift-factor", type=float, default=10.0,
                        help="later iterations may drift this many times as far as two plain runs whose weights "
                             "differ by one rounding (default 10)")
    parser.add_argument("--check-fp64", action="store_true",
                        help="run the check in float64, where rounding shrinks and a real difference would not")


def _header(args: argparse.Namespace, device: str) -> str:
    import torch

    from benchmarks.training import amp_dtype_name

    name = torch.cuda.get_device_name() if device.startswith("cuda") else "CPU"
    precision = amp_dtype_name(torch.device(device)) if args.amp else "fp32"
    return (f"{args.size}x{args.size}, base {args.base_channels}, {args.num_down} levels, "
            f"{precision}{', channels_last' if args.channels_last else ''}, {name}, torch {torch.__version__}")


def _run_train(args: argparse.Namespace) -> int:
    from benchmarks.training import benchmark_training, check_fast_equivalence, format_rows

    def show(row: dict) -> None:  # as measured, so that a run cut short still reports
        print(f"measured: {row['variant']}, batch {row['batch_size']}: {row['ms_per_iter']:.1f} ms/iter", flush=True)

    rows = benchmark_training(size=args.size, base_channels=args.base_channels, num_down=args.num_down,
                              batch_sizes=args.batch_sizes, iters=args.iters, warmup=args.warmup,
                              device=args.device, amp=args.amp, channels_last=args.channels_last,
                              variants=args.variants, on_row=show)
    print(f"training iterations, {_header(args, rows[0]['device'])}")
    print(format_rows(rows))
    if args.check_iters <= 0:
        return 0
    check = check_fast_equivalence(size=args.size, base_channels=args.base_channels, num_down=args.num_down,
                                   iters=args.check_iters, device=args.device, amp=args.amp,
                                   channels_last=args.channels_last, first_tolerance=args.tolerance,
                                   drift_factor=args.drift_factor, fp64=args.check_fp64)
    print(_format_check(check))
    return 0 if check["ok"] else 1


def _format_check(check: dict) -> str:
    """The three parts of :func:`benchmarks.training.check_fast_equivalence`, each with its verdict."""
    def verdict(ok: bool) -> str:
        return "OK" if ok else "FAILED"

    it, name = check["worst"]
    return "\n".join([
        f"fast vs plain L_AC, {check['iters']} iterations{' in float64' if check['fp64'] else ''} (deterministic "
        f"cuDNN, no TF32; benchmarked fast run: "
        f"{'CUDA graph' if check['graphed'] else 'eager'}):",
        f"  exact: fast with batch_forwards=False, eager, bit for bit: largest difference "
        f"{check['exact_max_abs_diff']:.1e}: {verdict(check['exact_ok'])}",
        f"  first iteration, as benchmarked: relative difference {check['first_rel_diff']:.2e}, tolerance "
        f"{check['first_tolerance']:.0e}: {verdict(check['first_ok'])}",
        f"  later iterations (rounding amplified by training): relative difference "
        f"{' '.join(f'{d:.1e}' for d in check['drift'][1:])}; bound = tolerance + factor x drift of two plain "
        f"runs {check['perturbation']:.1e} apart ({' '.join(f'{r:.1e}' for r in check['reference'][1:])}): "
        f"{verdict(check['drift_ok'])} (closest to its bound: iteration {it}, {name})",
    ])


def _add_pack_args(parser: argparse.ArgumentParser) -> None:
    _add_model_args(parser)
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2, 4],
                        help="numbers of trainings run at once (default 1 2 4)")
    parser.add_argument("--iters", type=int, default=20, help="timed iterations per training (default 20)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed iterations first (default 5)")


def _run_pack(args: argparse.Namespace) -> int:
    from benchmarks.training import PROTOCOL, benchmark_packing

    def show(row: dict) -> None:  # as measured, so that a run cut short still reports
        print(f"measured: {row['jobs']} job(s): {row['iters_per_s']:.1f} it/s in total, protocol "
              f"{row['protocol_hours']:.1f} h", flush=True)

    rows = benchmark_packing(jobs=args.jobs, size=args.size, base_channels=args.base_channels,
                             num_down=args.num_down, iters=args.iters, warmup=args.warmup, device=args.device,
                             amp=args.amp, channels_last=args.channels_last, on_row=show)
    import torch

    device = "cuda" if args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available()) else "cpu"
    print(f"packed batch-size-1 fast L_AC trainings, one process each, {_header(args, device)}")
    print(f"protocol: {PROTOCOL['runs']} runs x {PROTOCOL['epochs']} epochs x {PROTOCOL['iters_per_epoch']} "
          "iterations, training only")
    print(f"{'jobs':>4} {'total it/s':>11} {'it/s per run':>13} {'vs 1 job':>9} {'protocol h':>11}")
    base = rows[0]["iters_per_s"]
    for r in rows:
        print(f"{r['jobs']:>4} {r['iters_per_s']:>11.1f} {r['per_run_iters_per_s']:>13.1f} "
              f"{'x%.2f' % (r['iters_per_s'] / base):>9} {r['protocol_hours']:>11.1f}")
    return 0


# subcommand -> (add its arguments, run it)
SUBCOMMANDS: dict[str, tuple[Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]] = {
    "dice": (_add_dice_args, _run_dice),
    "data": (_add_data_args, _run_data),
    "train": (_add_train_args, _run_train),
    "pack": (_add_pack_args, _run_pack),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (add_args, _) in SUBCOMMANDS.items():
        add_args(sub.add_parser(name))
    args = parser.parse_args(argv)
    return SUBCOMMANDS[args.command][1](args)


if __name__ == "__main__":
    from mmac._compat import quiet_third_party_warnings

    quiet_third_party_warnings()
    sys.exit(main())
