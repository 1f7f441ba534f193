"""Loss functions and their registered modules: cycle consistency (symmetric, asymmetric), adversarial and
translation fidelity, fixed point, extrapolated healthy cycle, latent pathological cycle, multi-scale L1."""
from mmac.losses.adversarial import LogLikelihoodGANLoss, LSGANLoss, log_likelihood_gan_loss, lsgan_loss
from mmac.losses.cycle import AsymmetricCycleLoss, CycleConsistencyLoss, cycle_l1
from mmac.losses.extrapolated_cycle import ExtrapolatedCycleLoss, extrapolate
from mmac.losses.fidelity import TranslationFidelityLoss, fidelity_penalty
from mmac.losses.fixed_point import FixedPointLoss, fixed_point_l1
from mmac.losses.latent_cycle import LatentCycleLoss, gaussian_kl, sample_posterior
from mmac.losses.multiscale import MultiScaleL1Loss, multiscale_l1

__all__ = [
    "AsymmetricCycleLoss",
    "CycleConsistencyLoss",
    "ExtrapolatedCycleLoss",
    "FixedPointLoss",
    "LatentCycleLoss",
    "LSGANLoss",
    "LogLikelihoodGANLoss",
    "MultiScaleL1Loss",
    "TranslationFidelityLoss",
    "cycle_l1",
    "extrapolate",
    "fidelity_penalty",
    "fixed_point_l1",
    "gaussian_kl",
    "log_likelihood_gan_loss",
    "lsgan_loss",
    "multiscale_l1",
    "sample_posterior",
]
