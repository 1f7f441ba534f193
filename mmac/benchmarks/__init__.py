"""Timing code, kept out of the library modules it times (``tools/benchmark.py`` is its command line).

* :mod:`mmac.benchmarks.threshold_dice`: the exact threshold Dice, batched against the plain baseline.
* :mod:`mmac.benchmarks.dataset`: slices per second served by ``ThighMRDataset``.

The training and packing benchmarks are in :mod:`mmac.engine.bench`.
"""
