"""A loss weight that changes with the training iteration (pure maths; the hook is
:class:`mmac.training.loss_schedule.LossWeightScheduleHook`).

Two shapes, with ``w0`` the weight at the start (``start_weight``) and ``w1`` the weight at the end (``end_weight``):

* ``'linear'``: ``w0`` up to ``begin``, then a straight line to ``w1`` at ``end``, ``w1`` after it;
* ``'step'``: ``w0`` before ``end``, ``w1`` from ``end`` on (``begin`` unused).

For example, a fidelity term held at 4 for the first half of a 900-iteration run and then dropped is
``scheduled_weight(i, 4.0, 0.0, end=450, mode='step')``.
"""
from __future__ import annotations

from mmac._validate import check_choice, check_int, check_real

#: Allowed values of ``mode``.
MODES = ("linear", "step")


def check_schedule(start_weight: float, end_weight: float, begin: int, end: int,
                   mode: str) -> tuple[float, float, int, int]:
    """Validate a schedule's settings; return ``(start_weight, end_weight, begin, end)`` as floats and ints.

    Raises:
        TypeError: a weight not a real number, an iteration not an integer (bools are neither).
        ValueError: a negative or non-finite weight, a negative iteration, ``end <= begin`` for ``'linear'``,
            an unknown ``mode`` (the message lists :data:`MODES`).
    """
    check_choice(mode, MODES, "mode")
    start_weight = check_real(start_weight, "start_weight", minimum=0)
    end_weight = check_real(end_weight, "end_weight", minimum=0)
    begin = check_int(begin, "begin", minimum=0)
    end = check_int(end, "end", minimum=0)
    if mode == "linear" and end <= begin:
        raise ValueError(f"a linear schedule needs end > begin, got begin={begin}, end={end}")
    return start_weight, end_weight, begin, end


def scheduled_weight(iteration: int, start_weight: float, end_weight: float, begin: int = 0, end: int = 0,
                     mode: str = "linear") -> float:
    """The weight at ``iteration`` (0-based, the iteration about to run).

    Args:
        iteration: Training iteration, >= 0.
        start_weight: Weight w0 at the start, >= 0.
        end_weight: Weight w1 at the end, >= 0.
        begin: First iteration of the linear change. Defaults to 0.
        end: ``'linear'``: the iteration at which w1 is reached; ``'step'``: the first iteration with w1.
            Defaults to 0.
        mode: ``'linear'`` or ``'step'``. Defaults to ``'linear'``.

    Returns:
        The weight, a float.

    Raises:
        TypeError, ValueError: as :func:`check_schedule`, and for a negative or non-integer ``iteration``.
    """
    start_weight, end_weight, begin, end = check_schedule(start_weight, end_weight, begin, end, mode)
    return weight_at(check_int(iteration, "iteration", minimum=0), start_weight, end_weight, begin, end, mode)


def weight_at(iteration: int, start_weight: float, end_weight: float, begin: int, end: int, mode: str) -> float:
    """:func:`scheduled_weight` without its checks, for settings :func:`check_schedule` has passed (a hook
    calls it every iteration)."""
    if mode == "step":
        return start_weight if iteration < end else end_weight
    t = min(max((iteration - begin) / (end - begin), 0.0), 1.0)
    return start_weight + (end_weight - start_weight) * t
