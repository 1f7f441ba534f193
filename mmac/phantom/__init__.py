"""Synthetic thigh-MR cohort (pure numpy/scipy/nibabel; no mmagic): anatomy, fat infiltration, artifacts, writer.

``make_cohort`` writes the NIfTI volumes and ``manifest.csv`` that the datasets read; ``make_subject`` returns
the arrays of one subject; ``calibration_report`` measures the optimal two-threshold Dice per group,
``preservation_scale`` what reference outputs score on the preservation error.
"""
from mmac.phantom.anatomy import MUSCLES
from mmac.phantom.calibration import (
           PRESERVATION_REFERENCES,
           calibration_report,
           histogram_threshold_dice,
           preservation_scale,
)
from mmac.phantom.cohort import MANIFEST_COLUMNS, Subject, make_affine, make_cohort, make_subject

__all__ = ["MUSCLES", "MANIFEST_COLUMNS", "PRESERVATION_REFERENCES", "Subject", "calibration_report",
           "histogram_threshold_dice", "make_affine", "make_cohort", "make_subject", "preservation_scale"]
