"""Latent pathological cycle: hand-worked KL, the reparameterised draw, the loss against an independent sum."""
import math

import pytest
import torch

from mmac.losses.latent_cycle import LatentCycleLoss, gaussian_kl, sample_posterior


def test_hand_worked_kl():
    mean = torch.tensor([[0.0, 1.0, 0.0, 2.0]])  # (1, 4)
    logvar = torch.tensor([[0.0, 0.0, math.log(2.0), math.log(0.5)]])
    # per element: 0 (the prior itself); 1/2 (mean 1); (2 - 1 - ln 2)/2; (4 + 0.5 - 1 + ln 2)/2
    expected = [0.0, 0.5, (1.0 - math.log(2.0)) / 2, (3.5 + math.log(2.0)) / 2]
    assert gaussian_kl(mean, logvar).item() == pytest.approx(sum(expected) / 4)
    two = torch.cat([mean, torch.zeros(1, 4)]), torch.cat([logvar, torch.zeros(1, 4)])
    assert gaussian_kl(*two, reduction="none").tolist() == pytest.approx([sum(expected) / 4, 0.0])


def test_kl_is_never_negative_and_zero_only_at_the_prior():
    torch.manual_seed(0)
    mean, logvar = torch.randn(64, 3), torch.randn(64, 3)
    assert (gaussian_kl(mean, logvar, reduction="none") > 0).all()
    assert gaussian_kl(torch.zeros(2, 3), torch.zeros(2, 3)).item() == 0.0


def test_posterior_draws_have_its_moments_and_pass_gradients():
    torch.manual_seed(1)
    mean = torch.full((200_000,), 1.5, requires_grad=True)
    logvar = torch.full((200_000,), math.log(0.25), requires_grad=True)
    z = sample_posterior(mean, logvar)
    assert z.mean().item() == pytest.approx(1.5, abs=0.01)
    assert z.std().item() == pytest.approx(0.5, abs=0.01)
    z.sum().backward()
    assert torch.equal(mean.grad, torch.ones_like(mean))  # dz/dmean = 1
    assert logvar.grad.abs().sum() > 0


def test_loss_is_the_weighted_l1_plus_the_weighted_kl():
    original = torch.zeros(2, 1, 4, 4)
    reconstruction = original + torch.tensor([0.5, 1.5]).view(2, 1, 1, 1)
    mean, logvar = torch.ones(2, 2, 1, 1), torch.zeros(2, 2, 1, 1)  # KL 0.5 per element
    loss = LatentCycleLoss(loss_weight=2.0, kl_weight=0.1)
    assert loss(reconstruction, original, mean, logvar).item() == pytest.approx(2.0 * 1.0 + 0.1 * 0.5)
    per_sample = LatentCycleLoss(loss_weight=1.0, kl_weight=1.0, reduction="none")
    assert per_sample(reconstruction, original, mean, logvar).tolist() == pytest.approx([1.0, 2.0])


def test_errors():
    z = torch.zeros(2, 1, 4, 4)
    with pytest.raises(ValueError, match="shape"):
        LatentCycleLoss()(z, torch.zeros(2, 1, 4, 5), z, z)
    with pytest.raises(ValueError, match="mean has shape"):
        gaussian_kl(torch.zeros(2, 3), torch.zeros(2, 4))
    with pytest.raises(ValueError, match="kl_weight"):
        LatentCycleLoss(kl_weight=-0.1)
    with pytest.raises(ValueError, match="reduction"):
        LatentCycleLoss(reduction="sum")
    with pytest.raises(ValueError, match="fake_codes"):
        LatentCycleLoss(fake_codes="data")
    with pytest.raises(TypeError, match="sample"):
        LatentCycleLoss(sample=1)
    with pytest.raises(TypeError, match="detach_translation"):
        LatentCycleLoss(detach_translation="yes")
    with pytest.raises(ValueError, match="code_weight=1.0 needs fake_codes='posterior'"):
        LatentCycleLoss(code_weight=1.0)
    with pytest.raises(ValueError, match="code_weight"):
        LatentCycleLoss(code_weight=-1.0, fake_codes="posterior")
    with pytest.raises(ValueError, match="encoded has shape"):
        LatentCycleLoss(code_weight=1.0, fake_codes="posterior").code_cycle(torch.zeros(1, 2, 2, 2), z)


def test_code_cycle_is_the_weighted_l1_to_the_held_code():
    code = torch.zeros(2, 2, 1, 1, requires_grad=True)
    encoded = torch.tensor([0.5, -1.5]).view(2, 1, 1, 1).expand(2, 2, 1, 1).clone().requires_grad_(True)
    loss = LatentCycleLoss(code_weight=3.0, fake_codes="posterior")
    value = loss.code_cycle(encoded, code)
    assert value.item() == pytest.approx(3.0 * (0.5 + 1.5) / 2)
    value.backward()
    assert code.grad is None and encoded.grad.abs().sum() > 0  # the target is held
    per_sample = LatentCycleLoss(code_weight=1.0, fake_codes="posterior", reduction="none")
    assert per_sample.code_cycle(encoded, code).tolist() == pytest.approx([0.5, 1.5])


def test_code_is_a_draw_or_the_mean():
    mean, logvar = torch.full((4, 2), 0.5), torch.zeros(4, 2)
    assert torch.equal(LatentCycleLoss(sample=False).code(mean, logvar), mean)
    torch.manual_seed(0)
    drawn = LatentCycleLoss().code(mean, logvar)
    torch.manual_seed(0)
    assert torch.equal(drawn, mean + torch.randn(4, 2))
