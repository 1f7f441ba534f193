"""Loss functions and their registered modules: cycle consistency (symmetric, asymmetric), adversarial and
translation fidelity."""
from mmac.losses.adversarial import LogLikelihoodGANLoss, LSGANLoss, log_likelihood_gan_loss, lsgan_loss
from mmac.losses.cycle import AsymmetricCycleLoss, CycleConsistencyLoss, cycle_l1
from mmac.losses.fidelity import TranslationFidelityLoss, fidelity_penalty

__all__ = [
    "AsymmetricCycleLoss",
    "CycleConsistencyLoss",
    "LSGANLoss",
    "LogLikelihoodGANLoss",
    "TranslationFidelityLoss",
    "cycle_l1",
    "fidelity_penalty",
    "log_likelihood_gan_loss",
    "lsgan_loss",
]
