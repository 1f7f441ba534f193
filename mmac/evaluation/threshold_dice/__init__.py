"""Exact optimal two-threshold Dice: how well muscle can be separated from fat by intensity alone.

Gadermayr et al., "An Asymmetric Cycle-Consistency Loss for Dealing with Many-to-One Mappings in Image
Translation: A Study on Thigh MR Scans", ISBI 2021, score a translated slice by the best Dice that a pair of
intensity thresholds ``lo <= hi`` reaches against the muscle mask: ``max Dice(mask, lo <= image <= hi)``.

Every function here returns that maximum EXACTLY over the image's actual values (``lo`` and ``hi`` are values
present in the image; tied values are never split), not a binned approximation.

Layout: :mod:`.api` (the two public functions and their input checks), :mod:`.solvers` (the exact paths
and the scan they share), :mod:`.threads` (a batch split over threads), :mod:`.reference` (the plain
method that tests compare against). Timing code lives in :mod:`mmac.benchmarks.threshold_dice`.

Algorithm (details in :mod:`.solvers`). Sort the distinct values ``v_1 < ... < v_K`` of a slice, with ``c_k`` pixels and ``m_k`` mask
pixels at ``v_k`` and ``M = sum m_k``. A threshold pair selects a contiguous run ``i..j`` of distinct values
and ``Dice = 2 S_m / (M + S_c)`` with ``S_m, S_c`` the sums of ``m_k, c_k`` over the run. The maximum ratio
over runs is found by Dinkelbach iterations: with the current best ratio ``lambda = p / q``, the run that
maximises ``sum_k (2 q m_k - p c_k) - p M`` (a maximum-subarray scan: cumsum and ``np.minimum.accumulate``)
either has a positive value, and then a strictly larger ratio, or proves ``p / q`` optimal. All of it runs in
int64 arithmetic, so the optimality test is exact (no float tolerance), vectorised over a batch of slices.
The returned Dice is the float64 rounding of the exact rational ``p / q``.

Fast paths (all exact):

* integer-valued images (integer dtypes, or floats holding integers, as 8-bit translations do) get their
  per-value counts from one ``np.bincount`` over the batch instead of a sort;
* float images are first binned into ``num_bins`` value-ordered bins per slice. The best run of whole bins
  is an exact lower bound ``lambda_0``; an upper bound per pair of end bins shows which bins can hold an end
  of a run beating ``lambda_0``, and only the pixels of those bins are sorted. Each maximal stretch of the
  remaining bins becomes one atomic group, which loses nothing because no better threshold can fall inside
  it. The bin-level optimum itself is found coarse-to-fine (runs of 32 bins first) to save iterations.

``threshold_dice_reference`` is the plain exact method (``np.unique`` + the same scan, one slice at a
time) that the benchmark compares against.
"""
from mmac.evaluation.threshold_dice.api import METHODS, optimal_threshold_dice, optimal_threshold_dice_batch
from mmac.evaluation.threshold_dice.reference import threshold_dice_reference
from mmac.evaluation.threshold_dice.threads import default_workers

__all__ = ["METHODS", "default_workers", "optimal_threshold_dice", "optimal_threshold_dice_batch",
           "threshold_dice_reference"]
