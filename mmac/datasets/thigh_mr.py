"""``ThighMRDataset``: axial thigh MR slices for unpaired healthy <-> pathological translation (mmagic).

Implements the data side of Gadermayr et al., "Asymmetric cycle-consistency loss for many-to-one unpaired image
translation": a CycleGAN is trained on unpaired slices of healthy subjects (domain ``healthy``) and of subjects
with fat infiltration (moderate + severe, domain ``pathological``); it is evaluated on the annotated slices
(every ``annotation_every``-th axial slice) of pathological test subjects, translated to pseudo-healthy slices
and segmented by thresholding.

Keys (with the default ``domains=('healthy', 'pathological')``), before the pipeline:

* train: ``img_healthy``, ``img_pathological``: float32 (H, W, 1) in [0, 255]; ``subject_healthy``,
  ``slice_index_healthy``, ``subject_pathological``, ``group_pathological``, ``slice_index_pathological``.
* val / test (one item per annotated slice of a pathological subject): ``img_pathological`` float32
  (H, W, 1) in [0, 255]; ``gt_mask`` bool (H, W); when every pathological subject of the split has them,
  ``img_healthy_truth`` (the counterpart slice, same scaling as ``img_pathological``, float32 (H, W, 1)) and
  ``fat_fraction`` float32 (H, W); ``subject``, ``group``, ``slice_index``.

The recommended pipelines are those of :func:`thigh_pipeline`. After ``pseudo_collate`` and mmagic's
``DataPreprocessor`` (mean = std = 127.5) the model gets ``inputs['img_<domain>']`` of shape (N, 1, H, W) in
[-1, 1] (train: both domains; val/test: only ``img_pathological``); val/test data samples carry ``gt_mask``
(N, 1, H, W) bool, ``img_pathological`` / ``img_healthy_truth`` (N, 1, H, W) in [0, 255], ``fat_fraction``
(N, 1, H, W), and the metainfo ``subject``, ``group``, ``slice_index`` (lists of length N after stacking).
"""
from __future__ import annotations

import copy
import os
import time
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from mmagic.structures import DataSample
from mmagic.utils import all_to_tensor
from mmcv.transforms import BaseTransform
from mmengine.dataset import BaseDataset, force_full_init
from mmengine.registry import DefaultScope

from mmac._cpu import available_cpus
from mmac._validate import check_choice
from mmac.datasets.folds import fold_subjects
from mmac.datasets.manifest import (
    PERCENTILES,
    SubjectRecord,
    annotated_slice_indices,
    check_annotated_slices,
    check_mask_labels,
    load_subject,
    read_manifest,
    volume_to_slices,
)
from mmac.datasets.slice_cache import SliceCache, cache_key, default_cache_dir
from mmac.registry import register

SPLITS = ("train", "val", "test")
RESIZE_MODES = ("resize", "pad", "fit")


@register("TRANSFORMS")
class PackDomainInputs(BaseTransform):
    """Pack a results dict into ``{'inputs': {key: (C, H, W) tensor}, 'data_samples': DataSample}``.

    Same packing as mmagic's ``PackInputs`` (arrays (H, W[, C]) become (C, H, W) tensors with
    ``mmagic.utils.all_to_tensor``) except that ``inputs`` is always a dict: stock ``PackInputs`` returns the
    bare tensor when only one of ``keys`` is present (as in val/test, where only ``img_pathological`` is an
    input), and the model indexes ``inputs['img_<domain>']``. It also does not import
    ``mmagic.datasets.transforms`` (which needs albumentations). Keys absent from the results are skipped.

    Args:
        keys: Results keys packed into ``inputs``.
        data_keys: Results keys stored as tensor data fields of the data sample. Defaults to ().
        meta_keys: Results keys stored in the data sample's metainfo. Defaults to ().
    """

    def __init__(self, keys: str | Sequence[str], data_keys: str | Sequence[str] = (),
                 meta_keys: str | Sequence[str] = ()) -> None:
        self.keys, self.data_keys, self.meta_keys = ([k] if isinstance(k, str) else list(k)
                                                     for k in (keys, data_keys, meta_keys))
        if not self.keys:
            raise ValueError("PackDomainInputs needs at least one input key")

    def transform(self, results: dict) -> dict:
        inputs = {k: all_to_tensor(results[k]) for k in self.keys if results.get(k) is not None}
        sample = DataSample()
        sample.set_predefined_data({k: v for k, v in results.items() if k not in self.data_keys + self.meta_keys})
        sample.set_metainfo({k: results[k] for k in self.meta_keys if k in results})
        sample.set_tensor_data({k: results[k] for k in self.data_keys if k in results})
        return {"inputs": inputs, "data_samples": sample}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(keys={self.keys}, data_keys={self.data_keys}, meta_keys={self.meta_keys})"


