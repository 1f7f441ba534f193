"""Thigh MR data: manifest reading/validation and patient folds (pure), transforms and the dataset (mmagic)."""
from mmac._compat import has_mmagic
from mmac.datasets.folds import patient_kfold
from mmac.datasets.manifest import (GROUPS, PATHOLOGICAL_GROUPS, SubjectRecord, SubjectVolume,
                                    annotated_slice_indices, load_nifti, load_subject, normalise, read_manifest,
                                    robust_percentiles, slices_to_volume, volume_to_slices)

__all__ = ["GROUPS", "PATHOLOGICAL_GROUPS", "SubjectRecord", "SubjectVolume", "annotated_slice_indices",
           "load_nifti", "load_subject", "normalise", "patient_kfold", "read_manifest", "robust_percentiles",
           "slices_to_volume", "volume_to_slices"]

if has_mmagic():
    from mmac.datasets.thigh_mr import PackDomainInputs, ThighMRDataset, fit_slices, thigh_pipeline  # noqa: F401
    from mmac.datasets.transforms import RandomFlip2D, RandomRot90  # noqa: F401

    __all__ += ["PackDomainInputs", "RandomFlip2D", "RandomRot90", "ThighMRDataset", "fit_slices",
                "thigh_pipeline"]
