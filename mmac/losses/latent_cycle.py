"""Latent pathological cycle: G learns the patients' pathology from real slices, F is left to the paper's loss.

With F: X -> Y (pathological to healthy) and a stochastic G: Y x Z -> X (a healthy slice and a code z give a
pathological slice), the asymmetric loss of Gadermayr et al. trains G only through the GAN loss and the healthy
cycle, and F learns to remove pathology only from G's fakes. On the synthetic cohort G adds a fat fraction of about
0.25 to healthy muscle where the severe patients have about 0.5 (docs/results.md): F is tested on pathology outside
what its cycle taught it. Augmented CycleGAN (Almahairi et al., ICML 2018) closes the pathological cycle through a
code instead: an encoder E infers from x the code z with which G gives x back,

    L_lat = w * E_x E_{z ~ q(z | x)} |G(sg(F(x)), z) - x|_1  +  w_kl * E_x KL(q(z | x) || N(0, I)),

where sg stops the gradient. The first term asks G (and E) to reproduce real pathology, severe patients'
included, from a healthy-looking slice and a code; the KL term (BicycleGAN's, Zhu et al., NeurIPS 2017) keeps the
codes E infers near the prior. G's own fakes G(y, z), which F's healthy cycle learns from, draw z from the prior
(``fake_codes='prior'``) or from E's posterior of the batch's real pathological slices (``'posterior'``: the
patients' pathology carried onto healthy anatomy, so that F's cycle sees it at the patients' strength). Because
F(x) is detached, the term gives F no gradient: it never ties F(x) to x, so F need keep no trace of the
infiltration (the reason for the asymmetric loss). Without the stop-gradient it is augmented CycleGAN's cycle,
where the code carries the pathology so that F(x) need not.

Augmented CycleGAN has a second cycle, through the code: a fake made with a code must give that code back,
``w_z * |E(G(y, z)) - sg(z)|_1`` (``code_weight``; z the posterior mean of the patient's slice whose code the fake
took, so ``fake_codes='posterior'``). Here E's weights are held for the term, so it trains G only: G's fakes must
carry what E reads as that patient's pathology, at its strength. It aims at the coverage of G's fakes, which F's
healthy cycle learns from: with the latent cycle alone G learns to add back what F removed from x, which is about
half the patients' fat (docs/results.md).

Not in Gadermayr et al.; an option of :class:`~mmac.models.ModularCycleGAN` (``latent_cycle_loss=`` with
``latent_encoder=``), off by default. The model runs E and G once more per iteration and calls the loss with the
reconstruction and E's posterior.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from mmac._validate import check_choice, check_real, check_type
from mmac.losses.cycle import check_same_shape, reduce_error
from mmac.registry import register

REDUCTIONS = ("mean", "none")
FAKE_CODES = ("prior", "posterior")


def gaussian_kl(mean: Tensor, logvar: Tensor, reduction: str = "mean") -> Tensor:
    """KL of ``N(mean, exp(logvar))`` from ``N(0, 1)``: ``(mean² + exp(logvar) - 1 - logvar) / 2`` per element.

    Args:
        mean: Posterior means, (N, ...) with the batch first.
        logvar: Posterior log-variances, the same shape.
        reduction: ``'mean'`` over all elements, shape (); ``'none'``: mean per sample, shape (N,).

    Raises:
        TypeError: Non-tensor inputs.
        ValueError: Shapes that differ, unknown ``reduction``.
    """
    check_same_shape(mean, logvar, ("mean", "logvar"))
    check_choice(reduction, REDUCTIONS, "reduction")
    return reduce_error(0.5 * (mean.square() + logvar.exp() - 1.0 - logvar), reduction)


def sample_posterior(mean: Tensor, logvar: Tensor) -> Tensor:
    """A draw ``mean + exp(logvar / 2) * eps``, eps standard normal from torch's generator (reparameterised:
    gradients reach ``mean`` and ``logvar``). Shapes as ``mean``."""
    return mean + (0.5 * logvar).exp() * torch.randn_like(mean)


@register("MODELS")
class LatentCycleLoss(nn.Module):
    """``loss_weight * L1(reconstruction, original) + kl_weight * KL(posterior || N(0, I))``.

    Args:
        loss_weight: The weight w of the cycle, >= 0. Defaults to 1.0, the weight of the pathological cycle in
            the symmetric loss at w_c = 1.
        kl_weight: The weight w_kl of the KL term (mean over the code's elements), >= 0. Defaults to 0.05:
            BicycleGAN's ratio of KL (0.01, summed over the code, halved) to L1 (10), per code element, times the
            128 elements of a 2-channel code at 1/8 of a 64 px slice.
        domain: The domain where the cycle starts and ends, whose generator takes the code. Defaults to
            'pathological' (G reproduces x from F(x)).
        detach_translation: Stop the gradient at the translation the cycle starts from (F(x)), so the term
            trains only the encoder and the generator of ``domain``. Defaults to True (no tie of F(x) to x).
        fake_codes: Where the codes of the generator's translations (its fakes) come from: ``'prior'`` (N(0, I),
            drawn by the generator) or ``'posterior'`` (the encoder's code, see ``sample``, of the real slice of
            ``domain`` at the same batch index, without gradient). Defaults to ``'prior'``.
        sample: Draw the code from the posterior (reparameterised, a variational encoder); False takes its mean,
            a deterministic code as augmented CycleGAN's encoder gives (the KL term then only keeps the means
            small). Defaults to True.
        code_weight: The weight w_z >= 0 of the code cycle ``|E(G(y, z)) - sg(z)|_1`` on the generator's fakes
            (:meth:`code_cycle`; the model logs it as ``code_cycle_loss``). Needs ``fake_codes='posterior'``.
            Defaults to 0 (off).
        reduction: ``'mean'``, shape (); ``'none'``: per sample, shape (N,). Defaults to ``'mean'``.

    Raises:
        TypeError: A weight that is not a real number, a domain that is not a string, a flag that is not a bool.
        ValueError: A negative weight, an unknown reduction, or ``code_weight > 0`` with ``fake_codes='prior'``.
    """

    def __init__(self, loss_weight: float = 1.0, kl_weight: float = 0.05, domain: str = "pathological",
                 detach_translation: bool = True, fake_codes: str = "prior", sample: bool = True,
                 code_weight: float = 0.0, reduction: str = "mean") -> None:
        super().__init__()
        self.loss_weight = check_real(loss_weight, "loss_weight", minimum=0)
        self.kl_weight = check_real(kl_weight, "kl_weight", minimum=0)
        check_type(domain, str, "domain", expected="a domain name such as 'pathological'")
        self.domain = domain
        check_type(detach_translation, bool, "detach_translation", expected="True or False")
        self.detach_translation = detach_translation
        self.fake_codes = check_choice(fake_codes, FAKE_CODES, "fake_codes")
        check_type(sample, bool, "sample", expected="True or False")
        self.sample = sample
        self.code_weight = check_real(code_weight, "code_weight", minimum=0)
        if self.code_weight > 0 and self.fake_codes != "posterior":
            raise ValueError(f"code_weight={code_weight} needs fake_codes='posterior': the code cycle asks a fake to "
                             "give back the code of the patient whose code it took; prior draws are not kept")
        self.reduction = check_choice(reduction, REDUCTIONS, "reduction")

    def code(self, mean: Tensor, logvar: Tensor) -> Tensor:
        """The code the generator gets from a posterior: a draw (``sample``) or its mean; shapes as ``mean``."""
        return sample_posterior(mean, logvar) if self.sample else mean

    def forward(self, reconstruction: Tensor, original: Tensor, mean: Tensor, logvar: Tensor) -> Tensor:
        """Compute the loss.

        Args:
            reconstruction: G(F(x), z), z the code of the posterior q(z | x) (:meth:`code`), (N, C, H, W).
            original: The real slices x, the same shape.
            mean: The posterior's mean, (N, latent_channels, h, w).
            logvar: Its log-variance, the same shape.

        Returns:
            Shape () for ``'mean'``, (N,) for ``'none'``.

        Raises:
            TypeError: Non-tensor inputs.
            ValueError: Shapes that differ.
        """
        check_same_shape(reconstruction, original, ("reconstruction", "original"))
        cycle = reduce_error((reconstruction - original).abs(), self.reduction)
        return self.loss_weight * cycle + self.kl_weight * gaussian_kl(mean, logvar, self.reduction)

    def code_cycle(self, encoded: Tensor, code: Tensor) -> Tensor:
        """The code cycle ``code_weight * L1(encoded, code)``.

        Args:
            encoded: E's posterior mean of the fakes G(y, z), (N, latent_channels, h, w).
            code: The codes z the fakes took (held: no gradient reaches them), the same shape.

        Returns:
            Shape () for ``'mean'``, (N,) for ``'none'``.

        Raises:
            TypeError: Non-tensor inputs.
            ValueError: Shapes that differ.
        """
        check_same_shape(encoded, code, ("encoded", "code"))
        return self.code_weight * reduce_error((encoded - code.detach()).abs(), self.reduction)

    def extra_repr(self) -> str:
        return (f"loss_weight={self.loss_weight}, kl_weight={self.kl_weight}, domain={self.domain!r}, "
                f"detach_translation={self.detach_translation}, fake_codes={self.fake_codes!r}, sample={self.sample}, "
                f"code_weight={self.code_weight}, reduction={self.reduction!r}")
