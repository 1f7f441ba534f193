"""Adversarial losses for the discriminators' outputs, pluggable into a GAN model through ``MODELS.build``.

* :class:`LSGANLoss`: least squares (Mao et al., "Least Squares Generative Adversarial Networks", ICCV 2017),
  ``mean((pred - target)^2)`` with target 1 for real and 0 for fake; what mmagic's CycleGAN hard-codes.
* :class:`LogLikelihoodGANLoss`: the log-likelihood form of eq. 1 of Gadermayr et al. (ISBI 2021), after
  Goodfellow et al. (NeurIPS 2014), ``E_y[log D_Y(y)] + E_x[log(1 - D_Y(F(x)))]``: binary cross-entropy of
  the discriminator's logits against 1 (real) or 0 (fake), computed stably from logits. Generators use the
  usual non-saturating form, i.e. ``target_is_real=True`` on their fakes.

Both take raw discriminator outputs of any shape, e.g. PatchGAN maps (N, 1, H', W'), and return a scalar
``loss_weight * mean over all elements``. The names differ from mmagic's own ``GANLoss`` on purpose.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmac._validate import check_real, check_type
from mmac.registry import register


def _check_inputs(pred: object, target_is_real: object) -> None:
    check_type(pred, Tensor, "pred", expected="a torch.Tensor of discriminator outputs")
    check_type(target_is_real, bool, "target_is_real", expected="a bool")


def lsgan_loss(pred: Tensor, target_is_real: bool, real_label: float = 1.0, fake_label: float = 0.0) -> Tensor:
    """Least-squares GAN loss ``mean((pred - target)^2)``.

    Args:
        pred: Discriminator outputs, any shape, e.g. (N, 1, H', W').
        target_is_real: Target ``real_label`` when True, ``fake_label`` when False.
        real_label: Target value for real. Defaults to 1.0.
        fake_label: Target value for fake. Defaults to 0.0.

    Returns:
        Scalar, shape ().

    Raises:
        TypeError: ``pred`` is not a tensor or ``target_is_real`` not a bool.
    """
    _check_inputs(pred, target_is_real)
    target = torch.full_like(pred, real_label if target_is_real else fake_label)
    return F.mse_loss(pred, target)


def log_likelihood_gan_loss(pred: Tensor, target_is_real: bool) -> Tensor:
    """Negative log-likelihood GAN loss: ``-mean(log sigmoid(pred))`` for real, ``-mean(log(1 - sigmoid(pred)))``
    for fake.

    Computed by :func:`torch.nn.functional.binary_cross_entropy_with_logits`, finite for any finite logits.

    Args:
        pred: Discriminator logits (before any sigmoid), any shape, e.g. (N, 1, H', W').
        target_is_real: Target 1 when True, 0 when False.

    Returns:
        Scalar, shape ().

    Raises:
        TypeError: ``pred`` is not a tensor or ``target_is_real`` not a bool.
    """
    _check_inputs(pred, target_is_real)
    target = torch.full_like(pred, 1.0 if target_is_real else 0.0)
    return F.binary_cross_entropy_with_logits(pred, target)


@register("MODELS")
class LSGANLoss(nn.Module):
    """Least-squares GAN loss, ``loss_weight * mean((pred - target)^2)``, see :func:`lsgan_loss`.

    Args:
        loss_weight: Factor on the loss, >= 0. Defaults to 1.0.
        real_label: Target value for real. Defaults to 1.0.
        fake_label: Target value for fake. Defaults to 0.0.

    Raises:
        TypeError: ``loss_weight`` or a label not a real number (or a bool).
        ValueError: negative or non-finite ``loss_weight``, non-finite labels.
    """

    def __init__(self, loss_weight: float = 1.0, real_label: float = 1.0, fake_label: float = 0.0) -> None:
        super().__init__()
        self.loss_weight = check_real(loss_weight, "loss_weight", minimum=0)
        self.real_label = check_real(real_label, "real_label")
        self.fake_label = check_real(fake_label, "fake_label")

    def forward(self, pred: Tensor, target_is_real: bool) -> Tensor:
        """Return the weighted loss, shape (), for discriminator outputs ``pred`` of any shape."""
        return self.loss_weight * lsgan_loss(pred, target_is_real, self.real_label, self.fake_label)

    def extra_repr(self) -> str:
        return f"loss_weight={self.loss_weight}, real_label={self.real_label}, fake_label={self.fake_label}"


@register("MODELS")
class LogLikelihoodGANLoss(nn.Module):
    """Log-likelihood GAN loss of eq. 1 as binary cross-entropy with logits, see :func:`log_likelihood_gan_loss`.

    Args:
        loss_weight: Factor on the loss, >= 0. Defaults to 1.0.

    Raises:
        TypeError: ``loss_weight`` not a real number (or a bool).
        ValueError: negative or non-finite ``loss_weight``.
    """

    def __init__(self, loss_weight: float = 1.0) -> None:
        super().__init__()
        self.loss_weight = check_real(loss_weight, "loss_weight", minimum=0)

    def forward(self, pred: Tensor, target_is_real: bool) -> Tensor:
        """Return the weighted loss, shape (), for discriminator logits ``pred`` of any shape."""
        return self.loss_weight * log_likelihood_gan_loss(pred, target_is_real)

    def extra_repr(self) -> str:
        return f"loss_weight={self.loss_weight}"
