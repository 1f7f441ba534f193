"""Exact optimal two-threshold Dice: how well muscle can be separated from fat by intensity alone.

Gadermayr et al., "An Asymmetric Cycle-Consistency Loss for Dealing with Many-to-One Mappings in Image
Translation: A Study on Thigh MR Scans", ISBI 2021, score a translated slice by the best Dice that a pair of
intensity thresholds ``lo <= hi`` reaches against the muscle mask: ``max Dice(mask, lo <= image <= hi)``.

Every function here returns that maximum EXACTLY over the image's actual values (``lo`` and ``hi`` are values
present in the image; tied values are never split), not a binned approximation.

The maximum ratio ``2 S_m / (M + S_c)`` over runs of sorted distinct values is found by Dinkelbach
iterations in exact int64 arithmetic, vectorised over a batch; the returned Dice is the float64 rounding of
the exact rational. Pure numpy.

Layout, one job per module:

* :mod:`.api`: :func:`optimal_threshold_dice`, :func:`optimal_threshold_dice_batch` and their input checks;
* :mod:`.solvers`: the scan and the three exact paths (integer bincount, binned with pruning, plain sort),
  with the algorithm in detail;
* :mod:`.threads`: a batch split into contiguous parts over threads (:func:`default_workers`);
* :mod:`.reference`: :func:`threshold_dice_reference`, the plain sort-per-slice method tests compare against.

Timing code lives in ``benchmarks/threshold_dice.py``, outside the package.
"""
from mmac.evaluation.threshold_dice.api import METHODS, optimal_threshold_dice, optimal_threshold_dice_batch
from mmac.evaluation.threshold_dice.reference import threshold_dice_reference
from mmac.evaluation.threshold_dice.threads import default_workers

__all__ = ["METHODS", "default_workers", "optimal_threshold_dice", "optimal_threshold_dice_batch",
           "threshold_dice_reference"]