def thigh_pipeline(split: str = "train", aug: bool = True,
                   domains: Sequence[str] = ("healthy", "pathological")) -> list[dict]:
    """The recommended config pipeline for :class:`ThighMRDataset`.

    Args:
        split: ``'train'``, ``'val'`` or ``'test'``.
        aug: Train split only: add the paper's augmentation (rotation by 0/90/180/270 degrees and flips),
            drawn independently per domain since the domains are unpaired. Defaults to True.
        domains: The dataset's ``domains``. Defaults to ('healthy', 'pathological').

    Returns:
        A list of transform config dicts.

    Raises:
        ValueError: Unknown split.
    """
    check_choice(split, SPLITS, "split")
    src, dst = (f"img_{d}" for d in domains)  # src: healthy, dst: pathological
    if split == "train":
        keys = [src, dst]
        pipeline = []
        if aug:
            pipeline += [dict(type="RandomRot90", keys=keys, prob=1.0, share_random_params=False),
                         dict(type="RandomFlip2D", keys=keys, directions=["horizontal", "vertical"], prob=0.5,
                              share_random_params=False)]
        meta = [f"subject_{domains[0]}", f"slice_index_{domains[0]}", f"subject_{domains[1]}",
                f"group_{domains[1]}", f"slice_index_{domains[1]}"]
        return pipeline + [dict(type="PackDomainInputs", keys=keys, data_keys=keys, meta_keys=meta)]
    return [dict(type="PackDomainInputs", keys=[dst],
                 data_keys=[dst, "gt_mask", f"{src}_truth", "fat_fraction"],
                 meta_keys=["subject", "group", "slice_index"])]


def fit_slices(slices: np.ndarray, size: int, mode: str = "fit", nearest: bool = False) -> np.ndarray:
    """Bring axial slices (Z, H, W) to (Z, size, size).

    Args:
        slices: (Z, H, W) array; bool for masks.
        size: Output height and width.
        mode: ``'resize'`` (stretch to size x size), ``'pad'`` (centre zero-pad or centre-crop, no resampling)
            or ``'fit'`` (resize keeping the aspect ratio so the longer side is ``size``, then centre-pad).
            Defaults to ``'fit'``.
        nearest: Nearest-neighbour resampling (masks) instead of antialiased bilinear. Defaults to False.

    Returns:
        (Z, size, size) array of the input's dtype, contiguous.
    """
    check_choice(mode, RESIZE_MODES, "resize_mode")
    _, h, w = slices.shape
    if mode == "resize":
        return _resample(slices, (size, size), nearest)
    if mode == "fit":
        scale = size / max(h, w)
        slices = _resample(slices, (max(1, round(h * scale)), max(1, round(w * scale))), nearest)
    return _centre_pad_crop(slices, size)


def _resample(slices: np.ndarray, shape: tuple[int, int], nearest: bool) -> np.ndarray:
    if tuple(slices.shape[1:]) == tuple(shape):
        return np.ascontiguousarray(slices)
    dtype = slices.dtype
    t = torch.from_numpy(np.ascontiguousarray(slices, dtype=np.float32))[:, None]  # (Z, 1, H, W)
    if nearest:
        t = F.interpolate(t, size=shape, mode="nearest-exact")
    else:
        down = shape[0] < slices.shape[1] or shape[1] < slices.shape[2]
        t = F.interpolate(t, size=shape, mode="bilinear", align_corners=False, antialias=down)
    out = t[:, 0].numpy()  # (Z, H', W')
    return np.ascontiguousarray(out > 0.5 if dtype.kind == "b" else out.astype(dtype))


