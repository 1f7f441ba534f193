"""Timing code, kept outside the installed ``mmac`` package (``tools/benchmark.py`` is its command line).

It imports ``mmac``; nothing in ``mmac`` imports it. Run it from the repository root (or through
``tools/benchmark.py``, which puts the root on ``sys.path``).

* :mod:`benchmarks.threshold_dice`: the exact threshold Dice, batched against the plain baseline.
* :mod:`benchmarks.dataset`: slices per second served by ``ThighMRDataset``.
* :mod:`benchmarks.training`: training iterations (stock, plain and fast CycleGAN) and run packing.
"""
