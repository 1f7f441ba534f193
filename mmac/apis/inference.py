"""Apply a trained generator to slices and volumes: F(x), the pseudo-healthy translation.

Gadermayr et al., "An Asymmetric Cycle-Consistency Loss for Dealing with Many-to-One Mappings in Image
Translation: A Study on Thigh MR Scans" (ISBI 2021) translate fat-infiltrated thigh MR slices x into
pseudo-healthy slices F(x) with the generator ``F = generators['healthy']`` of a CycleGAN and segment the
muscle on F(x) by two intensity thresholds. This module loads such a model from an mmengine config and
checkpoint and runs F outside the mmengine runner.

The entry points follow mmagic's ``mmagic.apis``: :func:`init_model` loads a model from a config and a checkpoint,
or from a training run's work dir alone, and :func:`~mmac.apis.api.translate` applies it to an array, a NIfTI
file or a study's manifest::

    from mmac.apis import init_model, translate
    model = init_model("work_dirs/ac_cyclegan_thigh")               # its config and latest checkpoint
    fx = translate(model, x)                                         # (H, W) in [0, 1] -> (H, W) F(x)
    result = translate(model, "scan.nii.gz", out_dir="translated")  # writes scan_pseudohealthy.nii.gz ...

Intensities follow the dataset (:mod:`mmac.datasets.thigh_mr`): slices normalised per volume to [0, 1] are
scaled to [0, 255] and normalised like the model's ``DataPreprocessor`` (``(v - mean) / std``, mean = std =
127.5 by default, read from the model), so the generator sees [-1, 1]; its tanh output is mapped back the same
way and returned in [0, 1].
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from mmac._validate import check_choice, check_int
from mmac.datasets.manifest import slices_to_volume, volume_to_slices

__all__ = ["Translator", "init_model", "init_translator", "load_model_config", "model_image_size"]


def _scalar(value: Any, default: float, what: str) -> float:
    """One float from a scalar, a 1-element sequence or a (1, 1, 1) tensor buffer."""
    if value is None:
        return default
    array = np.asarray(value.detach().cpu() if isinstance(value, torch.Tensor) else value, dtype=np.float64)
    if array.size != 1:
        raise ValueError(f"the model's data preprocessor {what} must be one value (1-channel images), got "
                         f"{array.ravel().tolist()}")
    return float(array.ravel()[0])


def model_manifest(cfg) -> Path:
    """The cohort manifest a model's config names: its test dataset's ``manifest`` (default ``manifest.csv``)
    under the dataset's ``data_root``, else under the config's top-level ``data_root``. Relative paths are
    returned as they are (relative to where the config is used from)."""
    dataset = cfg.test_dataloader.dataset
    manifest = Path(dataset.get("manifest", "manifest.csv"))
    if manifest.is_absolute():
        return manifest
    return Path(dataset.get("data_root") or cfg.get("data_root") or "") / manifest


def model_image_size(cfg) -> tuple[int | None, str]:
    """The slice size and resize mode the model was trained and tested with, from its config.

    Looks at ``test_dataloader``, ``val_dataloader`` and ``train_dataloader`` (``dataset.size`` and
    ``dataset.resize_mode``), then the top-level ``image_size``.

    Returns:
        ``(size, resize_mode)``; size None when the config names none, mode ``'fit'`` (ThighMRDataset's
        default) when it names none.
    """
    for key in ("test_dataloader", "val_dataloader", "train_dataloader"):
        dataset = (cfg.get(key) or {}).get("dataset") or {}
        if dataset.get("size") is not None:
            return int(dataset["size"]), str(dataset.get("resize_mode", "fit"))
    size = cfg.get("image_size")
    return (int(size) if size is not None else None), "fit"


class Translator:
    """A generator of a trained CycleGAN, ready to translate normalised slices or volumes.

    Build it with :func:`init_translator`.

    Args:
        model: The CycleGAN (``ModularCycleGAN`` or mmagic's ``CycleGAN``) with loaded weights.
        direction: Target domain; ``model.generators[direction]`` is run. ``'healthy'`` is F
            (pathological -> pseudo-healthy). Defaults to ``'healthy'``.
        image_size: Slice size the model was trained on; other sizes are fitted to it (see
            :meth:`translate_slices`). None: slices are translated at their own size. Defaults to None.
        resize_mode: How slices were brought to ``image_size`` in training (``'resize'``, ``'pad'`` or
            ``'fit'``, see :func:`mmac.datasets.thigh_mr.fit_slices`). Defaults to ``'fit'``.
        device: Torch device. Defaults to ``'cpu'``.
        cfg: The model's mmengine ``Config``, kept as ``self.cfg`` (as mmagic's ``init_model`` keeps
            ``model.cfg``); :func:`~mmac.apis.api.translate` reads its mask labels. Defaults to None.

    Raises:
        ValueError: ``direction`` is not a domain of the model, or ``image_size`` is not divisible by
            ``2**num_down`` of the generator.
    """

    def __init__(self, model: torch.nn.Module, direction: str = "healthy", image_size: int | None = None,
                 resize_mode: str = "fit", device: str | torch.device = "cpu", cfg=None) -> None:
        generators = getattr(model, "generators", None)
        if generators is None:
            raise TypeError(f"expected a CycleGAN-style model with a 'generators' dict, got {type(model).__name__}")
        generators = getattr(generators, "module", generators)
        domains = list(getattr(model, "_reachable_domains", None) or generators)  # not a latent encoder
        if direction not in domains:
            raise ValueError(f"direction {direction!r} is not a domain of the model; allowed: {sorted(domains)} "
                             "('healthy' is F: pathological -> pseudo-healthy)")
        check_choice(resize_mode, ("resize", "pad", "fit"), "resize_mode")
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.direction = direction
        self.generator = generators[direction]
        self.dims = int(getattr(self.generator, "dims", 2))
        self.num_down = getattr(self.generator, "num_down", None)
        preprocessor = getattr(model, "data_preprocessor", None)
        self.mean = _scalar(getattr(preprocessor, "mean", None), 127.5, "mean")
        self.std = _scalar(getattr(preprocessor, "std", None), 127.5, "std")
        self.image_size = image_size
        self.resize_mode = resize_mode
        self.cfg = cfg
        if image_size is not None:
            self._check_divisible((image_size, image_size), "the model's image size (from its config)")

    # ------------------------------------------------------------------ helpers
    @property
    def divisor(self) -> int:
        """Every spatial size the generator sees must be a multiple of this (``2**num_down``)."""
        return 2 ** self.num_down if self.num_down else 1

    def _check_divisible(self, spatial: tuple[int, ...], what: str) -> None:
        if any(s % self.divisor for s in spatial):
            raise ValueError(f"{what} {tuple(spatial)} is not divisible by 2**num_down = {self.divisor} "
                             f"(num_down={self.num_down}): the U-Net halves the size {self.num_down} times; pad or "
                             f"crop to a multiple of {self.divisor}, or let the translator fit slices to the "
                             f"training size (fit=True)")

    def _run(self, batch: np.ndarray) -> np.ndarray:
        """Generator on (N, H, W) slices in [0, 1] (2D) or one (D, H, W) volume (3D); same shape in [0, 1]."""
        x = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32)).to(self.device)
        x = (x * 255.0 - self.mean) / self.std  # [0, 1] -> [0, 255] -> [-1, 1], like DataPreprocessor
        x = x[:, None] if self.dims == 2 else x[None, None]  # (N, 1, H, W) or (1, 1, D, H, W)
        with torch.no_grad():
            y = self.generator(x)
        y = (y * self.std + self.mean) / 255.0  # back to [0, 1]
        y = y[:, 0] if self.dims == 2 else y[0, 0]  # (N, H, W) or (D, H, W)
        return y.clamp_(0.0, 1.0).cpu().numpy()

    def _to_model_size(self, slices: np.ndarray) -> np.ndarray:
        from mmac.datasets.thigh_mr import fit_slices

        return fit_slices(slices, self.image_size, mode=self.resize_mode)

    def _from_model_size(self, slices: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        """Inverse of :meth:`_to_model_size`: (N, S, S) -> (N, H, W)."""
        h, w = shape
        size = self.image_size
        if self.resize_mode == "resize":
            return _resample(slices, (h, w))
        if self.resize_mode == "fit":
            scale = size / max(h, w)
            inner = (max(1, round(h * scale)), max(1, round(w * scale)))
            return _resample(_centre_pad_crop(slices, inner), (h, w))
        return _centre_pad_crop(slices, (h, w))  # 'pad'

    # ------------------------------------------------------------------ public
    def to_model_size(self, slices: np.ndarray) -> np.ndarray:
        """(N, H, W) slices brought to the training size as :meth:`translate_slices` fits them; unchanged when
        they have it or the config names none."""
        size = self.image_size
        return slices if size is None or slices.shape[1:] == (size, size) else self._to_model_size(slices)

    def fitted(self, run: Callable[[np.ndarray], np.ndarray]) -> Callable[[np.ndarray], np.ndarray]:
        """``run`` (a translation of (N, S, S) slices at the training size, in [0, 1]) on (N, H, W) slices of any
        size: fitted to the training size (:meth:`to_model_size`), run, brought back and clipped to [0, 1], float32,
        as :meth:`translate_slices` does with the generator. Also a G run another way (e.g. with given codes)."""
        def apply(slices: np.ndarray) -> np.ndarray:
            work = self.to_model_size(slices)
            out = run(work)
            if work is not slices:
                out = self._from_model_size(out, tuple(slices.shape[1:]))
            return np.clip(out, 0.0, 1.0).astype(np.float32)

        return apply

    def translate_slices(self, slices: np.ndarray, batch_size: int = 16, fit: bool = True,
                         progress: bool = False) -> np.ndarray:
        """Translate axial slices.

        Slices whose size differs from the training size are brought to it as in training
        (:func:`~mmac.datasets.thigh_mr.fit_slices` with the config's ``resize_mode``: aspect-preserving
        bilinear resize and padding by default), translated, and brought back to their size by the inverse
        operation (bilinear resize; for ``'pad'``, centre crop/pad, so content cropped away in training comes
        back as 0). With ``fit=False``
        they are translated at their own size instead, which must be divisible by ``2**num_down``.

        A 3D generator (``UNetGenerator(dims=3)``) translates the stack as one volume (D=N, H, W) at its own
        size (no fitting); every size must be divisible by ``2**num_down``.

        Args:
            slices: (N, H, W) intensities normalised to [0, 1] (the dataset's per-volume percentiles).
            batch_size: Slices per forward pass (2D). Defaults to 16.
            fit: Fit slices of another size to the training size and back. Defaults to True.
            progress: Show a tqdm progress bar over batches. Defaults to False.

        Returns:
            (N, H, W) float32 translations in [0, 1].

        Raises:
            TypeError: ``slices`` is not a real numeric array, ``batch_size`` not an integer.
            ValueError: Not (N, H, W), empty, NaN/inf, values outside [0, 1], ``batch_size < 1``, or a size the
                U-Net cannot take.
        """
        slices = np.asarray(slices)
        if slices.dtype.kind not in "fiub":
            raise TypeError(f"slices must be a real numeric array, got dtype {slices.dtype}")
        if slices.ndim != 3 or 0 in slices.shape:
            raise ValueError(f"slices must have shape (N, H, W) with N, H, W > 0, got {slices.shape}")
        batch_size = check_int(batch_size, "batch_size", minimum=1)
        slices = slices.astype(np.float32, copy=False)
        if not np.isfinite(slices).all():
            raise ValueError(f"slices hold {int((~np.isfinite(slices)).sum())} NaN/inf value(s)")
        lo, hi = float(slices.min()), float(slices.max())
        if lo < -1e-6 or hi > 1 + 1e-6:
            raise ValueError(f"slices must be normalised to [0, 1] (see mmac.datasets.manifest.normalise), got "
                             f"values in [{lo:g}, {hi:g}]")
        slices = np.clip(slices, 0.0, 1.0)

        if self.dims == 3:
            self._check_divisible(slices.shape, "the volume size (D, H, W)")
            return self._run(slices).astype(np.float32)

        starts = range(0, len(slices), batch_size)
        if progress:
            from tqdm import tqdm

            starts = tqdm(starts, desc="translating", unit="batch", total=len(starts))

        def run(work: np.ndarray) -> np.ndarray:  # (N, S, S) at the size the generator gets
            return np.concatenate([self._run(work[s:s + batch_size]) for s in starts])

        shape = tuple(slices.shape[1:])
        if fit and self.image_size is not None and shape != (self.image_size, self.image_size):
            return self.fitted(run)(slices)
        self._check_divisible(shape, "the slice size (H, W)")
        return np.clip(run(slices), 0.0, 1.0).astype(np.float32)

    def translate_volume(self, volume: np.ndarray, batch_size: int = 16, fit: bool = True,
                         progress: bool = False) -> np.ndarray:
        """Translate a canonical (RAS) normalised volume (X, Y, Z) slice by slice along Z.

        The volume is cut into axial slices in display convention
        (:func:`~mmac.datasets.manifest.volume_to_slices`, as the dataset does), translated with
        :meth:`translate_slices` and put back (:func:`~mmac.datasets.manifest.slices_to_volume`). A 3D
        generator gets the whole volume at once.

        Args:
            volume: (X, Y, Z) intensities in [0, 1], canonical RAS.
            batch_size: See :meth:`translate_slices`. Defaults to 16.
            fit: See :meth:`translate_slices`. Defaults to True.
            progress: See :meth:`translate_slices`. Defaults to False.

        Returns:
            (X, Y, Z) float32 translation in [0, 1].

        Raises:
            ValueError: ``volume`` is not 3D; see also :meth:`translate_slices`.
        """
        volume = np.asarray(volume)
        if volume.ndim != 3:
            raise ValueError(f"volume must have shape (X, Y, Z), got {volume.shape}")
        out = self.translate_slices(volume_to_slices(volume), batch_size=batch_size, fit=fit, progress=progress)
        return slices_to_volume(out)


def _resample(slices: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Bilinear (antialiased when shrinking) resize of (N, H, W) to (N, *shape)."""
    if tuple(slices.shape[1:]) == tuple(shape):
        return np.ascontiguousarray(slices, dtype=np.float32)
    t = torch.from_numpy(np.ascontiguousarray(slices, dtype=np.float32))[:, None]  # (N, 1, H, W)
    down = shape[0] < slices.shape[1] or shape[1] < slices.shape[2]
    t = F.interpolate(t, size=tuple(shape), mode="bilinear", align_corners=False, antialias=down)
    return t[:, 0].numpy()  # (N, *shape)


def _centre_pad_crop(slices: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Centre crop or zero-pad (N, H, W) to (N, *shape), with the offsets of ``fit_slices``."""
    n, h, w = slices.shape
    th, tw = shape
    out = np.zeros((n, th, tw), dtype=slices.dtype)
    ch, cw = min(h, th), min(w, tw)
    sy, sx = (h - ch) // 2, (w - cw) // 2
    dy, dx = (th - ch) // 2, (tw - cw) // 2
    out[:, dy:dy + ch, dx:dx + cw] = slices[:, sy:sy + ch, sx:sx + cw]
    return out


def load_model_config(config):
    """An mmengine ``Config`` from a path, or ``config`` itself when it is one.

    Raises:
        FileNotFoundError: The config file does not exist.
        TypeError: ``config`` is neither a path nor a ``Config``.
    """
    from mmengine.config import Config

    if isinstance(config, (str, Path)):
        if not Path(config).is_file():
            raise FileNotFoundError(f"config file {config} does not exist")
        return Config.fromfile(str(config))
    if isinstance(config, Config):
        return config
    raise TypeError(f"config must be a path or an mmengine Config, got {type(config).__name__}")


def init_translator(config, checkpoint: str | Path, device: str | torch.device = "cpu",
                    direction: str = "healthy") -> Translator:
    """Build the model of ``config``, load ``checkpoint`` and return its generator as a :class:`Translator`.

    Args:
        config: Path of an mmengine config (e.g. the ``config.py`` dumped in a work dir) or a ``Config``.
        checkpoint: An mmengine checkpoint (``iter_<n>.pth``) of that model.
        device: Torch device. Defaults to ``'cpu'``.
        direction: Target domain of the generator to run; ``'healthy'`` is F. Defaults to ``'healthy'``.

    Returns:
        The translator, in eval mode.

    Raises:
        FileNotFoundError: The config or the checkpoint does not exist.
        TypeError: ``config`` is neither a path nor a ``Config``.
        ValueError: See :class:`Translator`; or the checkpoint's weights do not fit the config's model
            (missing or unexpected keys, other shapes).
    """
    from mmac.registry import register_all_modules

    register_all_modules()  # mmac's components and the weights-only checkpoint loader
    from mmengine.registry import init_default_scope

    from mmac.checkpoint import load_checkpoint_strict

    cfg = load_model_config(config)
    if not Path(checkpoint).is_file():
        raise FileNotFoundError(f"checkpoint {checkpoint} does not exist")
    init_default_scope(cfg.get("default_scope", "mmagic"))
    from mmagic.registry import MODELS

    model = MODELS.build(cfg.model)
    load_checkpoint_strict(model, checkpoint)
    size, mode = model_image_size(cfg)
    return Translator(model, direction=direction, image_size=size, resize_mode=mode, device=device, cfg=cfg)


def _model_files(config, checkpoint) -> tuple:
    """``(config, checkpoint)`` for :func:`init_model`: a work dir becomes its latest checkpoint and (where
    ``config`` is None) its config."""
    if checkpoint is None and isinstance(config, (str, Path)) and Path(config).is_dir():
        config, checkpoint = None, config  # init_model(WORK_DIR)
    if checkpoint is None:
        raise ValueError(f"init_model needs a checkpoint or a work dir, got the config {config} alone: a model "
                         "without trained weights would translate nothing")
    if not isinstance(checkpoint, (str, Path)):
        raise TypeError(f"checkpoint must be a path (a .pth file or a work dir), got {type(checkpoint).__name__}")
    if not Path(checkpoint).exists():
        raise FileNotFoundError(f"checkpoint or work dir {checkpoint} does not exist")
    if not Path(checkpoint).is_dir():
        if config is None:
            raise ValueError(f"init_model: {checkpoint} is a checkpoint file, not a work dir; give its config too, "
                             "init_model(CONFIG, CHECKPOINT)")
        return config, Path(checkpoint)
    from mmac.runner.launch import find_run

    found_config, found = find_run(str(checkpoint))  # both inside the work dir, wherever it now lies
    return (found_config if config is None else config), Path(found)


def init_model(config=None, checkpoint: str | Path | None = None, device: str | torch.device = "cpu",
               direction: str = "healthy") -> Translator:
    """Load a trained model for :func:`~mmac.apis.api.translate`, in the manner of mmagic's ``init_model``.

    Any of ``init_model(CONFIG, CHECKPOINT)``, ``init_model(WORK_DIR)`` or ``init_model(None, WORK_DIR)`` (the
    config mmengine dumped into the work dir), and ``init_model(CONFIG, WORK_DIR)`` (that config, the work dir's
    checkpoint). A work dir's checkpoint is the one its ``last_checkpoint`` file names, looked up by file name
    inside the work dir (a moved or copied work dir loads its own file, never the original folder's), else its
    ``iter_<n>.pth`` / ``epoch_<n>.pth`` with the largest ``n`` (:func:`mmac.runner.launch.find_run`).

    Known harmless third-party warnings raised while the model is built (:data:`mmac._compat.THIRD_PARTY_NOISE`:
    pkg_resources, transformers' pytree deprecation, mmcv's conv-bias note) are not shown; the process's warning
    filters are left as they were.

    Args:
        config: Path of an mmengine config or a ``Config``; None with a work dir as ``checkpoint``: the work
            dir's config. A work dir here, with ``checkpoint`` None, is taken as the work dir. Defaults to None.
        checkpoint: An mmengine checkpoint (``iter_<n>.pth``) of that model, or a training run's work dir
            (``tools/train.py --work-dir`` or a grid's ``OUT/runs/<run>``). Defaults to None.
        device: Torch device. Defaults to ``'cpu'``.
        direction: Target domain of the generator to run; ``'healthy'`` is F (pathological -> pseudo-healthy).
            Defaults to ``'healthy'``.

    Returns:
        A :class:`Translator` in eval mode: ``.model`` is the CycleGAN, ``.cfg`` its config.

    Raises:
        FileNotFoundError: The config, checkpoint or work dir does not exist, or the work dir holds no config or
            no checkpoint.
        TypeError: ``config`` is neither a path nor a ``Config``, or ``checkpoint`` not a path.
        ValueError: No checkpoint or work dir; a checkpoint file without a config; a work dir with several
            configs; weights that do not fit the config's model; see also :class:`Translator`.
    """
    import warnings

    from mmac._compat import THIRD_PARTY_NOISE

    config, checkpoint = _model_files(config, checkpoint)
    with warnings.catch_warnings():  # restores the process's filters on exit
        for category, message in THIRD_PARTY_NOISE:
            warnings.filterwarnings("ignore", message=message, category=category)
        return init_translator(config, checkpoint, device=device, direction=direction)
