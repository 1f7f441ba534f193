"""On-disk cache of decoded, normalised and resized slices, keyed by file content and settings (no mmagic).

Decoding a cohort's NIfTI volumes (gunzip, reorientation, percentiles, resampling) takes seconds per subject at
the paper's size and is the same in each of the cross-validation grid's runs. :class:`SliceCache` stores what
:class:`~mmac.datasets.thigh_mr.ThighMRDataset` derives from one subject as one ``.npz`` file whose name is a
SHA-256 over

* the content (bytes, not path or time stamp) of every file the entry was derived from, and
* every setting that changes the arrays (size, resize mode, mask labels, percentiles, and :data:`CACHE_VERSION`,
  raised whenever the derivation itself changes).

An entry holds everything derived from a subject's files, whatever the split that asked first, so the train and
the test split (and every fold) of a grid share it: a grid decodes each subject once.

So an edited or replaced volume, or another setting, gives another key: stale entries are never read. They are
pruned: after each write, the least recently used entries (a hit refreshes an entry's time stamp) are deleted
until the folder holds at most ``$MMAC_SLICE_CACHE_MAX_GB`` gigabytes (default 20), never the entry just
written. Entries are written atomically (:mod:`mmac.fileio`), so runs
sharing the folder at the same time never read a partial file; an unreadable entry is recomputed.

The folder is ``$MMAC_SLICE_CACHE`` when set, else ``$XDG_CACHE_HOME/mmac/slices`` (``~/.cache/mmac/slices``).
``MMAC_SLICE_CACHE=off`` turns the default cache off.
"""
from __future__ import annotations

import hashlib
import json
import os
import warnings
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from mmac.fileio import atomic_path

CACHE_VERSION = 2
OFF_VALUES = ("", "0", "off", "false", "no", "none")
DEFAULT_MAX_GB = 20.0


def default_cache_dir() -> Path | None:
    """``$MMAC_SLICE_CACHE`` (None when it says off), else ``$XDG_CACHE_HOME/mmac/slices``."""
    value = os.environ.get("MMAC_SLICE_CACHE")
    if value is not None:
        return None if value.strip().lower() in OFF_VALUES else Path(value).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "mmac" / "slices"


def max_cache_bytes() -> int:
    """The size bound of the cache: ``$MMAC_SLICE_CACHE_MAX_GB`` gigabytes, else :data:`DEFAULT_MAX_GB`.

    Raises:
        ValueError: The variable is not a positive number.
    """
    value = os.environ.get("MMAC_SLICE_CACHE_MAX_GB")
    if value is None:
        return int(DEFAULT_MAX_GB * 2**30)
    try:
        gigabytes = float(value)
    except ValueError:
        gigabytes = float("nan")
    if not gigabytes > 0 or gigabytes == float("inf"):
        raise ValueError(f"MMAC_SLICE_CACHE_MAX_GB must be a positive number of gigabytes, got {value!r}")
    return int(gigabytes * 2**30)


def file_digest(path: str | Path) -> str:
    """SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def cache_key(files: Iterable[str | Path | None], settings: dict) -> str:
    """The entry name for arrays derived from ``files`` (None entries allowed: absent files) with ``settings``.

    Args:
        files: The input files, in a fixed order (their position is part of the key).
        settings: JSON-serialisable settings that change the derived arrays.

    Returns:
        A 64-character hex key.
    """
    payload = dict(version=CACHE_VERSION, settings=settings,
                   files=[None if f is None else file_digest(f) for f in files])
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


class SliceCache:
    """A folder of ``<key>.npz`` entries, each a dict of numpy arrays.

    Args:
        root: The folder (created on the first write).
        max_bytes: Size bound kept by :meth:`prune` after each write; None: :func:`max_cache_bytes`.
    """

    def __init__(self, root: str | Path, max_bytes: int | None = None) -> None:
        self.root = Path(root)
        self.max_bytes = max_cache_bytes() if max_bytes is None else int(max_bytes)
        if self.max_bytes <= 0:
            raise ValueError(f"max_bytes must be > 0, got {max_bytes}")

    def path(self, key: str) -> Path:
        """Where the entry ``key`` lives (two-level fan-out: ``<root>/<key[:2]>/<key>.npz``)."""
        return self.root / key[:2] / f"{key}.npz"

    def load(self, key: str, keys: Iterable[str] | None = None) -> dict[str, np.ndarray] | None:
        """The entry's arrays (only ``keys`` when given), or None when it is absent, unreadable or lacks a key."""
        path = self.path(key)
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as data:
                names = data.files if keys is None else list(keys)
                arrays = {name: data[name] for name in names}
        except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile):
            return None
        try:
            os.utime(path)  # recently used: pruned last
        except OSError:
            pass
        return arrays

    def entries(self) -> list[tuple[Path, int, float]]:
        """``(path, bytes, time stamp)`` of every entry, least recently used first."""
        found = []
        for path in self.root.glob("??/*.npz"):
            try:
                stat = path.stat()
            except OSError:  # deleted meanwhile by another process
                continue
            found.append((path, stat.st_size, stat.st_mtime))
        return sorted(found, key=lambda entry: entry[2])

    def prune(self, max_bytes: int | None = None, keep: Iterable[Path] = ()) -> list[Path]:
        """Delete the least recently used entries until the folder holds at most ``max_bytes``.

        Args:
            max_bytes: The bound; None: ``self.max_bytes``.
            keep: Entries never deleted (the one just written).

        Returns:
            The deleted entries' paths.
        """
        bound = self.max_bytes if max_bytes is None else int(max_bytes)
        entries = self.entries()
        total = sum(size for _, size, _ in entries)
        keep = {Path(p) for p in keep}
        deleted = []
        for path, size, _ in entries:
            if total <= bound:
                break
            if path in keep:
                continue
            try:
                path.unlink()
            except FileNotFoundError:  # another process pruned it
                pass
            except OSError:
                continue
            total -= size
            deleted.append(path)
        return deleted

    def save(self, key: str, arrays: dict[str, np.ndarray]) -> Path:
        """Write the entry atomically; returns its path."""
        path = self.path(key)
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, **arrays)
        self.prune(keep=[path])
        return path

    def get_or_compute(self, key: str, compute: Callable[[], dict[str, np.ndarray]],
                       keys: Iterable[str] | None = None) -> tuple[dict, bool]:
        """``(arrays, hit)``: the stored entry (only ``keys`` when given: npz members are read on demand), or
        ``compute()`` stored under ``key`` (all its arrays)."""
        arrays = self.load(key, keys)
        if arrays is not None:
            return arrays, True
        arrays = compute()
        try:
            self.save(key, arrays)
        except OSError as exc:  # read-only or full disk: the arrays are right, only the cache is not kept
            warnings.warn(f"slice cache {self.root}: cannot write an entry ({type(exc).__name__}: {exc}); "
                          "going on without caching it (set MMAC_SLICE_CACHE to a writable folder, or off)",
                          stacklevel=1)
        return arrays, False
