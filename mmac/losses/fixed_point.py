"""Fixed-point loss: a translation into the healthy domain should be left alone by the same generator.

With F: X -> Y (pathological to healthy) the loss is

    L_fp = w_fp * E_x |F(sg(F(x))) - sg(F(x))|_1,

where sg stops the gradient. F(x) is meant to be a healthy thigh, and F maps a healthy thigh to itself (the
identity loss asks it of real healthy slices, F(y) = y). So the identity loss is extended to the images F
makes: whatever F still changes in F(x) is a change F makes to healthy-looking tissue, such as a systematic
darkening of normal fat and muscle, which is how L_AC's F was measured to fail on the synthetic cohort
(docs/results.md). Unlike a fidelity term it never compares F(x) with x, so it does not ask F to keep any trace
of the infiltration: a perfect pseudo-healthy F has L_fp = 0 whatever it removed.

Not in Gadermayr et al.; an option of :class:`~mmac.models.ModularCycleGAN` (``fixed_point_loss=``), off by
default. The model runs the extra forward ``F(sg(F(x)))`` and calls the loss with it.
"""
from __future__ import annotations

from collections.abc import Mapping

from torch import Tensor, nn

from mmac._validate import check_choice, check_real, check_type
from mmac.losses.cycle import check_same_shape, reduce_error
from mmac.registry import register

REDUCTIONS = ("mean", "none")


def fixed_point_l1(again: Tensor, once: Tensor, reduction: str = "mean") -> Tensor:
    """L1 between a generator's output applied again and the output itself, the latter without gradient.

    Args:
        again: F(F(x)), shape (N, C, H, W) or any shape with the batch first.
        once: F(x), the same shape; it is detached (a target, not a path for gradients).
        reduction: ``'mean'``, shape (); ``'none'``: mean per sample, shape (N,). Defaults to ``'mean'``.

    Raises:
        TypeError: Non-tensor inputs.
        ValueError: Shapes that differ, unknown ``reduction``.
    """
    check_same_shape(again, once, ("again", "once"))
    check_choice(reduction, REDUCTIONS, "reduction")
    return reduce_error((again - once.detach()).abs(), reduction)


@register("MODELS")
class FixedPointLoss(nn.Module):
    """``loss_weight * fixed_point_l1(again[domain], once[domain])``: the translation into ``domain`` is a
    fixed point of its generator (see the module docstring).

    Args:
        loss_weight: The weight w_fp, >= 0. Defaults to 0.5 (the identity loss's weight in the paper's setting).
        domain: The target domain whose generator should leave its own outputs alone. Defaults to 'healthy' (F).
        reduction: ``'mean'`` or ``'none'``. Defaults to ``'mean'``.
    """

    def __init__(self, loss_weight: float = 0.5, domain: str = "healthy", reduction: str = "mean") -> None:
        super().__init__()
        self.loss_weight = check_real(loss_weight, "loss_weight", minimum=0)
        check_type(domain, str, "domain", expected="a domain name such as 'healthy'")
        self.domain = domain
        self.reduction = check_choice(reduction, REDUCTIONS, "reduction")

    def forward(self, again: Mapping[str, Tensor], once: Mapping[str, Tensor]) -> Tensor:
        """Compute the loss.

        Args:
            again: ``{domain: generators[domain](translation, detached)}``, e.g. ``{'healthy': F(F(x))}``.
            once: ``{domain: translation}``, e.g. ``{'healthy': F(x)}``, the same shapes.

        Raises:
            ValueError: ``domain`` missing from either dict.
        """
        for name, tensors in (("again", again), ("once", once)):
            if self.domain not in tensors:
                raise ValueError(f"{name} has no key {self.domain!r}, the loss's domain; keys: {sorted(tensors)}")
        return self.loss_weight * fixed_point_l1(again[self.domain], once[self.domain], self.reduction)

    def extra_repr(self) -> str:
        return f"loss_weight={self.loss_weight}, domain={self.domain!r}, reduction={self.reduction!r}"