def _centre_pad_crop(slices: np.ndarray, size: int) -> np.ndarray:
    z, h, w = slices.shape
    out = np.zeros((z, size, size), dtype=slices.dtype)
    ch, cw = min(h, size), min(w, size)
    sy, sx = (h - ch) // 2, (w - cw) // 2  # source offsets (crop)
    dy, dx = (size - ch) // 2, (size - cw) // 2  # destination offsets (pad)
    out[:, dy:dy + ch, dx:dx + cw] = slices[:, sy:sy + ch, sx:sx + cw]
    return out


@register("DATASETS")
class ThighMRDataset(BaseDataset):
    """Axial slices of thigh MR volumes listed in a manifest (see :mod:`mmac.datasets.manifest`).

    Volumes are reoriented to canonical RAS, normalised per volume (0.5th / 99.5th percentiles -> 0 / 1,
    clipped), cut into axial slices in radiological display convention (anterior up, patient's right on the
    left), brought to ``size`` x ``size`` once (by default keeping the aspect ratio: a 320 x 260 slice is
    resized to 256 x 208 and padded, not stretched), scaled to [0, 255] and cached as one contiguous float32
    array (Z, size, size) per subject. All subjects the split uses are loaded and validated when the dataset is
    initialised (at construction unless ``lazy_init``), so bad input fails before training; they are loaded in
    ``load_workers`` threads, and the result per subject is kept in an on-disk cache keyed by the files' content
    and the settings (:mod:`mmac.datasets.slice_cache`), so that the runs of a cross-validation grid decode each
    volume once.

    Train items are unpaired, like mmagic's ``UnpairedImageDataset``: the length is the larger of the two
    domains' slice counts; item ``i`` takes healthy slice ``i % n_healthy`` and a pathological slice drawn with
    ``np.random.randint`` (seeded by mmengine's ``set_random_seed``), or slice ``i % n_pathological`` when
    ``random_pairing=False``. All slices of a volume are used for training.

    Val/test items: one per annotated slice (``z % annotation_every == annotation_offset``) of each
    pathological (moderate or severe) subject of the split; healthy subjects of the split are not used.

    Config (see :func:`thigh_pipeline`)::

        train_dataloader = dict(batch_size=1, num_workers=2, sampler=dict(type='InfiniteSampler', shuffle=True),
            dataset=dict(type='ThighMRDataset', data_root='data/phantom', manifest='manifest.csv', split='train',
                         fold=0, num_folds=5, size=256, pipeline=thigh_pipeline('train')))
        # pipeline('train') = [RandomRot90(keys=[img_healthy, img_pathological], share_random_params=False),
        #     RandomFlip2D(same keys, share_random_params=False),
        #     PackDomainInputs(keys=[img_healthy, img_pathological], data_keys=[same],
        #         meta_keys=[subject_healthy, slice_index_healthy, subject_pathological, group_pathological,
        #                    slice_index_pathological])]
        # pipeline('test') = [PackDomainInputs(keys=['img_pathological'],
        #     data_keys=['img_pathological', 'gt_mask', 'img_healthy_truth', 'fat_fraction'],
        #     meta_keys=['subject', 'group', 'slice_index'])]
        model = dict(data_preprocessor=dict(type='DataPreprocessor',
                                            data_keys=['img_healthy', 'img_pathological']))

    ``PackDomainInputs`` (not stock ``PackInputs``) because stock ``PackInputs`` turns a single input key into
    a bare tensor, and because ``mmagic.datasets.transforms`` (home of ``PackInputs``) needs albumentations.
    The model then receives ``inputs['img_<domain>']`` as (N, 1, H, W) in [-1, 1]; val/test data
    samples carry ``gt_mask`` (N, 1, H, W) bool, ``img_pathological``/``img_healthy_truth`` (N, 1, H, W) in
    [0, 255] (not normalised at test time), ``fat_fraction`` (N, 1, H, W) and metainfo lists ``subject``,
    ``group``, ``slice_index``.

    Args:
        manifest: Manifest path, joined to ``data_root`` when relative.
        data_root: Root folder. The shipped configs set None here and one ``data_root`` at the top of the config,
            which mmac's tools copy into every loader (:func:`mmac.runner.launch.apply_data_root`); None reaching
            the dataset is an error. Defaults to ``''``.
        split: ``'train'``, ``'val'`` or ``'test'``; None takes ``'test'`` when ``test_mode`` else ``'train'``.
            ``'val'`` and ``'test'`` select the same subjects and items (a fold's test subjects): the paper
            trains a fixed schedule and nothing is chosen on validation results (no early stopping, no best
            checkpoint), so validation during training only reports the test metric as it evolves. Defaults to
            None.
        test_mode: mmengine's flag; must agree with ``split`` when both are given. Defaults to False.
        subjects: Subject ids to use (all others ignored). Exclusive with ``fold``. Defaults to None.
        fold: Fold index of :func:`~mmac.datasets.folds.patient_kfold`; train uses the fold's train subjects,
            val/test its test subjects. None uses all subjects (or ``subjects``). Defaults to None.
        num_folds: Number of folds. Defaults to 5.
        fold_seed: Seed of the fold split. Defaults to 0.
        size: Output slice height and width. Defaults to 256.
        resize_mode: ``'fit'`` (aspect-preserving resize so that the longer side is ``size``, then centre
            zero-pad), ``'resize'`` (stretch to ``size`` x ``size``) or ``'pad'`` (centre pad/crop, no
            resampling); bilinear (antialiased when shrinking) for images, nearest for masks. Square slices give
            the same result with ``'fit'`` and ``'resize'``. Defaults to ``'fit'``.
        mask_labels: Mask labels that are muscle, e.g. ``[1, 2, 3]`` of a one-label-per-muscle segmentation;
            None takes every non-zero voxel (0/1 and 0/255 masks, all labels). Defaults to None.
        annotation_every: Annotated slices are every ``annotation_every``-th axial slice. Defaults to 4.
        annotation_offset: ... starting at this index. Defaults to 0.
        domains: Names of the (healthy, pathological) domains; keys are ``img_<name>``.
            Defaults to ('healthy', 'pathological').
        random_pairing: Draw the train item's pathological slice at random. Defaults to True.
        pipeline: Transforms. Defaults to ().
        cache: Keep the resized slices in memory. False reads a subject's volume again on each item (from the
            disk cache when there is one; for memory-bound test sets); validation still runs at initialisation.
            Defaults to True.
        disk_cache: On-disk slice cache: True uses :func:`~mmac.datasets.slice_cache.default_cache_dir`
            (``$MMAC_SLICE_CACHE`` or ``~/.cache/mmac/slices``), a path uses that folder, False none.
            Defaults to True.
        load_workers: Threads loading subjects at initialisation; None: the CPUs this process may use (at most
            8, at most ``$OMP_NUM_THREADS`` when set). Defaults to None.
        progress: Progress bar while loading; None shows it when stderr is a terminal. A one-line summary is
            logged either way. Defaults to None.
        lazy_init: mmengine's lazy initialisation. Defaults to False.
        max_refetch: mmengine's refetch limit. Defaults to 1000.

    Raises:
        ValueError: Bad options; see also :func:`~mmac.datasets.manifest.read_manifest` and
            :func:`~mmac.datasets.manifest.load_subject` for bad input.
    """

    def __init__(self, manifest: str | Path, data_root: str = "", split: str | None = None, test_mode: bool = False,
                 subjects: Sequence[str] | None = None, fold: int | None = None, num_folds: int = 5,
                 fold_seed: int = 0, size: int = 256, resize_mode: str = "fit", annotation_every: int = 4,
                 annotation_offset: int = 0, domains: Sequence[str] = ("healthy", "pathological"),
                 random_pairing: bool = True, pipeline: Sequence[dict | Callable] = (), cache: bool = True,
                 mask_labels: Sequence[int] | None = None, disk_cache: bool | str | Path = True,
                 load_workers: int | None = None, progress: bool | None = None,
                 lazy_init: bool = False, max_refetch: int = 1000) -> None:
        if data_root is None:
            raise ValueError("ThighMRDataset: data_root is None. The shipped configs take it from the `data_root` "
                             "at the top of the config, which mmac's tools (tools/train.py, tools/test.py, "
                             "tools/cross_validate.py, mmac.runner.launch.load_config) copy into every loader; "
                             "elsewhere set <loader>.dataset.data_root")
        if split is None:
            split = "test" if test_mode else "train"
        check_choice(split, SPLITS, "split")
        if test_mode and split == "train":
            raise ValueError("test_mode=True contradicts split='train'; use split='val' or 'test'")
        if subjects is not None and fold is not None:
            raise ValueError("give either subjects or fold, not both")
        if subjects is not None and (isinstance(subjects, str) or not len(subjects)):
            raise ValueError(f"subjects must be a non-empty list of subject ids, got {subjects!r}")
        if fold is not None and not 0 <= fold < num_folds:
            raise ValueError(f"fold must be in [0, {num_folds}) for num_folds={num_folds}, got {fold}")
        if not isinstance(size, int) or size < 1:
            raise ValueError(f"size must be a positive int, got {size!r}")
        check_choice(resize_mode, RESIZE_MODES, "resize_mode")
        annotated_slice_indices(0, annotation_every, annotation_offset)  # validates both
        self.mask_labels = check_mask_labels(list(mask_labels) if isinstance(mask_labels, tuple) else mask_labels)
        if load_workers is not None and (isinstance(load_workers, bool) or not isinstance(load_workers, int)
                                         or load_workers < 1):
            raise ValueError(f"load_workers must be None or an int >= 1, got {load_workers!r}")
        if isinstance(disk_cache, bool):
            cache_dir = default_cache_dir() if disk_cache else None
        elif isinstance(disk_cache, (str, Path)) and str(disk_cache):
            cache_dir = Path(disk_cache).expanduser()
        else:
            raise TypeError(f"disk_cache must be True, False or a folder path, got {disk_cache!r}")
        self.disk_cache = SliceCache(cache_dir) if cache_dir is not None else None
        self.load_workers, self.progress = load_workers, progress
        self.cache_hits = 0
        domains = tuple(domains)
        if len(domains) != 2 or len(set(domains)) != 2 or not all(isinstance(d, str) and d for d in domains):
            raise ValueError(f"domains must be two distinct names (healthy, pathological), got {domains!r}")
        self.split = split
        self.subjects = list(subjects) if subjects is not None else None
        self.fold, self.num_folds, self.fold_seed = fold, num_folds, fold_seed
        self.size, self.resize_mode = size, resize_mode
        self.annotation_every, self.annotation_offset = annotation_every, annotation_offset
        self.domains = domains
        self.random_pairing = random_pairing
        self.cache = cache
        self.records: list[SubjectRecord] = []
        self._arrays: list[dict | None] = []
        self._domain_slices: dict[str, np.ndarray] = {}
        self._memo: tuple[int, dict] | None = None
        # Pipelines name mmagic/mmac transforms: build them in mmagic's scope when none is set (outside a Runner).
        scope = None if DefaultScope.get_current_instance() is not None else "mmagic"
        with DefaultScope.overwrite_default_scope(scope):
            super().__init__(ann_file=str(manifest), metainfo=dict(domains=list(domains)),
                             data_root=data_root, serialize_data=False, pipeline=list(pipeline),
                             test_mode=split != "train", lazy_init=lazy_init, max_refetch=max_refetch)

    @property
    def _train(self) -> bool:
        return self.split == "train"

    def _select(self, records: list[SubjectRecord]) -> list[SubjectRecord]:
        if self.subjects is not None:
            known = {r.subject for r in records}
            unknown = [s for s in self.subjects if s not in known]
            if unknown:
                raise ValueError(f"{self.ann_file}: subject(s) {unknown} not in the manifest")
            wanted = set(self.subjects)
            return [r for r in records if r.subject in wanted]
        if self.fold is not None:
            wanted = set(fold_subjects([r.subject for r in records], [r.group for r in records], self.fold,
                                       self.num_folds, self.fold_seed, "train" if self._train else "test"))
            return [r for r in records if r.subject in wanted]
        return records

    def _prepare(self, record: SubjectRecord) -> dict:
        """One subject as (Z, size, size) arrays: from the disk cache, or loaded, validated and stored there.

        The cached entry holds everything derived from the subject's files (image, mask, counterpart, fat
        fraction), whatever the split, so that the train and the test split of a grid's runs share it; the train
        split keeps only the image.
        """
        keep = ("num_slices", "img") if self._train else None
        if self.disk_cache is None:
            arrays = self._decode(record)
        else:
            arrays, hit = self.disk_cache.get_or_compute(self._cache_key(record), lambda: self._decode(record),
                                                         keys=keep)
            self.cache_hits += hit
        if keep is not None:
            arrays = {k: arrays[k] for k in keep}
        out = dict(arrays)
        out["num_slices"] = int(out["num_slices"])
        out["annotated"] = None
        if not self._train:
            check_annotated_slices(out.pop("muscle_slices"), record, self.annotation_every, self.annotation_offset,
                                   self.mask_labels)
            out["annotated"] = annotated_slice_indices(out["num_slices"], self.annotation_every,
                                                       self.annotation_offset)
        return out

    def _cache_key(self, record: SubjectRecord) -> str:
        """Content of the files :meth:`_decode` reads and every setting that changes its arrays."""
        files = [record.image, record.mask, record.counterpart, record.fat_fraction]
        settings = dict(size=self.size, resize_mode=self.resize_mode, mask_labels=self.mask_labels,
                        percentiles=list(PERCENTILES))
        return cache_key(files, settings)

    def _decode(self, record: SubjectRecord) -> dict[str, np.ndarray]:
        """Load, validate and cut one subject into (Z, size, size) arrays (what the disk cache stores).

        Returns:
            ``num_slices`` (scalar), ``img``; with a mask ``mask`` and ``muscle_slices`` (bool (Z,): slice z of
            the mask holds muscle, before resizing); ``truth`` and ``fat`` when the record has them.
        """
        vol = load_subject(record, mask_labels=self.mask_labels)
        out = dict(num_slices=np.asarray(vol.image.shape[2]),
                   img=self._fit(volume_to_slices(vol.image) * np.float32(255.0)))
        if vol.mask is not None:
            out["mask"] = self._fit(volume_to_slices(vol.mask), nearest=True)
            out["muscle_slices"] = vol.mask.any(axis=(0, 1))  # (Z,)
        if vol.counterpart is not None:
            out["truth"] = self._fit(volume_to_slices(vol.counterpart) * np.float32(255.0))
        if vol.fat_fraction is not None:
            out["fat"] = self._fit(volume_to_slices(vol.fat_fraction), clip=None)
        return out

    def _load_all(self, records: list[SubjectRecord]) -> list[dict]:
        """:meth:`_prepare` every record in ``load_workers`` threads, in order, with progress and a summary."""
        from mmengine.logging import print_log
        from tqdm import tqdm

        workers = self.load_workers or _default_load_workers()
        workers = max(1, min(workers, len(records)))
        show = self.progress if self.progress is not None else _stderr_is_terminal()
        start, self.cache_hits = time.perf_counter(), 0
        with tqdm(total=len(records), desc=f"{type(self).__name__} {self.split}", unit="subject",
                  disable=not show, leave=False) as bar:
            def one(record):
                out = self._prepare(record)
                bar.update()
                return out

            if workers == 1:
                prepared = [one(r) for r in records]
            else:
                with ThreadPoolExecutor(workers) as pool:
                    prepared = list(pool.map(one, records))
        where = f"the slice cache {self.disk_cache.root}" if self.disk_cache is not None else "no slice cache"
        print_log(f"{type(self).__name__} {self.split}: {len(records)} subjects of {self.ann_file} "
                  f"({sum(p['num_slices'] for p in prepared)} slices) in {time.perf_counter() - start:.1f} s, "
                  f"{workers} thread(s), {self.cache_hits} from {where}", logger="current")
        return prepared

    def _fit(self, slices: np.ndarray, nearest: bool = False, clip: tuple | None = (0.0, 255.0)) -> np.ndarray:
        out = fit_slices(slices, self.size, self.resize_mode, nearest=nearest)
        if clip is not None and out.dtype != bool:
            np.clip(out, *clip, out=out)
        return out

    def load_data_list(self) -> list[dict]:
        """Read the manifest, load and validate the split's subjects, and list the items."""
        records = self._select(read_manifest(self.ann_file))
        if not self._train:
            records = [r for r in records if r.pathological]
            if not records:
                raise ValueError(f"{self.ann_file}: the {self.split} split has no pathological (moderate/severe) "
                                 f"subject to evaluate{self._which()}")
        else:
            for name, patho in zip(self.domains, (False, True), strict=True):
                if not any(r.pathological == patho for r in records):
                    raise ValueError(f"{self.ann_file}: the train split has no subject of domain {name!r}"
                                     f"{self._which()}")
        self.records = records
        prepared = self._load_all(records)
        if not self._train:
            for key, what in (("truth", "counterpart"), ("fat", "fat_fraction")):
                have = [key in p for p in prepared]
                if any(have) and not all(have):
                    missing = [r.subject for r, h in zip(records, have, strict=True) if not h]
                    warnings.warn(f"{self.ann_file}: {what} is missing for {missing}; it is left out for all "
                                  f"subjects of the {self.split} split so that batches stay uniform", stacklevel=1)
                    for p in prepared:
                        p.pop(key, None)
        self._arrays = prepared if self.cache else [None] * len(prepared)
        self._memo = None

        if self._train:
            for name, patho in zip(self.domains, (False, True), strict=True):
                pairs = [(i, z) for i, r in enumerate(records) if r.pathological == patho
                         for z in range(prepared[i]["num_slices"])]
                self._domain_slices[name] = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
            n = max(len(v) for v in self._domain_slices.values())
            return [dict(index=i) for i in range(n)]
        return [dict(subject=r.subject, group=r.group, slice_index=z, volume_index=i)
                for i, r in enumerate(records) for z in prepared[i]["annotated"]]

    def _which(self) -> str:
        if self.fold is not None:
            return f" (fold {self.fold} of {self.num_folds}, fold_seed {self.fold_seed})"
        return f" (subjects {self.subjects})" if self.subjects is not None else ""

    def _volume(self, i: int) -> dict:
        if self.cache:
            return self._arrays[i]
        if self._memo is None or self._memo[0] != i:
            self._memo = (i, self._prepare(self.records[i]))
        return self._memo[1]

    @force_full_init
    def get_data_info(self, idx: int) -> dict:
        """The ``idx``-th item as a results dict (arrays copied from the cache); see the class docstring."""
        info = copy.copy(self.data_list[idx])
        info["sample_idx"] = idx
        if self._train:
            return self._train_item(idx, info)
        arrays = self._volume(info.pop("volume_index"))
        z = info["slice_index"]
        dst, src = f"img_{self.domains[1]}", f"img_{self.domains[0]}_truth"
        info[dst] = arrays["img"][z][..., None].copy()  # (H, W, 1)
        info["gt_mask"] = arrays["mask"][z].copy()  # (H, W)
        if "truth" in arrays:
            info[src] = arrays["truth"][z][..., None].copy()  # (H, W, 1)
        if "fat" in arrays:
            info["fat_fraction"] = arrays["fat"][z].copy()  # (H, W)
        return info

    def _train_item(self, idx: int, info: dict) -> dict:
        info.pop("index", None)
        for k, name in enumerate(self.domains):
            table = self._domain_slices[name]
            j = idx % len(table) if (k == 0 or not self.random_pairing) else np.random.randint(len(table))
            vol_i, z = (int(v) for v in table[j])
            record = self.records[vol_i]
            info[f"img_{name}"] = self._volume(vol_i)["img"][z][..., None].copy()  # (H, W, 1)
            info[f"subject_{name}"] = record.subject
            info[f"slice_index_{name}"] = z
            if k == 1:
                info[f"group_{name}"] = record.group
        return info


def _default_load_workers() -> int:
    """Threads for loading: ``$OMP_NUM_THREADS`` when set (runs packed side by side), else the CPUs this process
    may use; at most 8."""
    value = os.environ.get("OMP_NUM_THREADS", "")
    cpus = int(value) if value.isdigit() and int(value) > 0 else available_cpus()
    return min(8, cpus)


def _stderr_is_terminal() -> bool:
    import sys

    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False
