"""Adversarial losses against hand-computed values."""
import math

import pytest
import torch

from mmac.losses import LogLikelihoodGANLoss, LSGANLoss, log_likelihood_gan_loss, lsgan_loss

PRED = torch.tensor([[0.5, -1.0], [2.0, 0.0]])


def test_lsgan_real():
    # ((0.5-1)^2 + (-1-1)^2 + (2-1)^2 + (0-1)^2) / 4 = (0.25 + 4 + 1 + 1) / 4 = 1.5625
    assert LSGANLoss()(PRED, True).item() == pytest.approx(1.5625)


def test_lsgan_fake_weighted():
    # 2 * (0.25 + 1 + 4 + 0) / 4 = 2 * 1.3125
    assert LSGANLoss(loss_weight=2.0)(PRED, False).item() == pytest.approx(2.625)


def test_lsgan_custom_labels():
    # target 0.9: ((0.5-0.9)^2 + (-1.9)^2 + 1.1^2 + 0.9^2) / 4 = (0.16 + 3.61 + 1.21 + 0.81) / 4 = 1.4475
    assert lsgan_loss(PRED, True, real_label=0.9).item() == pytest.approx(1.4475)


def test_log_likelihood_real():
    pred = torch.tensor([0.0, math.log(3.0)])
    # -log sigmoid(x) = log(1 + e^-x): x = 0 -> log 2, x = log 3 -> log(4/3); mean = log(8/3) / 2 = 0.4904146
    assert LogLikelihoodGANLoss()(pred, True).item() == pytest.approx(0.4904146, abs=1e-6)


def test_log_likelihood_fake_weighted():
    pred = torch.tensor([0.0, math.log(3.0)])
    # -log(1 - sigmoid(x)) = log(1 + e^x): log 2 and log 4; 0.5 * mean = 0.5 * 1.5 log 2 = 0.5198604
    assert LogLikelihoodGANLoss(loss_weight=0.5)(pred, False).item() == pytest.approx(0.5198604, abs=1e-6)


def test_log_likelihood_is_stable_for_large_logits():
    pred = torch.tensor([1000.0, -1000.0])
    # real: log(1 + e^-1000) ~ 0 and log(1 + e^1000) ~ 1000 -> mean 500; fake the same by symmetry
    assert log_likelihood_gan_loss(pred, True).item() == pytest.approx(500.0)
    assert log_likelihood_gan_loss(pred, False).item() == pytest.approx(500.0)


def test_gradient_flows_to_pred():
    pred = PRED.clone().requires_grad_(True)
    LSGANLoss()(pred, True).backward()
    # d/dp mean((p - 1)^2) = 2 (p - 1) / 4
    assert torch.allclose(pred.grad, torch.tensor([[-0.25, -1.0], [0.5, -0.5]]))


@pytest.mark.parametrize("cls", [LSGANLoss, LogLikelihoodGANLoss])
def test_error_target_not_bool(cls):
    with pytest.raises(TypeError, match="target_is_real must be a bool"):
        cls()(PRED, torch.ones(2, 2))


@pytest.mark.parametrize("cls", [LSGANLoss, LogLikelihoodGANLoss])
def test_error_negative_weight(cls):
    with pytest.raises(ValueError, match="loss_weight"):
        cls(loss_weight=-1.0)


def test_error_pred_not_tensor():
    with pytest.raises(TypeError, match="pred must be a torch.Tensor"):
        LSGANLoss()([0.5], True)


def test_builds_from_mmagic_registry():
    registry = pytest.importorskip("mmagic.registry")
    from mmac import register_all_modules

    register_all_modules()

    assert isinstance(registry.MODELS.build(dict(type="LSGANLoss", loss_weight=0.5)), LSGANLoss)
    built = registry.MODELS.build(dict(type="LogLikelihoodGANLoss"))
    assert isinstance(built, LogLikelihoodGANLoss) and built.loss_weight == 1.0
