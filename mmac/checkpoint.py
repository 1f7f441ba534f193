"""Loading mmengine checkpoints with ``torch.load(weights_only=True)`` on torch >= 2.6.

mmengine 0.10.7 calls ``torch.load(filename)`` without ``weights_only``; since torch 2.6 that means
``weights_only=True``, and an mmengine checkpoint then fails to load: its message hub pickles
``HistoryBuffer`` objects (numpy arrays and bound statistics methods inside). Rather than switching the safe
unpickler off for every file in the process, mmac replaces mmengine's loader for local paths by one that keeps
``weights_only=True`` and allows exactly the globals an mmengine checkpoint contains, during that load only.

A file that is not such a checkpoint (truncated by a copy, random bytes, a plain pickle, a saved list) is refused
as one ``ValueError`` that names the file and what it holds, instead of torch's internal error, whose advice to
load with ``weights_only=False`` would run whatever code the file carries.
"""
from __future__ import annotations

import builtins
import os
import pickle
import re
import warnings
import zipfile

import numpy as np
import torch


def mmengine_checkpoint_globals() -> list:
    """The non-tensor globals an mmengine 0.10 training checkpoint pickles (message hub history, numpy)."""
    from mmengine.logging.history_buffer import HistoryBuffer

    multiarray = np.core.multiarray
    return [HistoryBuffer, multiarray._reconstruct, multiarray.scalar, np.ndarray, np.dtype,
            type(np.dtype(np.float64)), type(np.dtype(np.float32)), type(np.dtype(np.int64)),
            # HistoryBuffer keeps bound methods (getattr(buffer, 'mean')); getattr only fetches attributes
            # here, the safe unpickler still refuses to call anything outside this list.
            builtins.getattr]


def load_local_checkpoint(filename: str, map_location=None) -> dict:
    """Load a local checkpoint with ``weights_only=True`` and the mmengine globals allowed.

    Args:
        filename: Path to a ``.pth`` file (``~`` expanded).
        map_location: As for :func:`torch.load`.

    Returns:
        The checkpoint: a dict (mmengine's ``state_dict`` / ``meta`` / ``optimizer`` ..., or a plain state dict).

    Raises:
        FileNotFoundError: ``filename`` is not a file.
        ValueError: The file is truncated or corrupt, is not a torch checkpoint, pickles an object a checkpoint
            does not hold, or holds something other than a dict; the message names the file and what it found.
    """
    filename = os.path.expanduser(filename)
    if not os.path.isfile(filename):
        raise FileNotFoundError(f"checkpoint {filename} can not be found")
    try:
        with torch.serialization.safe_globals(mmengine_checkpoint_globals()), warnings.catch_warnings():
            # a plain pickle (not torch.save's) draws a warning about its protocol before the error below
            warnings.filterwarnings('ignore', message='Detected pickle protocol')
            checkpoint = torch.load(filename, map_location=map_location, weights_only=True)
    except (RuntimeError, pickle.UnpicklingError, EOFError, zipfile.BadZipFile, KeyError, ValueError, IndexError,
            OSError) as exc:  # OSError: torch's zip reader on some damaged archives
        raise ValueError(f"checkpoint {filename} can not be read: {_what_was_found(filename, exc)}") from exc
    if not isinstance(checkpoint, dict):
        raise ValueError(f"checkpoint {filename} holds a {type(checkpoint).__name__}, not a checkpoint (a dict "
                         "with 'state_dict', as tools/train.py saves)")
    return checkpoint


def _what_was_found(filename: str, exc: BaseException) -> str:
    """One sentence on why ``torch.load`` failed on ``filename``, without torch's advice to unpickle unsafely."""
    if not os.access(filename, os.R_OK):
        return "no permission to read the file"
    size = os.path.getsize(filename)
    with open(filename, 'rb') as f:
        head = f.read(64)
    text = str(exc)
    unsupported = re.search(r'Unsupported global: GLOBAL (\S+)', text)
    if unsupported:  # a pickle of another class: never unpickled, so no code of the file runs
        return (f"it pickles a {unsupported.group(1)} object, which is not part of an mmengine checkpoint (mmac "
                "only unpickles tensors, containers and the mmengine objects a checkpoint holds)")
    if size == 0:
        return "the file is empty (0 bytes)"
    unpickler = re.search(r'WeightsUnpickler error:\s*(.+)', text)  # torch's reason, without its advice
    first = (unpickler.group(1) if unpickler else text.strip() or type(exc).__name__).split('. ')[0].splitlines()[0]
    if head.startswith(b'PK\x03\x04'):  # torch.save's zip container
        if re.search(r'CUDA|device', text):  # a sound file, stored on a device this machine lacks
            return f"torch could not load it: {first}"
        return f"a damaged or truncated torch archive of {size} bytes ({first}); was it copied completely?"
    if head.startswith(b'\x80'):
        return (f"a Python pickle of {size} bytes that is not a complete torch checkpoint (a pickle of another "
                "object, or a file cut short)")
    if all(32 <= b < 127 or b in b'\t\r\n' for b in head):
        return f"a text file of {size} bytes, starting {head.decode('ascii').splitlines()[0][:40]!r}"
    return f"{size} bytes that are not a torch checkpoint (starting {head[:8].hex(' ')})"


def install_checkpoint_loader() -> None:
    """Make mmengine's ``CheckpointLoader`` use :func:`load_local_checkpoint` for local paths."""
    from mmengine.runner.checkpoint import CheckpointLoader

    CheckpointLoader.register_scheme(prefixes='', loader=load_local_checkpoint, force=True)


def load_checkpoint_strict(model: torch.nn.Module, checkpoint: str) -> None:
    """Load ``checkpoint`` into ``model`` with every key matched (mmengine's ``load_checkpoint``, strict).

    Raises:
        FileNotFoundError: The file does not exist.
        ValueError: The file is not a checkpoint (:func:`load_local_checkpoint`), or the weights do not fit the
            model (missing or unexpected keys, other shapes); the message names the checkpoint and the first
            mismatches.
    """
    from mmengine.runner import load_checkpoint

    try:
        load_checkpoint(model, str(checkpoint), map_location="cpu", strict=True, logger="silent")
    except RuntimeError as exc:  # mmengine's strict loading: missing or unexpected keys, other shapes
        if "state dict" not in str(exc) and "size mismatch" not in str(exc):
            raise
        first = str(exc).strip().splitlines()[:3]
        raise ValueError(f"checkpoint {checkpoint} does not fit the model of its config ({' / '.join(first)}); "
                         "was it trained with another config?") from exc
