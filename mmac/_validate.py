"""Checks of user input at the boundary (constructors, loaders, command lines), written once.

After MONAI's ``look_up_option`` and mmengine's errors: a wrong *type* raises :class:`TypeError`, a value of
the right type that is not allowed raises :class:`ValueError`; every message names the argument, the bad
value and what is allowed. Numbers: any real number is accepted, numpy's included (``np.float32(0.5)``,
``np.int64(3)``), but never a bool (``True`` is an ``int`` in Python, and ``np.bool_`` a number to numpy),
because a bool where a number is expected is almost always a misplaced argument.
"""
from __future__ import annotations

import math
import numbers
from collections.abc import Iterable
from typing import Any, TypeVar

T = TypeVar("T")


def _describe(value: Any) -> str:
    return f"{value!r} ({type(value).__name__})"


def check_choice(value: T, allowed: Iterable, name: str) -> T:
    """Return ``value`` if it is one of ``allowed``.

    Args:
        value: The user's choice.
        allowed: The allowed values, in the order the message lists them.
        name: What is chosen, e.g. ``'reduction'``; the message reads ``unknown reduction 'max'``.

    Raises:
        ValueError: ``value`` is not in ``allowed``; the message lists the allowed values.
    """
    allowed = tuple(allowed)
    # `True in (1, 2)` holds in Python; a bool is only a choice when the choices are bools.
    found = any(value == option and isinstance(value, bool) == isinstance(option, bool) for option in allowed)
    if not found:
        raise ValueError(f"unknown {name} {value!r}; allowed: {', '.join(map(repr, allowed))}")
    return value


def _check_range(value: T, name: str, minimum: float | None, maximum: float | None,
                 exclusive_minimum: bool) -> T:
    if minimum is not None and (value <= minimum if exclusive_minimum else value < minimum):
        raise ValueError(f"{name} must be {'>' if exclusive_minimum else '>='} {minimum}, got {value!r}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {value!r}")
    return value


def is_real(value: Any) -> bool:
    """Whether ``value`` is a real number (Python or numpy) and not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)  # np.bool_ is no numbers.Real


def is_integer(value: Any) -> bool:
    """Whether ``value`` is an integer (Python or numpy) and not a bool."""
    return isinstance(value, numbers.Integral) and is_real(value)


def check_real(value: Any, name: str, minimum: float | None = None, maximum: float | None = None,
               exclusive_minimum: bool = False) -> float:
    """Return ``value`` as a float after checking that it is a finite real number within the bounds.

    Args:
        value: The number to check; Python or numpy, not a bool.
        name: Argument name for the message.
        minimum: Smallest allowed value, or None for no lower bound. Defaults to None.
        maximum: Largest allowed value, or None for no upper bound. Defaults to None.
        exclusive_minimum: ``minimum`` itself is not allowed (``value > minimum``). Defaults to False.

    Raises:
        TypeError: ``value`` is not a real number, or is a bool.
        ValueError: ``value`` is NaN or infinite, or outside the bounds.
    """
    if not is_real(value):
        raise TypeError(f"{name} must be a real number (not a bool), got {_describe(value)}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return _check_range(value, name, minimum, maximum, exclusive_minimum)


def check_int(value: Any, name: str, minimum: int | None = None, maximum: int | None = None) -> int:
    """Return ``value`` as an int after checking that it is an integer within the bounds.

    Args:
        value: The integer to check; Python or numpy, not a bool (``2.0`` is not an integer).
        name: Argument name for the message.
        minimum: Smallest allowed value, or None for no lower bound. Defaults to None.
        maximum: Largest allowed value, or None for no upper bound. Defaults to None.

    Raises:
        TypeError: ``value`` is not an integer, or is a bool.
        ValueError: ``value`` is outside the bounds.
    """
    if not is_integer(value):
        raise TypeError(f"{name} must be an integer (not a bool), got {_describe(value)}")
    return _check_range(int(value), name, minimum, maximum, exclusive_minimum=False)


def check_type(value: T, types: type | tuple[type, ...], name: str, expected: str | None = None) -> T:
    """Return ``value`` if it is an instance of ``types``.

    Args:
        value: The object to check.
        types: Allowed type(s), as for ``isinstance``.
        name: Argument name for the message.
        expected: How the message names the allowed types, e.g. ``'a dict {domain: weight}'``. Defaults to
            the type names.

    Raises:
        TypeError: ``value`` is not an instance of ``types``.
    """
    if not isinstance(value, types):
        if expected is None:
            names = [t.__name__ for t in (types if isinstance(types, tuple) else (types,))]
            expected = "a " + " or ".join(names)
        raise TypeError(f"{name} must be {expected}, got {_describe(value)}")
    return value
