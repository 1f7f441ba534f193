"""Does G's synthetic pathology cover the real one? The fat fraction G adds to healthy muscle, beside the cohort's.

Under the asymmetric loss L_AC, the only loss that trains F on inputs with a known healthy answer is the healthy
cycle F(G(y)) = y: F learns to remove the pathology G makes. Where G's pathology is milder than the patients'
(a deterministic G facing a mix of moderate and severe patients tends to make one in-between grade), F meets
the severe slices outside what the cycle taught it, guided by the adversarial loss alone.

The synthetic fat fraction of a healthy slice y is the fat-fraction estimate of
:func:`mmac.evaluation.fat_fraction.fat_fraction_estimate` with G(y) as the infiltrated slice and y as its
pseudo-healthy version, ``clip((G(y) - y) / (1 - y), 0, 1)``, averaged over y's muscle mask. The real fat
fraction of a patient is the mean of its fat-fraction map over its muscle mask (the phantom writes one; real
scans have none, and their rows are left out).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from mmac.evaluation.fat_fraction import fat_fraction_estimate

__all__ = ["synthetic_fat_fraction", "coverage_subjects", "pathology_coverage", "model_coverage", "run_coverage"]


def synthetic_fat_fraction(healthy: np.ndarray, synthetic: np.ndarray, mask: np.ndarray) -> float:
    """Mean fat fraction that G added to the muscle of healthy slices.

    Args:
        healthy: y, (N, H, W) in [0, 1] (fat at 1).
        synthetic: G(y), same shape and scale.
        mask: Muscle mask of y, bool, same shape.

    Returns:
        Mean of ``clip((G(y) - y) / (1 - y), 0, 1)`` over the mask.

    Raises:
        ValueError: Shapes differ, or the mask is empty.
    """
    healthy, synthetic, mask = np.asarray(healthy), np.asarray(synthetic), np.asarray(mask, bool)
    if healthy.shape != synthetic.shape or healthy.shape != mask.shape:
        raise ValueError(f"healthy {healthy.shape}, synthetic {synthetic.shape} and mask {mask.shape} must have "
                         "the same shape")
    if not mask.any():
        raise ValueError("the muscle mask is empty")
    return float(fat_fraction_estimate(synthetic, healthy)[mask].mean())


def coverage_subjects(records: Sequence, every: int = 4, mask_labels=None) -> list[dict]:
    """What :func:`pathology_coverage` needs of a cohort, loaded once for any number of models.

    Args:
        records: Manifest rows (:func:`mmac.datasets.manifest.read_manifest`).
        every: Use every ``every``-th axial slice that holds muscle. Defaults to 4.
        mask_labels: Mask labels that are muscle (None: every non-zero label). Defaults to None.

    Returns:
        One dict per usable subject, with ``subject`` and ``group``: a healthy subject with a muscle mask has
        ``slices`` (its normalised slices, (N, H, W) in [0, 1]) and ``mask`` (bool, same shape); a patient with a
        fat-fraction map has ``fat_fraction``, the map's mean over the muscle mask on those slices. Others are
        left out.
    """
    from mmac.datasets.manifest import load_subject, volume_to_slices

    subjects = []
    for record in records:
        healthy = not record.pathological
        if (healthy and record.mask is None) or (not healthy and record.fat_fraction is None):
            continue
        volume = load_subject(record, load_counterpart=False, load_fat_fraction=not healthy,
                              mask_labels=mask_labels)
        mask = volume_to_slices(volume.mask)
        keep = np.flatnonzero(mask.any(axis=(1, 2)))[::every]
        entry = dict(subject=record.subject, group=record.group)
        if healthy:
            entry.update(slices=volume_to_slices(volume.image)[keep], mask=mask[keep])
        else:
            entry.update(fat_fraction=float(volume_to_slices(volume.fat_fraction)[keep][mask[keep]].mean()))
        subjects.append(entry)
    return subjects


def pathology_coverage(translate: Callable[[np.ndarray], np.ndarray], subjects: Sequence[dict]) -> list[dict]:
    """Per subject: G's synthetic fat fraction (healthy subjects) or the real one (patients with a map).

    Args:
        translate: G on normalised slices, (N, H, W) in [0, 1] -> same (e.g. ``Translator.translate_slices`` of
            the ``'pathological'`` generator).
        subjects: :func:`coverage_subjects` of the cohort.

    Returns:
        Rows ``dict(subject, group, source, fat_fraction)``: ``source`` is ``'G(y)'`` for a healthy subject
        (its slices translated by ``translate``), ``'real'`` for a patient.
    """
    rows = []
    for entry in subjects:
        healthy = 'slices' in entry
        value = (synthetic_fat_fraction(entry['slices'], np.asarray(translate(entry['slices'])), entry['mask'])
                 if healthy else entry['fat_fraction'])
        rows.append(dict(subject=entry['subject'], group=entry['group'], source='G(y)' if healthy else 'real',
                         fat_fraction=value))
    return rows


def model_coverage(config, checkpoint, every: int = 4, device: str = 'cpu',
                   cohorts: dict | None = None) -> list[dict]:
    """:func:`pathology_coverage` of a trained model's G on the cohort its config names (``data_root``).

    Args:
        config: The model's config (path or ``Config``), e.g. a run's ``run_config.py``.
        checkpoint: Its checkpoint.
        every: See :func:`coverage_subjects`.
        device: Torch device. Defaults to ``'cpu'``.
        cohorts: A dict shared by the calls for several models: each cohort is loaded once and kept there.
            None loads it for this call only. Defaults to None.

    Returns:
        The rows of :func:`pathology_coverage`.

    Raises:
        FileNotFoundError: The config, the checkpoint or the cohort's manifest is missing.
    """
    from mmengine.config import Config

    from mmac.apis.inference import init_translator, model_manifest
    from mmac.datasets.manifest import read_manifest

    cfg = config if isinstance(config, Config) else Config.fromfile(str(config))
    manifest = model_manifest(cfg)
    if not manifest.is_file():
        raise FileNotFoundError(f"{config}: the model's cohort manifest {manifest} does not exist")
    mask_labels = cfg.test_dataloader.dataset.get('mask_labels')
    key = (str(manifest.resolve()), every, None if mask_labels is None else tuple(mask_labels))
    cohorts = {} if cohorts is None else cohorts
    if key not in cohorts:
        cohorts[key] = coverage_subjects(read_manifest(manifest), every=every, mask_labels=mask_labels)
    generator = init_translator(cfg, checkpoint, device=device, direction='pathological')
    return pathology_coverage(generator.translate_slices, cohorts[key])


def run_coverage(work_dir: str, every: int = 4, device: str = 'cpu', cohorts: dict | None = None) -> list[dict]:
    """:func:`model_coverage` of a training run's work dir (config and last checkpoint found by
    :func:`mmac.engine.launch.find_run`); each row gets ``run`` = ``work_dir``.

    Raises:
        FileNotFoundError: No config or checkpoint in ``work_dir``, or the cohort's manifest is missing.
    """
    from mmac.engine.launch import find_run

    config, checkpoint = find_run(work_dir)
    return [dict(run=work_dir, **row)
            for row in model_coverage(config, checkpoint, every=every, device=device, cohorts=cohorts)]
