"""The one call of mmac's inference API on any input: :func:`translate` on an array, a NIfTI file, a folder of
them or a study's manifest (mmagic's ``init_model`` / inference manner), above the in-memory translator
(:mod:`mmac.apis.inference`) and the NIfTI pipeline (:mod:`mmac.apis.nifti`), which it joins."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from mmac.apis.inference import Translator
from mmac.apis.nifti import is_manifest, translate_inputs


def translate(model: Translator, input, out_dir: str | Path | None = None, mask: str | Path | None = None,
              batch_size: int = 16, progress: bool = False, mask_labels=None):
    """Translate with a model from :func:`init_model`: an array in memory, or NIfTI volumes on disk.

    ``input`` may be:

    * a slice, ``(H, W)`` intensities normalised to [0, 1] (:func:`mmac.datasets.manifest.normalise`, as the
      dataset does per volume): returns F(x), ``(H, W)`` float32 in [0, 1]. A size other than the training size
      is fitted to it and back (:meth:`Translator.translate_slices`, which also takes a stack ``(N, H, W)``).
    * a volume, ``(X, Y, Z)`` in [0, 1], canonical RAS, translated slice by slice along Z
      (:meth:`Translator.translate_volume`): returns ``(X, Y, Z)`` float32 in [0, 1].
    * a NIfTI file (``.nii`` / ``.nii.gz``): writes ``<name>_pseudohealthy.nii.gz``, ``<name>_fatmap.nii.gz``,
      ``<name>_muscle.nii.gz`` and a row of ``fat_fraction.csv`` into ``out_dir``, in the input's grid, header
      and intensity scale (:mod:`mmac.apis.nifti`); returns its :class:`~mmac.apis.nifti.VolumeResult`.
    * a folder of NIfTI files, or a study's ``manifest.csv`` (every image it lists, outputs named by subject,
      its masks the reference masks): the same for each volume, all checked before any is translated; returns
      a list of results in input order.

    Args:
        model: The translator from :func:`init_model`.
        input: An array or a path, as above.
        out_dir: Output folder of a path input (created if missing). Defaults to None.
        mask: For a path input, reference muscle masks that set the thresholds: a mask file (one volume), a
            folder of masks or a manifest; None: histogram thresholds (a manifest input uses its own masks).
            Defaults to None.
        batch_size: Slices per forward pass. Defaults to 16.
        progress: tqdm progress bars. Defaults to False.
        mask_labels: For a path input, the mask labels that are muscle; None: the model config's, else every
            non-zero voxel. Defaults to None.

    Returns:
        The translated array, or what was written for a path input (see above).

    Raises:
        TypeError: ``model`` is not a :class:`Translator`, or ``input`` neither a numpy array nor a path.
        ValueError: An array that is not 2D or 3D, not finite or outside [0, 1]; ``out_dir``, ``mask`` or
            ``mask_labels`` with an array, or no ``out_dir`` with a path; bad NIfTI inputs (all listed, nothing
            written).
        FileNotFoundError: A path input or mask that does not exist.
    """
    if not isinstance(model, Translator):
        raise TypeError(f"model must be a Translator from mmac.apis.init_model, got {type(model).__name__}")
    if isinstance(input, np.ndarray):
        given = [name for name, value in (("out_dir", out_dir), ("mask", mask), ("mask_labels", mask_labels))
                 if value is not None]
        if given:
            raise ValueError(f"translate: {', '.join(given)} apply to a NIfTI or manifest path, not to an array, "
                             "whose translation is returned")
        if input.ndim == 2:
            return model.translate_slices(input[None], batch_size=batch_size, progress=progress)[0]  # (H, W)
        if input.ndim == 3:
            return model.translate_volume(input, batch_size=batch_size, progress=progress)  # (X, Y, Z)
        raise ValueError(f"translate: an array must be a slice (H, W) or a volume (X, Y, Z), got shape "
                         f"{input.shape}; for a stack of slices (N, H, W) call model.translate_slices")
    if not isinstance(input, (str, os.PathLike)):
        raise TypeError(f"translate: input must be a numpy array, a NIfTI file, a folder of them or a manifest.csv, "
                        f"got {type(input).__name__}")
    if out_dir is None:
        raise ValueError(f"translate: the outputs of {input} are written as NIfTI files; give out_dir")
    results = translate_inputs(model, input, out_dir, mask=mask, batch_size=batch_size, progress=progress,
                               mask_labels=mask_labels)
    return results if is_manifest(input) or Path(input).is_dir() else results[0]
