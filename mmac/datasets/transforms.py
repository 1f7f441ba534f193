"""Rotation by multiples of 90 degrees and flips for 2D slices (mmcv-style transforms).

Gadermayr et al. augment the training slices by "rotation by 90/180/270 degrees and flips"; together the two
transforms below draw from the 8 symmetries of the square.

The transforms work on numpy arrays (H, W) or (H, W, C) stored under ``keys`` of the results dict. Randomness
comes from numpy's global generator, which ``mmengine.runner.set_random_seed`` (called by the Runner with
``randomness=dict(seed=...)``) seeds, and which mmengine's ``worker_init_fn`` reseeds per dataloader worker,
so that runs with the same seed draw the same augmentations.

``share_random_params`` decides whether all keys get one draw (True: keys stay aligned, e.g. an image and its
mask) or one draw each (False: e.g. the two unpaired CycleGAN domains). It defaults to True because a
misaligned image/mask pair is a silent error, whereas a shared draw for unpaired domains is merely less varied.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mmac._validate import check_choice, check_real
from mmac.registry import register

try:
    from mmcv.transforms import BaseTransform
except ImportError:  # plain numpy use without mmcv: same interface (call -> transform)
    class BaseTransform:  # type: ignore[no-redef]
        """Fallback of ``mmcv.transforms.BaseTransform``: ``__call__`` runs ``transform``."""

        def __call__(self, results: dict) -> dict:
            return self.transform(results)

DIRECTIONS = ("horizontal", "vertical")


def _check_keys(keys: str | Sequence[str]) -> list[str]:
    keys = [keys] if isinstance(keys, str) else list(keys)
    if not keys or not all(isinstance(k, str) for k in keys):
        raise TypeError(f"keys must be a non-empty str or sequence of str, got {keys!r}")
    return keys


def _check_prob(prob: float) -> float:
    return check_real(prob, "prob", minimum=0.0, maximum=1.0)


def _get(results: dict, key: str, name: str) -> np.ndarray:
    if key not in results:
        raise KeyError(f"{name}: key {key!r} not in results; available: {sorted(results)}")
    value = results[key]
    if not isinstance(value, np.ndarray) or value.ndim not in (2, 3):
        raise TypeError(f"{name}: results[{key!r}] must be a numpy array (H, W) or (H, W, C), "
                        f"got {type(value).__name__} {getattr(value, 'shape', '')}")
    return value


def rot90(img: np.ndarray, k: int) -> np.ndarray:
    """Rotate (H, W[, C]) counter-clockwise by ``k * 90`` degrees in the (H, W) plane; contiguous copy."""
    return np.ascontiguousarray(np.rot90(img, k, axes=(0, 1)))


def flip(img: np.ndarray, direction: str) -> np.ndarray:
    """Flip (H, W[, C]) left-right (``'horizontal'``) or up-down (``'vertical'``); contiguous copy."""
    check_choice(direction, DIRECTIONS, "flip direction")
    return np.ascontiguousarray(img[:, ::-1] if direction == "horizontal" else img[::-1])


@register("TRANSFORMS")
class RandomRot90(BaseTransform):
    """Rotate by ``k * 90`` degrees, ``k`` uniform in {0, 1, 2, 3}.

    Args:
        keys: Results keys of (H, W) or (H, W, C) arrays.
        prob: Probability of drawing a rotation at all (else the arrays are left as they are). With the default
            the four orientations are equally likely. Defaults to 1.0.
        share_random_params: One draw for all keys (True) or one per key (False). Defaults to True.

    Records the draw in ``results['rot90_k']``, a dict ``{key: k}``.
    """

    def __init__(self, keys: str | Sequence[str], prob: float = 1.0, share_random_params: bool = True) -> None:
        self.keys = _check_keys(keys)
        self.prob = _check_prob(prob)
        self.share_random_params = bool(share_random_params)

    def _draw(self) -> int:
        if np.random.rand() >= self.prob:
            return 0
        return int(np.random.randint(4))

    def transform(self, results: dict) -> dict:
        shared = self._draw() if self.share_random_params else None
        drawn = {}
        for key in self.keys:
            img = _get(results, key, type(self).__name__)
            k = shared if shared is not None else self._draw()
            results[key] = rot90(img, k) if k else img
            drawn[key] = k
        results.setdefault("rot90_k", {}).update(drawn)
        return results

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(keys={self.keys}, prob={self.prob}, "
                f"share_random_params={self.share_random_params})")


@register("TRANSFORMS")
class RandomFlip2D(BaseTransform):
    """Flip each of ``directions`` independently with probability ``prob``.

    Args:
        keys: Results keys of (H, W) or (H, W, C) arrays.
        directions: Any of ``'horizontal'`` (left-right) and ``'vertical'`` (up-down).
            Defaults to ('horizontal', 'vertical').
        prob: Probability of each flip. Defaults to 0.5.
        share_random_params: One draw for all keys (True) or one per key (False). Defaults to True.

    Records the draw in ``results['flip_directions']``, a dict ``{key: [directions flipped]}``.
    """

    def __init__(self, keys: str | Sequence[str], directions: Sequence[str] = DIRECTIONS, prob: float = 0.5,
                 share_random_params: bool = True) -> None:
        self.keys = _check_keys(keys)
        directions = [directions] if isinstance(directions, str) else list(directions)
        if not directions:
            raise ValueError(f"directions must name at least one of {DIRECTIONS}, got none")
        for direction in directions:
            check_choice(direction, DIRECTIONS, "flip direction")
        self.directions = directions
        self.prob = _check_prob(prob)
        self.share_random_params = bool(share_random_params)

    def _draw(self) -> list[str]:
        return [d for d in self.directions if np.random.rand() < self.prob]

    def transform(self, results: dict) -> dict:
        shared = self._draw() if self.share_random_params else None
        drawn = {}
        for key in self.keys:
            img = _get(results, key, type(self).__name__)
            chosen = shared if shared is not None else self._draw()
            for direction in chosen:
                img = flip(img, direction)
            results[key] = img
            drawn[key] = chosen
        results.setdefault("flip_directions", {}).update(drawn)
        return results

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(keys={self.keys}, directions={self.directions}, prob={self.prob}, "
                f"share_random_params={self.share_random_params})")
