"""Checks that the installed stack is one mmac works with, and says what to run when it is not.

mmagic 1.2.0 (its last release) needs a full mmcv 2.0-2.1 with compiled ops (``import mmagic.models``
imports ``mmcv.ops``) and mmengine 0.10.x. Failing these gives deep import errors far from their cause;
:func:`check_stack` turns them into one message naming the fix.

numpy: mmagic 1.2.0 was released for numpy 1 and names ``np.bool8`` at import time, an alias numpy 2
removed. The pinned CPU stack keeps numpy 1.26.4; on machines whose image ships numpy 2 (GPU images with
a recent torch), :func:`apply_numpy2_shim` restores that one alias (``np.bool8 is np.bool_`` in numpy 1
too), which is all mmagic, mmengine and mmcv need from numpy 1 (checked by grepping their sources for every
alias numpy 2 removed).
"""
from __future__ import annotations

import importlib
import importlib.util
import re

FIX = "run `tools/install.sh` from the repository root (it creates .venv with the pinned stack)"


class StackError(ImportError):
    """The installed packages cannot run mmac."""


def _version_tuple(version: str) -> tuple[int, ...]:
    parts = []
    for piece in version.split("+")[0].split("."):
        match = re.match(r"\d+", piece)
        if match is None:
            break
        parts.append(int(match.group()))
        if match.end() != len(piece):  # '0rc1': a pre-release of this number; stop here
            break
    return tuple(parts)


def has_mmagic() -> bool:
    """Whether mmagic is importable at all (without importing it)."""
    return importlib.util.find_spec("mmagic") is not None


def apply_numpy2_shim(np=None) -> bool:
    """Give numpy >= 2 the ``np.bool8`` alias mmagic 1.2.0 uses; call it before mmagic is imported.

    Args:
        np: The numpy module to patch (default: the installed one; tests pass a stand-in).

    Returns:
        True when the alias was added (numpy >= 2 without it), False when nothing was needed.
    """
    if np is None:
        import numpy as np

    if hasattr(np, "bool8"):
        return False
    np.bool8 = np.bool_
    return True


def check_stack(require_mmagic: bool = False) -> None:
    """Raise :class:`StackError` naming the fix when the stack is wrong.

    Args:
        require_mmagic: Also require mmagic, mmengine and a full mmcv with ops. The pure torch/numpy core
            of mmac runs without them. Defaults to False.

    Raises:
        StackError: mmagic/mmcv/mmengine missing or of an unsupported version, or mmcv without compiled
            ops.
    """
    problems: list[str] = []
    mmagic_present = has_mmagic()
    if require_mmagic or mmagic_present:
        for name, lo, hi in (("mmengine", (0, 10), (0, 11)), ("mmcv", (2, 0, 0), (2, 2, 0)),
                             ("mmagic", (1, 2), (1, 3))):
            if importlib.util.find_spec(name) is None:
                problems.append(f"{name} is not installed")
                continue
            try:
                version = importlib.import_module(name).__version__
            except Exception as exc:  # a broken install raises anything at import
                problems.append(f"{name} fails to import: {exc!r}")
                continue
            if not lo <= _version_tuple(version) < hi:
                allowed = ".".join(map(str, lo)) + " <= version < " + ".".join(map(str, hi))
                problems.append(f"{name} {version} is installed, mmac needs {allowed}")
        if not problems:
            try:
                importlib.import_module("mmcv.ops")
            except Exception as exc:
                problems.append(f"mmcv has no compiled ops (mmcv-lite?), mmagic.models needs them: {exc!r}")
        if not problems:
            try:  # what registration imports: mmagic's models pull in torchvision, diffusers, transformers ...
                importlib.import_module("mmagic.models")
            except Exception as exc:
                problems.append(f"mmagic.models fails to import (a dependency of mmagic missing?): {exc!r}")
    if problems:
        raise StackError("mmac cannot run on this Python environment:\n  - " + "\n  - ".join(problems)
                         + f"\nTo fix: {FIX}.")


# Warnings the pinned stack prints on every start that a user can do nothing about: setuptools' deprecation of
# pkg_resources (imported by mmengine), torch's of _register_pytree_node (called by transformers, which mmagic
# imports), and mmcv's note on the stock PatchGAN's conv bias before instance norm (mmagic's architecture).
THIRD_PARTY_NOISE = (
    (UserWarning, r"pkg_resources is deprecated as an API"),
    (FutureWarning, r"`torch\.utils\._pytree\._register_pytree_node` is deprecated"),
    (UserWarning, r"Unnecessary conv bias before batch/instance norm"),
)


def quiet_third_party_warnings() -> None:
    """Hide :data:`THIRD_PARTY_NOISE` for this process (the command-line tools call it first; the library
    never does, so a program importing mmac keeps its own warning settings)."""
    import warnings

    for category, message in THIRD_PARTY_NOISE:
        warnings.filterwarnings("ignore", message=message, category=category)
