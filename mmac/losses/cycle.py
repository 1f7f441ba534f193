"""Cycle-consistency losses: the symmetric loss of CycleGAN and the asymmetric loss of Gadermayr et al.

With X the pathological and Y the healthy domain, F: X -> Y and G: Y -> X, CycleGAN (Zhu et al., ICCV 2017)
uses the symmetric loss (eq. 2 of the paper below)

    L_C = w_c * (E_y |F(G(y)) - y|_1 + E_x |G(F(x)) - x|_1),

which forces F to keep every detail of x so that G can restore it, including the pathology F should remove.
The asymmetric loss (eq. 3) keeps only the cycle that starts and ends in the healthy domain,

    L_AC = 2 * w_c * E_y |F(G(y)) - y|_1,

so that the many-to-one mapping F (pathological -> healthy) need not be invertible.

    M. Gadermayr, M. Tschuchnig, D. Merhof, N. Kraemer, D. Truhn, B. Gess. "An Asymmetric Cycle-Consistency
    Loss for Dealing with Many-to-One Mappings in Image Translation: A Study on Thigh MR Scans." ISBI 2021.

Both losses take the cycles as dicts keyed by the domain in which each cycle starts and ends (mmagic's
CycleGAN names them ``cycle_{domain}`` beside ``real_{domain}``). :func:`cycle_l1` is the pure maths;
:class:`CycleConsistencyLoss` and :class:`AsymmetricCycleLoss` are thin modules registered in mmagic's
``MODELS``, which also tell a model which cycles it needs to compute at all (``needs_cycle``).
"""
from __future__ import annotations

from collections.abc import Mapping

from torch import Tensor, nn

from mmac._validate import check_choice, check_real, check_type
from mmac.registry import register

REDUCTIONS = ("mean", "sum", "none")


def _check_domain(domain: object, where: str) -> None:
    if not isinstance(domain, str):
        raise TypeError(f"domain keys must be strings, got {domain!r} ({type(domain).__name__}) in {where}")


def _check_domain_weights(domain_weights: object) -> dict[str, float]:
    """Validate a ``{domain: weight}`` mapping and return it as a dict of floats."""
    check_type(domain_weights, Mapping, "domain_weights", expected="a dict {domain: weight}")
    checked = {}
    for domain, weight in domain_weights.items():
        _check_domain(domain, "domain_weights")
        checked[domain] = check_real(weight, f"domain_weights[{domain!r}]", minimum=0)
    if not any(weight > 0 for weight in checked.values()):
        raise ValueError(f"domain_weights {dict(domain_weights)!r} has no positive weight; "
                         "to switch the cycle loss off, set loss_weight=0")
    return checked


def check_same_shape(first: Tensor, second: Tensor, names: tuple[str, str]) -> None:
    """Raise unless ``first`` and ``second`` are tensors of one shape; the messages use ``names``.

    Raises:
        TypeError: A value that is not a torch.Tensor.
        ValueError: Shapes that differ.
    """
    for value, name in zip((first, second), names, strict=True):
        check_type(value, Tensor, name, expected="a torch.Tensor")
    if first.shape != second.shape:
        raise ValueError(f"{names[0]} has shape {tuple(first.shape)} but {names[1]} has shape "
                         f"{tuple(second.shape)}; they must be equal")


def reduce_error(error: Tensor, reduction: str) -> Tensor:
    """Reduce a per-element error: a scalar for 'mean' and 'sum', the mean per sample, shape (N,), for 'none'."""
    if reduction == "mean":
        return error.mean()
    if reduction == "sum":
        return error.sum()
    return error.flatten(1).mean(dim=1)  # (N, ...) -> (N, prod(...)) -> (N,)


def _l1(reconstruction: Tensor, original: Tensor, reduction: str) -> Tensor:
    """L1 of one cycle: a scalar for 'mean' and 'sum', shape (N,) for 'none'."""
    return reduce_error((reconstruction - original).abs(), reduction)


