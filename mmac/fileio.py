"""Atomic file writes: a crash or an error never leaves a half-written output behind (no mmagic)."""
from __future__ import annotations

import contextlib
import json
import os
import stat
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

_UMASK_LOCK = threading.Lock()


def current_umask() -> int:
    """The process's file-mode creation mask, e.g. ``0o022``.

    Read from ``/proc/self/status`` (Linux 4.7+) without changing it; elsewhere set and restored at once by
    :func:`os.umask` under a lock (other threads creating files in that instant would get mode 0o666 & ~0o077).
    """
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    with _UMASK_LOCK:
        mask = os.umask(0o077)
        os.umask(mask)
    return mask


def _plain_open_mode(path: Path) -> int:
    """The permission bits ``open(path, 'w')`` leaves: an existing file's, else ``0o666 & ~umask``."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        return 0o666 & ~current_umask()


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = ".tmp") -> Iterator[str]:
    """Yield a temporary path beside ``path``; on success rename it onto ``path``, on error delete it.

    The parent folder is created when missing. The rename is atomic on one file system. The file gets the
    permissions a plain ``open(path, 'w')`` would give: an existing file's, else ``0o666 & ~umask`` (the
    temporary file itself is private, mode 0o600, while it is written).

    Args:
        path: The final file.
        suffix: End of the temporary file's name; writers that choose the format by the name (nibabel) need
            the final suffix, e.g. ``'.tmp.nii.gz'``. Defaults to ``'.tmp'``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, _plain_open_mode(path))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; return the path."""
    with atomic_path(path) as tmp:
        Path(tmp).write_text(text, encoding="utf-8")
    return Path(path)


def write_json_atomic(path: str | os.PathLike, data: dict) -> Path:
    """Write ``data`` as indented JSON to ``path`` atomically; return the path."""
    return write_text_atomic(path, json.dumps(data, indent=2))


def write_csv_atomic(frame, path: str | os.PathLike, **to_csv_kwargs) -> Path:
    """Write a pandas DataFrame to ``path`` atomically (``index=False`` unless given); return the path."""
    to_csv_kwargs.setdefault("index", False)
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, **to_csv_kwargs)
    return Path(path)
