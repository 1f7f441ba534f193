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

The same healthy subjects also say what F does to a thigh that needs no change (:func:`healthy_change`). F maps
many pathological slices onto one healthy one, and a healthy slice is its own pseudo-healthy version: F(y)
should be y up to its noise. Each slice is scored with :func:`mmac.evaluation.faithfulness.faithfulness` taking
y as its own counterpart, so that nothing counts as infiltrated: ``change`` is the preservation score on the
whole thigh (MAE of F(y) to y over the noise's mean absolute value: 0 for the identity, about 1 for a perfect
denoiser) and ``bias_bright`` / ``bias_dark`` the signed mean shift of bright (fat, marrow) and darker tissue in
grey levels of the 0-255 scale. Unlike the phantom's preservation score it needs no truth, so it works on real
scans; healthy subjects of the run's test fold are held out from its training (``held_out``).

A G that takes a code (a latent cycle, :mod:`mmac.losses.latent_cycle`) is measured as its fakes were made in
training: with ``fake_codes='posterior'`` each healthy slice gets the code the encoder infers from a real slice of
one of the patients of a group (:func:`mmac.apis.latent_codes.code_translator`), otherwise a draw from the prior.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from mmac._validate import check_choice
from mmac.evaluation.fat_fraction import fat_fraction_estimate

__all__ = ["synthetic_fat_fraction", "healthy_change", "coverage_subjects", "pathology_coverage", "model_coverage",
           "run_coverage", "CHANGE_KEYS"]

CHANGE_KEYS = ("change", "bias_bright", "bias_dark")  # healthy_change's scores, in the rows of healthy subjects


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


def healthy_change(healthy: np.ndarray, translated: np.ndarray) -> dict[str, float]:
    """How much F changed healthy slices, which it should leave as they are (see the module docstring).

    Args:
        healthy: y, (N, H, W) in [0, 1].
        translated: F(y), same shape and scale.

    Returns:
        ``change`` (mean over slices of MAE(F(y), y) on the thigh / the noise's mean absolute value),
        ``bias_bright`` and ``bias_dark`` (mean over slices of the mean F(y) - y on tissue above / at or below 60 %
        of the range, in grey levels of the 0-255 scale). Slices where a score is undefined (too little thigh or
        air, :data:`~mmac.evaluation.faithfulness.MIN_REGION_PIXELS`) are left out of its mean; NaN when no slice
        has it.

    Raises:
        ValueError: Shapes differ or are not (N, H, W).
    """
    from mmac.evaluation.faithfulness import faithfulness

    healthy, translated = np.asarray(healthy, np.float64), np.asarray(translated, np.float64)
    if healthy.shape != translated.shape or healthy.ndim != 3:
        raise ValueError(f"healthy {healthy.shape} and translated {translated.shape} must be the same (N, H, W)")
    scores = [faithfulness(y, fy, y, data_range=1.0) for y, fy in zip(healthy, translated, strict=True)]
    out = {}
    for key, source, scale in (("change", "preservation", 1.0), ("bias_bright", "bias_bright", 255.0),
                               ("bias_dark", "bias_dark", 255.0)):
        values = np.array([s[source] for s in scores], np.float64)
        values = values[np.isfinite(values)]
        out[key] = float(values.mean() * scale) if values.size else float("nan")
    return out