def cycle_l1(reconstructions: Mapping[str, Tensor], originals: Mapping[str, Tensor],
             domain_weights: Mapping[str, float], reduction: str = "mean") -> Tensor:
    """Weighted sum over domains of the L1 distance between each cycle and the image it started from.

    ``sum_d domain_weights[d] * L1(reconstructions[d], originals[d])``. Domains whose weight is 0, and domains
    of ``reconstructions`` not named in ``domain_weights``, are ignored: they need neither a reconstruction
    nor an original.

    Args:
        reconstructions: ``{domain: cycle}``, where ``reconstructions[d]`` is the cycle that starts and ends in
            domain ``d`` (e.g. ``F(G(y))`` for the healthy domain), each of shape (N, C, H, W), (N, C, D, H, W)
            or any shape with the batch first.
        originals: ``{domain: image}``, the images the cycles started from, each of the same shape as
            ``reconstructions[d]``.
        domain_weights: ``{domain: weight}``, weights >= 0, at least one of them positive.
        reduction: How to reduce each domain's absolute errors before weighting:
            ``'mean'``: mean absolute error over all elements; returns a scalar, shape ().
            ``'sum'``: sum of absolute errors over all elements; returns a scalar, shape ().
            ``'none'``: mean absolute error per sample over all non-batch dimensions; returns shape (N,).
                All weighted domains must then have the same batch size N.
            Defaults to 'mean'.

    Returns:
        The weighted sum over domains, shape () or (N,) as ``reduction`` says.

    Raises:
        TypeError: a non-string domain, a weight that is not a real number (or is a bool), inputs that are not
            dicts, or a non-tensor value.
        ValueError: negative / non-finite / all-zero weight, unknown reduction, a weighted domain missing from
            ``reconstructions`` or ``originals``, shapes that differ, or batch sizes that differ across domains
            with ``reduction='none'``.
    """
    weights = _check_domain_weights(domain_weights)
    check_choice(reduction, REDUCTIONS, "reduction")
    for name, tensors in (("reconstructions", reconstructions), ("originals", originals)):
        check_type(tensors, Mapping, name, expected="a dict {domain: tensor}")
        for domain in tensors:
            _check_domain(domain, name)

    total = None
    batch_size = None
    for domain, weight in weights.items():
        if weight == 0:
            continue
        for name, tensors in (("reconstructions", reconstructions), ("originals", originals)):
            if domain not in tensors:
                raise ValueError(f"{name} has no key {domain!r}, whose cycle has weight {weight} in the loss; "
                                 f"keys given: {sorted(tensors)}")
        reconstruction, original = reconstructions[domain], originals[domain]
        check_same_shape(reconstruction, original, (f"reconstructions[{domain!r}]", f"originals[{domain!r}]"))
        if reduction == "none":
            if reconstruction.ndim < 1:
                raise ValueError(f"reduction='none' needs a batch dimension, reconstructions[{domain!r}] is 0-d")
            if batch_size is not None and reconstruction.shape[0] != batch_size:
                raise ValueError(f"reduction='none' needs one batch size for all domains, got {batch_size} and "
                                 f"{reconstruction.shape[0]} (reconstructions[{domain!r}])")
            batch_size = reconstruction.shape[0]
        term = weight * _l1(reconstruction, original, reduction)
        total = term if total is None else total + term
    return total


