"""Fixed-point loss: hand-worked values, the stop-gradient, and its place in ModularCycleGAN."""
import pytest
import torch

from mmac.losses.fixed_point import FixedPointLoss, fixed_point_l1


def test_hand_worked_value_and_per_sample_reduction():
    once = torch.tensor([[[[0.0, 1.0], [2.0, 3.0]]], [[[1.0, 1.0], [1.0, 1.0]]]])  # (2, 1, 2, 2)
    again = once + torch.tensor([1.0, -2.0]).view(2, 1, 1, 1)  # sample 0 off by 1, sample 1 by 2
    assert fixed_point_l1(again, once).item() == pytest.approx(1.5)
    assert fixed_point_l1(again, once, reduction="none").tolist() == pytest.approx([1.0, 2.0])
    loss = FixedPointLoss(loss_weight=0.5)
    assert loss({"healthy": again}, {"healthy": once}).item() == pytest.approx(0.75)


def test_gradient_flows_through_the_second_pass_only():
    once = torch.randn(2, 1, 4, 4, requires_grad=True)
    again = (once * 2).detach().requires_grad_(True)
    fixed_point_l1(again, once).backward()
    assert once.grad is None and again.grad is not None


def test_a_generator_that_is_the_identity_on_its_outputs_costs_nothing():
    x = torch.rand(3, 1, 8, 8)
    f = lambda t: t.clamp(0.2, 0.8)  # noqa: E731  (idempotent: f(f(x)) = f(x))
    assert fixed_point_l1(f(f(x)), f(x)).item() == 0.0


def test_errors():
    with pytest.raises(ValueError, match="shape"):
        fixed_point_l1(torch.zeros(1, 1, 2, 2), torch.zeros(1, 1, 2, 3))
    with pytest.raises(ValueError, match="healthy"):
        FixedPointLoss()({"pathological": torch.zeros(1)}, {"pathological": torch.zeros(1)})
    with pytest.raises(ValueError, match="loss_weight"):
        FixedPointLoss(loss_weight=-1)
