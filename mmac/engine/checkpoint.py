"""Loading mmengine checkpoints with ``torch.load(weights_only=True)`` on torch >= 2.6.

mmengine 0.10.7 calls ``torch.load(filename)`` without ``weights_only``; since torch 2.6 that means
``weights_only=True``, and an mmengine checkpoint then fails to load: its message hub pickles
``HistoryBuffer`` objects (numpy arrays and bound statistics methods inside). Rather than switching the safe
unpickler off for every file in the process, mmac replaces mmengine's loader for local paths by one that keeps
``weights_only=True`` and allows exactly the globals an mmengine checkpoint contains, during that load only.
"""
from __future__ import annotations

import builtins
import os

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


def load_local_checkpoint(filename: str, map_location=None):
    """Load a local checkpoint with ``weights_only=True`` and the mmengine globals allowed.

    Args:
        filename: Path to a ``.pth`` file (``~`` expanded).
        map_location: As for :func:`torch.load`.

    Raises:
        FileNotFoundError: ``filename`` is not a file.
    """
    filename = os.path.expanduser(filename)
    if not os.path.isfile(filename):
        raise FileNotFoundError(f"checkpoint {filename} can not be found")
    with torch.serialization.safe_globals(mmengine_checkpoint_globals()):
        return torch.load(filename, map_location=map_location, weights_only=True)


def install_checkpoint_loader() -> None:
    """Make mmengine's ``CheckpointLoader`` use :func:`load_local_checkpoint` for local paths."""
    from mmengine.runner.checkpoint import CheckpointLoader

    CheckpointLoader.register_scheme(prefixes='', loader=load_local_checkpoint, force=True)


def load_checkpoint_strict(model: torch.nn.Module, checkpoint: str) -> None:
    """Load ``checkpoint`` into ``model`` with every key matched (mmengine's ``load_checkpoint``, strict).

    Raises:
        FileNotFoundError: The file does not exist.
        ValueError: The weights do not fit the model (missing or unexpected keys, other shapes); the message
            names the checkpoint and the first mismatches.
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
