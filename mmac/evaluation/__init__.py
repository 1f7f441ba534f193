"""Evaluation maths: exact optimal two-threshold Dice per slice and per-patient statistics.

Pure numpy/scipy; nothing here imports mmagic.
"""
from mmac.evaluation.threshold_dice import optimal_threshold_dice, optimal_threshold_dice_batch

__all__ = ["optimal_threshold_dice", "optimal_threshold_dice_batch"]
