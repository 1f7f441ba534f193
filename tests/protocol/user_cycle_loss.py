"""A cycle loss as a user would write it in their own module, outside mmac (used by test_any_loss.py).

It keeps both cycles of L_C but weights the healthy one ``healthy_weight`` times the pathological one: a loss
between the paper's two. It is registered in mmagic's MODELS by importing this module (the config's
``custom_imports``); nothing in mmac names it.
"""
from mmagic.registry import MODELS

from mmac.losses.cycle import CycleConsistencyLoss


@MODELS.register_module(force=True)
class WeightedCycleLoss(CycleConsistencyLoss):
    """``loss_weight * (healthy_weight * L1(F(G(y)), y) + L1(G(F(x)), x))``."""

    def __init__(self, loss_weight: float = 1.0, healthy_weight: float = 2.0):
        super().__init__(loss_weight, domain_weights={'healthy': healthy_weight, 'pathological': 1.0})
