"""Thigh MR data: manifest reading/validation and patient folds (pure), transforms and the dataset (mmagic).

The transforms and the dataset are imported on first use (``mmac.datasets.ThighMRDataset``), so that
``import mmac.datasets`` loads no mmagic or mmcv.
"""
from mmac.datasets.folds import fold_subjects, patient_kfold
from mmac.datasets.manifest import (
    GROUPS,
    PATHOLOGICAL_GROUPS,
    SubjectRecord,
    SubjectVolume,
    annotated_slice_indices,
    load_nifti,
    load_subject,
    normalise,
    read_manifest,
    robust_percentiles,
    slices_to_volume,
    volume_to_slices,
)

__all__ = ["GROUPS", "PATHOLOGICAL_GROUPS", "SubjectRecord", "SubjectVolume", "annotated_slice_indices",
           "fold_subjects", "load_nifti", "load_subject", "normalise", "patient_kfold", "read_manifest",
           "robust_percentiles", "slices_to_volume", "volume_to_slices"]
_LAZY = {"PackDomainInputs": "thigh_mr", "ThighMRDataset": "thigh_mr", "fit_slices": "thigh_mr",
         "thigh_pipeline": "thigh_mr", "RandomFlip2D": "transforms", "RandomRot90": "transforms"}


def __getattr__(name: str):
    if name in _LAZY:  # mmagic/mmcv components: imported only when asked for
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
