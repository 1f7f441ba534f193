"""The multi-scale L1: hand-worked block means, what each scale sees, and the module through mmagic's registry."""
import pytest
import torch

from mmac.losses.multiscale import MultiScaleL1Loss, multiscale_l1


def test_hand_worked_two_by_two():
    pred = torch.tensor([[[[1.0, 3.0], [0.0, 0.0]]]])  # block mean 1
    target = torch.zeros_like(pred)
    # full resolution: mean |d| = (1 + 3) / 4 = 1; one 2 x 2 block: |1 - 0| = 1
    assert multiscale_l1(pred, target, pools=(1,), weights=(1.0,)).item() == pytest.approx(1.0)
    assert multiscale_l1(pred, target, pools=(2,), weights=(1.0,)).item() == pytest.approx(1.0)
    pred = torch.tensor([[[[1.0, -3.0], [0.0, 0.0]]]])  # block mean -0.5
    assert multiscale_l1(pred, target, pools=(1, 2), weights=(0.5, 2.0)).item() == pytest.approx(0.5 * 1 + 2 * 0.5)


def test_block_means_ignore_what_averages_out_and_keep_a_shift():
    target = torch.rand(2, 1, 16, 16)
    checker = (torch.arange(16)[:, None] + torch.arange(16)[None, :]) % 2 * 2.0 - 1.0  # +-1, mean 0 per 2x2 block
    noisy = target + 0.1 * checker
    assert multiscale_l1(noisy, target, pools=(1,), weights=(1.0,)).item() == pytest.approx(0.1)
    assert multiscale_l1(noisy, target, pools=(2,), weights=(1.0,)).item() == pytest.approx(0.0, abs=1e-7)
    shifted = target - 0.2
    for size in (1, 2, 8, 16):
        assert multiscale_l1(shifted, target, pools=(size,), weights=(1.0,)).item() == pytest.approx(0.2, rel=1e-5)


def test_volumes_and_the_plain_l1():
    pred, target = torch.randn(1, 2, 4, 8, 8), torch.randn(1, 2, 4, 8, 8)
    assert multiscale_l1(pred, target, pools=(1,), weights=(3.0,)).item() == pytest.approx(
        3 * (pred - target).abs().mean().item())
    blocks = (pred - target).reshape(1, 2, 2, 2, 4, 2, 4, 2).mean(dim=(3, 5, 7))  # 2x2x2 block means
    assert multiscale_l1(pred, target, pools=(2,), weights=(1.0,)).item() == pytest.approx(
        blocks.abs().mean().item(), rel=1e-5)


def test_gradient_flows_to_pred():
    pred = torch.randn(1, 1, 8, 8, requires_grad=True)
    multiscale_l1(pred, torch.zeros(1, 1, 8, 8)).backward()
    assert pred.grad is not None and pred.grad.abs().sum() > 0


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(pools=(1, 3)), ValueError, r"not divisible by the block size 3"),
    (dict(pools=(), weights=()), ValueError, "non-empty and of one length"),
    (dict(pools=(1, 8), weights=(1.0,)), ValueError, "non-empty and of one length"),
    (dict(pools=(0,), weights=(1.0,)), ValueError, r"pools\[i\] must be >= 1"),
    (dict(pools=(1,), weights=(-1.0,)), ValueError, r"weights\[i\] must be >= 0"),
    (dict(pools=(1.5,), weights=(1.0,)), TypeError, r"pools\[i\] must be an integer"),
])
def test_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        multiscale_l1(torch.zeros(1, 1, 8, 8), torch.zeros(1, 1, 8, 8), **kwargs)


def test_shape_errors():
    with pytest.raises(ValueError, match="of one shape"):
        multiscale_l1(torch.zeros(1, 1, 8, 8), torch.zeros(1, 1, 8, 16))
    with pytest.raises(ValueError, match="of one shape"):
        multiscale_l1(torch.zeros(8, 8), torch.zeros(8, 8))


def test_module_and_registry():
    pytest.importorskip("mmagic")
    from mmagic.registry import MODELS

    from mmac.registry import register_all_modules

    register_all_modules()
    loss = MODELS.build(dict(type="MultiScaleL1Loss", loss_weight=2.0))
    assert isinstance(loss, MultiScaleL1Loss) and loss.pools == (1, 8) and loss.weights == (0.5, 2.0)
    pred, target = torch.randn(2, 1, 16, 16), torch.randn(2, 1, 16, 16)
    assert loss(pred, target).item() == pytest.approx(2 * multiscale_l1(pred, target, (1, 8), (0.5, 2.0)).item())
    with pytest.raises(ValueError, match="loss_weight must be >= 0"):
        MultiScaleL1Loss(loss_weight=-1)
