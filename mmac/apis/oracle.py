"""A diagnostic start for the unpaired training: F and G fitted to the synthetic cohort's truth.

The paper's argument is about an F that already removes the infiltration: under the symmetric cycle F must keep
traces of it in F(x) so that G can put it back, under L_AC it need not. Whether the unpaired losses keep such an F
or pull it away can be asked directly on the phantom, where every pathological slice x has its healthy
counterpart t: fit F to x -> t and G to t -> x by L1 (paired, supervised) on the training part of a fold, save
the model, and start the unpaired training from it (``load_from``). The test part of the fold is never used.

This needs the phantom's counterparts, so it is for the synthetic cohort only; it is not a training method.
``tools/oracle_start.py`` is its command line.
"""
from __future__ import annotations

import os
import os.path as osp
from collections.abc import Callable

import numpy as np
import torch

from mmac._validate import check_int, check_real

__all__ = ["training_patients", "truth_pairs", "pretrain_with_truth"]


def training_patients(data_root: str, fold: int, num_folds: int, manifest: str = "manifest.csv",
                      fold_seed: int = 0) -> list[str]:
    """The pathological subjects of the training part of ``fold`` (:func:`~mmac.datasets.folds.fold_subjects`,
    the split the dataset trains on), checked to have a healthy counterpart; nothing is loaded but the manifest.

    Returns:
        Their ids, sorted.

    Raises:
        ValueError: ``fold`` not in ``[0, num_folds)``, no patient in the training part, or a patient without a
            counterpart (the message names them and the manifest's ``counterpart`` column).
    """
    from mmac.datasets.folds import fold_subjects
    from mmac.datasets.manifest import read_manifest

    path = osp.join(data_root, manifest)
    records = read_manifest(path)
    train = set(fold_subjects([r.subject for r in records], [r.group for r in records], fold, num_folds,
                              fold_seed, "train"))
    patients = [r for r in records if r.subject in train and r.pathological]
    if not patients:
        raise ValueError(f"{path}: no patient in the training part of fold {fold} of {num_folds}")
    missing = [r.subject for r in patients if r.counterpart is None]
    if missing:
        raise ValueError(f"{path}: {', '.join(missing)} have no healthy counterpart (manifest column "
                         "'counterpart'); fitting to the truth needs the synthetic cohort's counterparts")
    return sorted(r.subject for r in patients)


def truth_pairs(data_root: str, fold: int, num_folds: int, size: int, manifest: str = "manifest.csv",
                fold_seed: int = 0) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Every slice of the training part of ``fold`` with its healthy counterpart, as the dataset serves them.

    The training part is :func:`training_patients`', read with the test split's loading (every axial slice, no
    augmentation).

    Returns:
        ``(x, t, subjects)``: pathological slices and their counterparts, each (N, H, W) float32 in [-1, 1] (the
        model's input scale), and the sorted subject ids.

    Raises:
        ValueError: As :func:`training_patients`.
    """
    from mmac.datasets.thigh_mr import ThighMRDataset

    subjects = training_patients(data_root, fold, num_folds, manifest, fold_seed)
    dataset = ThighMRDataset(manifest, data_root=data_root, split="val", subjects=subjects, size=size, pipeline=[],
                             annotation_every=1)
    items = [dataset.get_data_info(i) for i in range(len(dataset))]
    x = np.stack([item["img_pathological"].astype(np.float32).squeeze(-1) for item in items]) / 127.5 - 1.0
    t = np.stack([item["img_healthy_truth"].astype(np.float32).squeeze(-1) for item in items]) / 127.5 - 1.0
    return x.astype(np.float32), t.astype(np.float32), subjects


def _augment(batch: np.ndarray, k: int, flip: bool) -> np.ndarray:
    """The paper's augmentation, the same for x and t: rotation by k * 90 degrees, then a flip."""
    out = np.rot90(batch, k, axes=(1, 2))
    return np.ascontiguousarray(out[:, :, ::-1] if flip else out)


def pretrain_with_truth(model: torch.nn.Module, x: np.ndarray, t: np.ndarray, iters: int, out: str,
                        batch_size: int = 4, lr: float = 2e-4, seed: int = 0,
                        log: Callable[[str], None] | None = print) -> list[tuple[int, float, float]]:
    """Fit ``model``'s F to x -> t and G to t -> x by L1, then save the whole model as a checkpoint.

    Args:
        model: A :class:`~mmac.models.ModularCycleGAN` (generators ``'healthy'``: F, ``'pathological'``: G).
        x: Pathological slices, (N, H, W) in [-1, 1].
        t: Their counterparts, the same shape.
        iters: Adam steps, >= 1.
        out: Checkpoint path (``{'state_dict', 'meta'}``, as mmengine's ``load_from`` reads); written whole or
            not at all.
        batch_size: Slices per step. Defaults to 4.
        lr: Adam's learning rate (betas 0.5, 0.999 as the configs'). Defaults to 2e-4.
        seed: Seed of the batches and the augmentation. Defaults to 0.
        log: Called with a progress line every 100 steps; None for silence. Defaults to print.

    Returns:
        ``(step, L1 of F, L1 of G)`` every 100 steps and at the last, in grey levels of the 0-255 scale.

    Raises:
        ValueError: shapes that differ or are not (N, H, W), bad ``iters``, ``batch_size`` or ``lr``.
    """
    iters = check_int(iters, "iters", minimum=1)
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    lr = check_real(lr, "lr", minimum=0, exclusive_minimum=True)
    if x.shape != t.shape or x.ndim != 3:
        raise ValueError(f"x {x.shape} and t {t.shape} must be the same (N, H, W)")
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    f, g = model.generators["healthy"], model.generators["pathological"]
    optimizer = torch.optim.Adam(list(f.parameters()) + list(g.parameters()), lr=lr, betas=(0.5, 0.999))
    model.train()
    history = []
    for step in range(iters):
        chosen = rng.integers(0, len(x), batch_size)
        k, flip = int(rng.integers(0, 4)), bool(rng.integers(0, 2))
        xb = torch.from_numpy(_augment(x[chosen], k, flip))[:, None]
        tb = torch.from_numpy(_augment(t[chosen], k, flip))[:, None]
        loss_f, loss_g = (f(xb) - tb).abs().mean(), (g(tb) - xb).abs().mean()
        optimizer.zero_grad()
        (loss_f + loss_g).backward()
        optimizer.step()
        if step % 100 == 0 or step == iters - 1:
            history.append((step, loss_f.item() * 127.5, loss_g.item() * 127.5))
            if log is not None:
                log(f"step {step}: L1 F(x) - t {history[-1][1]:.2f}, G(t) - x {history[-1][2]:.2f} grey levels")
    tmp = f"{out}.tmp{os.getpid()}"
    try:
        torch.save({"state_dict": model.state_dict(), "meta": {"pretrained_with_truth": True}}, tmp)
        os.replace(tmp, out)
    finally:
        if osp.exists(tmp):
            os.remove(tmp)
    return history
