"""Training-side guards that need no mmagic: non-finite losses and gradient averaging across ranks."""
from __future__ import annotations

from collections.abc import Iterable, Mapping

import torch
import torch.distributed as dist


class NonFiniteLossError(FloatingPointError):
    """A loss term became NaN or infinite; training stops before the optimizer step."""


def check_finite(losses: Mapping[str, torch.Tensor], iteration: int | None) -> None:
    """Raise :class:`NonFiniteLossError` naming the first loss term that is NaN or infinite.

    Called before any optimizer step, so that the weights of a failing iteration are never written and the
    last checkpoint saved stays the last good one.

    Args:
        losses: Loss terms, each a scalar tensor (or a tensor reduced with ``sum`` for the check).
        iteration: The iteration the losses belong to (0-based, as mmengine counts), named in the error.

    Raises:
        NonFiniteLossError: With the iteration, the term's name and its value.
    """
    if not losses:
        return
    names = list(losses)
    # One host sync for all terms: stack their sums and test once.
    values = torch.stack([losses[n].detach().float().sum() for n in names])
    finite = torch.isfinite(values)
    if bool(finite.all()):
        return
    bad = [(n, float(v)) for n, v, ok in zip(names, values.tolist(), finite.tolist(), strict=True) if not ok]
    where = "an unknown iteration" if iteration is None else f"iteration {iteration}"
    terms = ", ".join(f"{n} = {v}" for n, v in bad)
    raise NonFiniteLossError(f"non-finite loss at {where}: {terms}. Training stopped before the optimizer "
                             "step; the last saved checkpoint is untouched. Lower the learning rate, disable "
                             "--amp, or check the input data for NaN/inf.")


def average_gradients(parameters: Iterable[torch.nn.Parameter]) -> None:
    """Average ``.grad`` of ``parameters`` over all ranks of the default process group (in place).

    A no-op outside distributed training. mmagic's GAN models call their networks through
    ``get_module(...)``, i.e. around the DistributedDataParallel wrapper, whose gradient hooks then never
    arm; this explicit all-reduce makes the update identical on every rank whichever wrapper is used.
    Averaging is idempotent, so gradients a wrapper already averaged stay as they are.

    Args:
        parameters: Parameters whose gradients to average. Parameters without a gradient are skipped on
            every rank alike (the set of parameters with gradients is the same on all ranks).
    """
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return
    world = dist.get_world_size()
    # Coalesce into one flat buffer per dtype: one collective instead of one per tensor.
    by_dtype: dict[torch.dtype, list[torch.Tensor]] = {}
    for g in grads:
        by_dtype.setdefault(g.dtype, []).append(g)
    for group in by_dtype.values():
        flat = torch.cat([g.reshape(-1) for g in group])  # (sum of numels,)
        dist.all_reduce(flat, op=dist.ReduceOp.SUM)
        flat.div_(world)
        offset = 0
        for g in group:
            n = g.numel()
            g.copy_(flat[offset:offset + n].view_as(g))
            offset += n
