"""SliceCache's size bound: least recently used entries go first, never the one just written; the env bound."""
from __future__ import annotations

import os

import numpy as np
import pytest

from mmac.datasets.slice_cache import DEFAULT_MAX_GB, SliceCache, max_cache_bytes


def _entry_bytes(tmp_path):
    probe = SliceCache(tmp_path / "probe")
    return probe.save("ab" + "0" * 62, dict(a=np.zeros(1000, np.float32))).stat().st_size


def test_prune_deletes_least_recently_used_first(tmp_path):
    size = _entry_bytes(tmp_path)
    cache = SliceCache(tmp_path / "c", max_bytes=10 * size)
    keys = [f"{i:02d}" + "0" * 62 for i in range(4)]
    for i, key in enumerate(keys):
        cache.save(key, dict(a=np.zeros(1000, np.float32)))
        os.utime(cache.path(key), (1000 + i, 1000 + i))  # key 0 oldest ... key 3 newest
    assert cache.load(keys[0]) is not None  # a hit makes key 0 the most recently used
    deleted = cache.prune(max_bytes=2 * size)
    assert deleted == [cache.path(keys[1]), cache.path(keys[2])]
    assert [p.name for p, _, _ in cache.entries()] == [f"{keys[3]}.npz", f"{keys[0]}.npz"]


def test_save_keeps_the_bound_but_never_deletes_the_new_entry(tmp_path):
    size = _entry_bytes(tmp_path)
    cache = SliceCache(tmp_path / "c", max_bytes=int(1.5 * size))  # room for one entry
    first, second = "aa" + "1" * 62, "bb" + "2" * 62
    cache.save(first, dict(a=np.zeros(1000, np.float32)))
    os.utime(cache.path(first), (1000, 1000))
    cache.save(second, dict(a=np.ones(1000, np.float32)))
    assert cache.load(first) is None
    np.testing.assert_array_equal(cache.load(second)["a"], np.ones(1000, np.float32))
    tiny = SliceCache(tmp_path / "t", max_bytes=1)  # smaller than any entry: the new one still stays
    tiny.save(first, dict(a=np.zeros(1000, np.float32)))
    assert tiny.load(first) is not None


def test_max_cache_bytes_from_the_environment(monkeypatch):
    monkeypatch.delenv("MMAC_SLICE_CACHE_MAX_GB", raising=False)
    assert max_cache_bytes() == int(DEFAULT_MAX_GB * 2**30)
    monkeypatch.setenv("MMAC_SLICE_CACHE_MAX_GB", "0.5")
    assert max_cache_bytes() == 2**29
    for bad in ("0", "-1", "lots", "nan", "inf"):
        monkeypatch.setenv("MMAC_SLICE_CACHE_MAX_GB", bad)
        with pytest.raises(ValueError, match="MMAC_SLICE_CACHE_MAX_GB must be a positive number"):
            max_cache_bytes()
    with pytest.raises(ValueError, match="max_bytes must be > 0"):
        SliceCache("x", max_bytes=0)
