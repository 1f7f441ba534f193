"""Fidelity of a translation to its source image: a penalty on how much a generator changes its input.

With X the pathological and Y the healthy domain and F: X -> Y, the fidelity loss on the healthy domain is

    L_fid = w_f * E_x mean_pixels rho(F(x) - x),

with rho either the L1 norm (``'l1'``) or a bounded L1 (``'bounded_l1'``):

    rho(d) = s * (1 - exp(-|d| / s)),

which has slope 1 at d = 0, as L1, but whose slope ``exp(-|d| / s)`` vanishes for changes much larger than the
scale s and whose value never exceeds s.

Why a model may want it: the symmetric cycle ``|G(F(x)) - x|_1`` of CycleGAN does two things. It stops F from
changing x where nothing needs to change (thin tissue, the fat ring, the marrow), and it forces F to keep the
traces of the infiltration that G needs to restore x. The asymmetric loss L_AC of Gadermayr et al. drops both.
The bounded penalty gives the first back without the second: F's small departures from x cost as much as
under L1, while removing heavy infiltration (a change of many times s) costs at most s per pixel and pulls
back hardly at all. The L1 penalty is the sparse-change prior of residual "pseudo-healthy" generators (it
also pulls against removing the infiltration, in proportion to the change).

This is not in Gadermayr et al.; it is an option of :class:`~mmac.models.ModularCycleGAN`
(``fidelity_loss=``), off by default. :func:`fidelity_penalty` is the pure maths and
:class:`TranslationFidelityLoss` the thin registered module.
"""
from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn

from mmac._validate import check_choice, check_real, check_type
from mmac.losses.cycle import check_same_shape, reduce_error
from mmac.registry import register

#: Allowed values of ``penalty``.
PENALTIES = ("l1", "bounded_l1")
#: Allowed values of ``reduction``.
REDUCTIONS = ("mean", "none")


def fidelity_penalty(translation: Tensor, source: Tensor, penalty: str = "bounded_l1", scale: float = 0.2,
                     reduction: str = "mean") -> Tensor:
    """Mean over pixels of ``rho(translation - source)``.

    Args:
        translation: The generator's output, e.g. F(x), shape (N, C, H, W), (N, C, D, H, W) or any shape with
            the batch first.
        source: The image it translated, e.g. x, the same shape.
        penalty: ``'l1'`` (rho(d) = |d|) or ``'bounded_l1'`` (rho(d) = s (1 - exp(-|d| / s))). Defaults to
            ``'bounded_l1'``.
        scale: s, > 0, in the images' intensity units (the model's inputs are in [-1, 1], so 0.2 is 5 % of the
            range). Unused by ``'l1'``. Defaults to 0.2.
        reduction: ``'mean'`` over all elements, shape (); ``'none'``: mean per sample, shape (N,).
            Defaults to ``'mean'``.

    Returns:
        Shape () or (N,) as ``reduction`` says.

    Raises:
        TypeError: non-tensor inputs, a scale that is not a real number.
        ValueError: unknown ``penalty`` or ``reduction``, ``scale`` <= 0 or not finite, shapes that differ.
    """
    check_same_shape(translation, source, ("translation", "source"))
    check_choice(penalty, PENALTIES, "penalty")
    check_choice(reduction, REDUCTIONS, "reduction")
    scale = check_real(scale, "scale", minimum=0, exclusive_minimum=True)
    change = (translation - source).abs()
    if penalty == "bounded_l1":
        change = scale * -torch.expm1(-change / scale)  # s (1 - exp(-|d| / s)), exact for small |d|
    if reduction == "none" and change.ndim < 1:
        raise ValueError("reduction='none' needs a batch dimension, the inputs are 0-d")
    return reduce_error(change, reduction)


@register("MODELS")
class TranslationFidelityLoss(nn.Module):
    """Penalty on how far the translation into ``domain`` departs from the image it came from.

    ``loss_weight * fidelity_penalty(translations[domain], sources[domain], penalty, scale)``; see the module
    docstring for why and :func:`fidelity_penalty` for the maths.

    Args:
        loss_weight: The weight w_f, >= 0. Defaults to 1.0.
        domain: The target domain of the translation that is held to its source. Defaults to 'healthy' (F).
        penalty: ``'l1'`` or ``'bounded_l1'``. Defaults to ``'bounded_l1'``.
        scale: The bounded penalty's scale s in intensity units (inputs in [-1, 1]). Defaults to 0.2.
        reduction: ``'mean'`` or ``'none'``. Defaults to ``'mean'``.

    Raises:
        TypeError: non-string ``domain``, weight or scale not a real number.
        ValueError: negative or non-finite ``loss_weight``, bad ``penalty``, ``scale`` or ``reduction``.
    """

    def __init__(self, loss_weight: float = 1.0, domain: str = "healthy", penalty: str = "bounded_l1",
                 scale: float = 0.2, reduction: str = "mean") -> None:
        super().__init__()
        self.loss_weight = check_real(loss_weight, "loss_weight", minimum=0)
        check_type(domain, str, "domain", expected="a domain name such as 'healthy'")
        check_choice(penalty, PENALTIES, "penalty")
        check_choice(reduction, REDUCTIONS, "reduction")
        self.scale = check_real(scale, "scale", minimum=0, exclusive_minimum=True)
        self.domain, self.penalty, self.reduction = domain, penalty, reduction

    def forward(self, translations: Mapping[str, Tensor], sources: Mapping[str, Tensor]) -> Tensor:
        """Compute the loss.

        Args:
            translations: ``{target domain: translation}``, e.g. ``{'healthy': F(x)}``, each (N, C, H, W).
            sources: ``{target domain: the image translated}``, e.g. ``{'healthy': x}``, the same shapes.

        Returns:
            Shape () or (N,) as ``reduction`` says.

        Raises:
            ValueError: ``domain`` missing from either dict (the message names the keys given).
        """
        for name, tensors in (("translations", translations), ("sources", sources)):
            check_type(tensors, Mapping, name, expected="a dict {domain: tensor}")
            if self.domain not in tensors:
                raise ValueError(f"{name} has no key {self.domain!r}, the loss's domain; keys given: "
                                 f"{sorted(tensors)}")
        return self.loss_weight * fidelity_penalty(translations[self.domain], sources[self.domain],
                                                   self.penalty, self.scale, self.reduction)

    def extra_repr(self) -> str:
        return (f"loss_weight={self.loss_weight}, domain={self.domain!r}, penalty={self.penalty!r}, "
                f"scale={self.scale}, reduction={self.reduction!r}")
