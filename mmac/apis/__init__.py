"""Inference on trained models: pseudo-healthy translation of slices, volumes and NIfTI files."""
from mmac.apis.inference import Translator, init_translator, model_image_size
from mmac.apis.nifti import VolumeResult, find_inputs, muscle_mask_from_histogram, translate_files, translate_nifti

__all__ = ["Translator", "init_translator", "model_image_size", "VolumeResult", "find_inputs",
           "muscle_mask_from_histogram", "translate_files", "translate_nifti"]