def coverage_subjects(records: Sequence, every: int = 4, mask_labels=None) -> list[dict]:
    """What :func:`pathology_coverage` needs of a cohort, loaded once for any number of models.

    Args:
        records: Manifest rows (:func:`mmac.datasets.manifest.read_manifest`).
        every: Use every ``every``-th axial slice that holds muscle. Defaults to 4.
        mask_labels: Mask labels that are muscle (None: every non-zero label). Defaults to None.

    Returns:
        One dict per usable subject, with ``subject`` and ``group``: a healthy subject has ``slices`` (its
        normalised slices, (N, H, W) in [0, 1]) and ``mask`` (bool, same shape; None when the manifest gives it
        no mask, as real cohorts may: its slices are then every ``every``-th one that holds the thigh, more than
        1 % of its pixels above 10 % of the range); a patient with a fat-fraction map has ``fat_fraction``, the
        map's mean over the muscle mask on those slices, and ``patient_slices``, those slices (normalised, the
        codes a latent G can take). Other patients are left out.
    """
    from mmac.datasets.manifest import load_subject, volume_to_slices

    subjects = []
    for record in records:
        healthy = not record.pathological
        if not healthy and record.fat_fraction is None:
            continue
        volume = load_subject(record, load_counterpart=False, load_fat_fraction=not healthy,
                              mask_labels=mask_labels)
        entry = dict(subject=record.subject, group=record.group)
        if volume.mask is None:  # a healthy subject without a mask (a patient always has one)
            slices = volume_to_slices(volume.image)
            keep = np.flatnonzero((slices > 0.1).mean(axis=(1, 2)) > 0.01)[::every]
            entry.update(slices=slices[keep], mask=None)
            subjects.append(entry)
            continue
        mask = volume_to_slices(volume.mask)
        keep = np.flatnonzero(mask.any(axis=(1, 2)))[::every]
        if healthy:
            entry.update(slices=volume_to_slices(volume.image)[keep], mask=mask[keep])
        else:
            entry.update(fat_fraction=float(volume_to_slices(volume.fat_fraction)[keep][mask[keep]].mean()),
                         patient_slices=volume_to_slices(volume.image)[keep])
        subjects.append(entry)
    return subjects


def pathology_coverage(translate: Callable[[np.ndarray], np.ndarray], subjects: Sequence[dict],
                       translate_healthy: Callable[[np.ndarray], np.ndarray] | None = None) -> list[dict]:
    """Per subject: G's synthetic fat fraction (healthy subjects) or the real one (patients with a map).

    Args:
        translate: G on normalised slices, (N, H, W) in [0, 1] -> same (e.g. ``Translator.translate_slices`` of
            the ``'pathological'`` generator).
        subjects: :func:`coverage_subjects` of the cohort.
        translate_healthy: F, the same way (the ``'healthy'`` generator), or None. Defaults to None.

    Returns:
        Rows ``dict(subject, group, source, fat_fraction)``: ``source`` is ``'G(y)'`` for a healthy subject
        (its slices translated by ``translate``; ``fat_fraction`` NaN without a muscle mask), ``'real'`` for a
        patient. With ``translate_healthy``, the rows of healthy subjects also carry :func:`healthy_change` of F
        on their slices (:data:`CHANGE_KEYS`), with or without a mask.
    """
    rows = []
    for entry in subjects:
        healthy = 'slices' in entry
        if healthy and entry['mask'] is None:
            value = float('nan')  # G's fat fraction is measured on the muscle, which has no mask here
        elif healthy:
            value = synthetic_fat_fraction(entry['slices'], np.asarray(translate(entry['slices'])), entry['mask'])
        else:
            value = entry['fat_fraction']
        row = dict(subject=entry['subject'], group=entry['group'], source='G(y)' if healthy else 'real',
                   fat_fraction=value)
        if healthy and translate_healthy is not None:
            row.update(healthy_change(entry['slices'], np.asarray(translate_healthy(entry['slices']))))
        rows.append(row)
    return rows


CODES = ('prior', 'posterior')  # where a latent G's codes come from in model_coverage


