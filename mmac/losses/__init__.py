"""Loss functions and their registered modules: cycle consistency (symmetric, asymmetric) and adversarial."""
from mmac.losses.adversarial import LogLikelihoodGANLoss, LSGANLoss, log_likelihood_gan_loss, lsgan_loss
from mmac.losses.cycle import AsymmetricCycleLoss, CycleConsistencyLoss, cycle_l1

__all__ = [
    "AsymmetricCycleLoss",
    "CycleConsistencyLoss",
    "LSGANLoss",
    "LogLikelihoodGANLoss",
    "cycle_l1",
    "log_likelihood_gan_loss",
    "lsgan_loss",
]
