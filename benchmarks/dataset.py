"""Throughput of :class:`~mmac.datasets.thigh_mr.ThighMRDataset`: slices served per second by ``dataset[i]``.

Called by ``tools/benchmark.py data``. Serving must not limit training: a 256 x 256 U-Net CycleGAN step takes
tens of milliseconds on a GPU, so the dataset should serve thousands of slices per second per worker.
"""
from __future__ import annotations

import time
from pathlib import Path


def benchmark_slices(manifest: str | Path, n: int = 2000, size: int = 256, split: str = "train",
                     seed: int = 0) -> dict:
    """Measure slices per second served by ``dataset[i]``, without and with the recommended pipeline.

    Args:
        manifest: Manifest path.
        n: Items fetched per measurement. Defaults to 2000.
        size: Slice size. Defaults to 256.
        split: ``'train'`` (items hold two slices, one per domain) or ``'test'``. Defaults to ``'train'``.
        seed: numpy seed for the random pairing and augmentation. Defaults to 0.

    Returns:
        ``{'split', 'size', 'n', 'len', 'init_s', 'raw_items_per_s', 'pipeline_items_per_s',
        'slices_per_item'}``; a train item holds 2 slices.
    """
    import numpy as np

    from mmac.datasets.thigh_mr import ThighMRDataset, thigh_pipeline
    from mmac.registry import register_all_modules

    register_all_modules()  # the pipeline names mmac's transforms

    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    np.random.seed(seed)
    t0 = time.perf_counter()
    raw = ThighMRDataset(manifest=str(manifest), split=split, size=size)
    init_s = time.perf_counter() - t0
    piped = ThighMRDataset(manifest=str(manifest), split=split, size=size, pipeline=thigh_pipeline(split))
    length = len(raw)

    def rate(ds) -> float:
        t = time.perf_counter()
        for i in range(n):
            ds[i % length]
        return n / (time.perf_counter() - t)

    return dict(split=split, size=size, n=n, len=length, init_s=round(init_s, 3),
                raw_items_per_s=round(rate(raw), 1), pipeline_items_per_s=round(rate(piped), 1),
                slices_per_item=2 if split == "train" else 1)


def main(argv=None) -> None:
    """``python -m benchmarks.dataset MANIFEST [--n N] [--size S] [--split SPLIT]``: print the result."""
    import argparse
    import json

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("manifest")
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--split", default="train", choices=("train", "val", "test"))
    args = parser.parse_args(argv)
    print(json.dumps(benchmark_slices(args.manifest, n=args.n, size=args.size, split=args.split)))


if __name__ == "__main__":
    main()