@register("MODELS")
class CycleConsistencyLoss(nn.Module):
    """Symmetric cycle-consistency loss of CycleGAN (eq. 2), with optional per-domain weights.

    ``loss_weight * sum_d domain_weights[d] * L1(reconstructions[d], originals[d])``; with the default
    ``domain_weights=None`` every domain given in ``reconstructions`` has weight 1, which is eq. 2 with
    ``loss_weight = w_c``.

    Args:
        loss_weight: The cycle weight w_c, >= 0. Defaults to 1.0.
        domain_weights: ``{domain: weight}``, weights >= 0 and at least one positive; domains not named have
            weight 0. None weights every domain given to ``forward`` by 1. Defaults to None.
        reduction: 'mean', 'sum' or 'none', see :func:`cycle_l1`. Defaults to 'mean'.
        translation_grad: Share of the cycle's gradient that reaches the generator which made the translation
            inside the cycle (G in ``F(G(y))``), in [0, 1]: 1 is the paper's loss, 0 lets the cycle train only
            the generator that closes it (F), so G cannot make its pathology easy for F to undo (not in the
            paper; see :meth:`cycle_input`). Defaults to 1.0.

    Raises:
        TypeError: ``loss_weight``, ``translation_grad`` or a domain weight not a real number, ``domain_weights``
            not a dict of string keys.
        ValueError: negative or non-finite ``loss_weight``, bad ``domain_weights``, unknown ``reduction``,
            ``translation_grad`` outside [0, 1].
    """

    def __init__(self, loss_weight: float = 1.0, domain_weights: Mapping[str, float] | None = None,
                 reduction: str = "mean", translation_grad: float = 1.0) -> None:
        super().__init__()
        self.loss_weight = check_real(loss_weight, "loss_weight", minimum=0)
        self.domain_weights = None if domain_weights is None else _check_domain_weights(domain_weights)
        check_choice(reduction, REDUCTIONS, "reduction")
        self.reduction = reduction
        self.translation_grad = check_real(translation_grad, "translation_grad", minimum=0, maximum=1)

    def cycle_input(self, translation: Tensor) -> Tensor:
        """The translation as the cycle's second generator takes it: same values, gradient scaled.

        A model calls this on ``G(y)`` before it computes ``F(G(y))``; the adversarial and identity losses use
        ``G(y)`` itself, so only the cycle's gradient into G is scaled (by ``translation_grad``).

        Args:
            translation: The first generator's output, any shape, e.g. (N, C, H, W).

        Returns:
            A tensor equal to ``translation``; backward multiplies its gradient by ``translation_grad``.
        """
        if self.translation_grad == 1.0:
            return translation
        held = translation.detach()
        if self.translation_grad == 0.0:
            return held
        return held + self.translation_grad * (translation - held)

    @property
    def active_domains(self) -> tuple[str, ...] | None:
        """Domains whose cycle has a positive weight, or None meaning "every domain given to forward"."""
        if self.domain_weights is None:
            return None
        return tuple(domain for domain, weight in self.domain_weights.items() if weight > 0)

    def needs_cycle(self, domain: str) -> bool:
        """Whether the cycle that starts and ends in ``domain`` contributes to the loss (so must be computed)."""
        _check_domain(domain, "needs_cycle")
        return self.domain_weights is None or self.domain_weights.get(domain, 0.0) > 0

    def forward(self, reconstructions: Mapping[str, Tensor], originals: Mapping[str, Tensor]) -> Tensor:
        """Compute the loss.

        Args:
            reconstructions: ``{domain: cycle}``, each (N, C, H, W) or (N, C, D, H, W); ``reconstructions[d]``
                starts and ends in domain ``d``.
            originals: ``{domain: image}``, the same shapes as the matching reconstructions.

        Returns:
            Shape () for reduction 'mean' and 'sum', (N,) for 'none', see :func:`cycle_l1`.

        Raises:
            TypeError: as :func:`cycle_l1`.
            ValueError: as :func:`cycle_l1`; also when ``domain_weights`` is None and ``reconstructions`` is
                empty.
        """
        weights = self.domain_weights
        if weights is None:
            check_type(reconstructions, Mapping, "reconstructions", expected="a non-empty dict {domain: tensor}")
            if not reconstructions:
                raise ValueError("reconstructions must be a non-empty dict {domain: tensor}, got {}")
            for domain in reconstructions:
                _check_domain(domain, "reconstructions")
            weights = {domain: 1.0 for domain in reconstructions}
        return self.loss_weight * cycle_l1(reconstructions, originals, weights, self.reduction)

    def extra_repr(self) -> str:
        return (f"loss_weight={self.loss_weight}, domain_weights={self.domain_weights}, "
                f"reduction={self.reduction!r}, translation_grad={self.translation_grad}")


@register("MODELS")
class AsymmetricCycleLoss(CycleConsistencyLoss):
    """Asymmetric cycle-consistency loss L_AC of Gadermayr et al. (eq. 3).

    ``2 * loss_weight * L1(reconstructions[domain], originals[domain])``: only the cycle that starts and ends
    in ``domain`` (the healthy domain Y, reached by the many-to-one mapping F) counts, with weight 2 so that
    its scale matches the two-cycle loss of eq. 2; every other cycle has weight 0 and need not be computed.

    Args:
        loss_weight: The cycle weight w_c, >= 0. Defaults to 1.0.
        domain: The domain whose cycle is kept. Defaults to 'healthy'.
        reduction: 'mean', 'sum' or 'none', see :func:`cycle_l1`. Defaults to 'mean'.
        translation_grad: Share of the cycle's gradient that reaches G, in [0, 1]; 0 trains F alone on
            ``(G(y), y)`` (see :class:`CycleConsistencyLoss`). Defaults to 1.0, the paper's loss.

    Raises:
        TypeError: non-string ``domain``, ``loss_weight`` or ``translation_grad`` not a real number.
        ValueError: negative or non-finite ``loss_weight``, unknown ``reduction``, ``translation_grad`` outside
            [0, 1]; in ``forward``, ``domain`` missing from the inputs (see :func:`cycle_l1`).
    """

    def __init__(self, loss_weight: float = 1.0, domain: str = "healthy", reduction: str = "mean",
                 translation_grad: float = 1.0) -> None:
        _check_domain(domain, "AsymmetricCycleLoss(domain=...)")
        super().__init__(loss_weight=loss_weight, domain_weights={domain: 2.0}, reduction=reduction,
                         translation_grad=translation_grad)
        self.domain = domain

    def extra_repr(self) -> str:
        return (f"loss_weight={self.loss_weight}, domain={self.domain!r}, reduction={self.reduction!r}, "
                f"translation_grad={self.translation_grad}")

