"""Inference on trained models: pseudo-healthy translation of slices, volumes and NIfTI files."""
from mmac.apis.api import translate
from mmac.apis.inference import Translator, init_model, init_translator, model_image_size
from mmac.apis.nifti import (
    VolumeResult,
    find_inputs,
    muscle_mask_from_histogram,
    translate_files,
    translate_inputs,
    translate_nifti,
)

__all__ = ["Translator", "init_model", "init_translator", "model_image_size", "translate", "VolumeResult",
           "find_inputs", "muscle_mask_from_histogram", "translate_files", "translate_inputs", "translate_nifti"]
