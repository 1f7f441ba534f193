"""Extrapolated healthy cycle: hand-worked extrapolation and loss, its draw of k, the stop-gradient, bad input."""
import pytest
import torch

from mmac.losses.extrapolated_cycle import ExtrapolatedCycleLoss, extrapolate


def test_hand_worked_extrapolation_with_clipping():
    start = torch.tensor([[[[-1.0, 0.0], [0.5, -0.5]]], [[[0.0, 0.0], [0.0, 0.0]]]])  # (2, 1, 2, 2)
    synthetic = torch.tensor([[[[-0.5, 0.0], [0.9, -0.5]]], [[[0.25, -0.25], [0.75, 0.0]]]])
    out = extrapolate(start, synthetic, torch.tensor([2.0, 1.0]))
    # sample 0: start + 2 * change = [[0, 0], [1.3 -> 1 (clipped), -0.5]]; sample 1 at k = 1 is synthetic itself
    assert out[0, 0].flatten().tolist() == pytest.approx([0.0, 0.0, 1.0, -0.5])
    assert torch.equal(out[1], synthetic[1])
    wide = extrapolate(start, synthetic, torch.tensor([2.0, 1.0]), value_range=(-2.0, 2.0))
    assert wide[0, 0, 1, 0].item() == pytest.approx(1.3)


def test_loss_value_and_per_sample_reduction():
    start = torch.zeros(2, 1, 2, 2)
    rec = start + torch.tensor([0.5, 1.5]).view(2, 1, 1, 1)
    assert ExtrapolatedCycleLoss(loss_weight=2.0)(rec, start).item() == pytest.approx(2.0)  # 2 * mean(0.5, 1.5)
    per_sample = ExtrapolatedCycleLoss(loss_weight=1.0, reduction="none")(rec, start)
    assert per_sample.tolist() == pytest.approx([0.5, 1.5])


def test_scale_is_drawn_in_its_interval_and_max_scale_one_is_the_paper_cycle():
    torch.manual_seed(0)
    k = ExtrapolatedCycleLoss(max_scale=3.0).sample_scale(10_000)
    assert k.min().item() >= 1.0 and k.max().item() <= 3.0
    assert k.mean().item() == pytest.approx(2.0, abs=0.03)  # U[1, 3] has mean 2
    y, gy = torch.rand(4, 1, 8, 8) * 0.5, torch.rand(4, 1, 8, 8) * 0.5
    assert torch.equal(ExtrapolatedCycleLoss(max_scale=1.0).extrapolate(y, gy), gy)


def test_no_gradient_reaches_the_other_generator():
    y = (torch.rand(2, 1, 4, 4) * 0.5).requires_grad_(True)
    gy = (y.detach() + 0.1).requires_grad_(True)
    extrapolate(y, gy, torch.tensor([1.5, 1.5])).sum().backward()
    assert gy.grad is None and y.grad is not None


def test_errors():
    z = torch.zeros(2, 1, 2, 2)
    with pytest.raises(ValueError, match="shape"):
        extrapolate(z, torch.zeros(2, 1, 2, 3), torch.ones(2))
    with pytest.raises(ValueError, match="one factor per sample"):
        extrapolate(z, z, torch.ones(3))
    with pytest.raises(ValueError, match="low < high"):
        extrapolate(z, z, torch.ones(2), value_range=(1.0, -1.0))
    with pytest.raises(ValueError, match="max_scale"):
        ExtrapolatedCycleLoss(max_scale=0.5)
    with pytest.raises(ValueError, match="loss_weight"):
        ExtrapolatedCycleLoss(loss_weight=-1)
    with pytest.raises(ValueError, match="shape"):
        ExtrapolatedCycleLoss()(z, torch.zeros(2, 1, 3, 2))