def model_coverage(config, checkpoint, every: int = 4, device: str = 'cpu',
                   cohorts: dict | None = None, codes: str | None = None, code_group: str = 'severe',
                   seed: int = 0) -> list[dict]:
    """:func:`pathology_coverage` of a trained model's G on the cohort its config names (``data_root``).

    Args:
        config: The model's config (path or ``Config``), e.g. a run's ``run_config.py``.
        checkpoint: Its checkpoint.
        every: See :func:`coverage_subjects`.
        device: Torch device. Defaults to ``'cpu'``.
        cohorts: A dict shared by the calls for several models: each cohort is loaded once and kept there.
            None loads it for this call only. Defaults to None.
        codes: For a G that takes a code (a latent cycle): ``'posterior'`` gives each healthy slice the code of a
            real slice of a ``code_group`` patient (:func:`mmac.apis.latent_codes.code_translator`, seeded by
            ``seed``), ``'prior'`` a prior draw. None: as its fakes were made in training (the latent cycle's
            ``fake_codes``; ``'prior'`` for every other model). Defaults to None.
        code_group: The group whose slices give the codes. Defaults to 'severe'.
        seed: Seed of the code pairing. Defaults to 0.

    Returns:
        The rows of :func:`pathology_coverage` with F's :func:`healthy_change` on healthy subjects, each of
        which also has ``held_out``: True when the subject is in the test part of the config's fold (never
        seen in training), False otherwise (every subject is a training one when the config sets no fold), and
        ``codes``: ``'posterior'``, ``'prior'`` or ``'none'`` (a G without a code).

    Raises:
        FileNotFoundError: The config, the checkpoint or the cohort's manifest is missing.
        ValueError: ``codes`` not one of :data:`CODES` or None; ``'posterior'`` for a G without a latent cycle,
            or a cohort without ``code_group`` patients that have a fat-fraction map and a mask.
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
        records = read_manifest(manifest)
        cohorts[key] = (records, coverage_subjects(records, every=every, mask_labels=mask_labels))
    records, subjects = cohorts[key]
    g = init_translator(cfg, checkpoint, device=device, direction='pathological')
    f = init_translator(cfg, checkpoint, device=device, direction='healthy')
    latent = getattr(g.model, 'latent_cycle_loss', None)
    if codes is not None:
        check_choice(codes, CODES, 'codes')
    used = codes or (latent.fake_codes if latent is not None else 'prior')
    translate = g.translate_slices
    if used == 'posterior':
        if latent is None:
            raise ValueError(f"{config}: codes='posterior' needs a G that takes a code (a latent cycle); this "
                             "model has none")
        from mmac.apis.latent_codes import code_translator

        code_slices = [e['patient_slices'] for e in subjects if e['group'] == code_group and 'patient_slices' in e]
        if not code_slices:
            groups = sorted({e['group'] for e in subjects if 'patient_slices' in e})
            raise ValueError(f"{manifest}: no {code_group!r} patient with a fat-fraction map and a mask to take "
                             f"codes from; groups that have them: {groups or 'none'}")
        translate = g.fitted(code_translator(g.model, g.to_model_size(np.concatenate(code_slices)), seed=seed))
    rows = pathology_coverage(translate, subjects, translate_healthy=f.translate_slices)
    held_out = _test_subjects(cfg.test_dataloader.dataset, records)
    for row in rows:
        if row['source'] == 'G(y)':
            row.update(held_out=row['subject'] in held_out, codes=used if latent is not None else 'none')
    return rows


def _test_subjects(dataset_cfg, records) -> set:
    """Subjects of the test part of a dataset config's fold (none when it sets no fold or lists subjects)."""
    from mmac.datasets.folds import fold_subjects

    if dataset_cfg.get('subjects') is not None or dataset_cfg.get('fold') is None:
        return set(dataset_cfg.get('subjects') or ())
    return set(fold_subjects([r.subject for r in records], [r.group for r in records], dataset_cfg.fold,
                             dataset_cfg.get('num_folds', 5), dataset_cfg.get('fold_seed', 0)))


def run_coverage(work_dir: str, every: int = 4, device: str = 'cpu', cohorts: dict | None = None,
                 codes: str | None = None) -> list[dict]:
    """:func:`model_coverage` of a training run's work dir (config and last checkpoint found by
    :func:`mmac.runner.launch.find_run`); each row gets ``run`` = ``work_dir``.

    Raises:
        FileNotFoundError: No config or checkpoint in ``work_dir``, or the cohort's manifest is missing.
    """
    from mmac.runner.launch import find_run

    config, checkpoint = find_run(work_dir)
    return [dict(run=work_dir, **row)
            for row in model_coverage(config, checkpoint, every=every, device=device, cohorts=cohorts, codes=codes)]
