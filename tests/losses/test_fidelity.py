"""Translation fidelity penalty against hand-worked values, its gradient, and its input checks."""
import math

import pytest
import torch

from mmac.losses import TranslationFidelityLoss, fidelity_penalty


@pytest.fixture
def pair():
    """Two samples of shape (1, 1, 2); |translation - source| = [[0, 0.1], [0.6, 2.0]].

    l1:             mean 2.7 / 4 = 0.675; per sample [0.05, 1.3]
    bounded_l1 s=0.2: 0.2 (1 - exp(-|d| / 0.2)) = [0, 0.2 (1 - e^-0.5), 0.2 (1 - e^-3), 0.2 (1 - e^-10)]
    """
    source = torch.tensor([[[[1.0, -1.0]]], [[[0.0, 0.5]]]])
    translation = source + torch.tensor([[[[0.0, 0.1]]], [[[-0.6, -2.0]]]])
    return translation, source


def _bounded(d, s=0.2):
    return s * (1 - math.exp(-d / s))


def test_l1_values(pair):
    assert fidelity_penalty(*pair, penalty="l1").item() == pytest.approx(0.675)
    assert fidelity_penalty(*pair, penalty="l1", reduction="none").tolist() == pytest.approx([0.05, 1.3])


def test_bounded_l1_values(pair):
    per_pixel = [_bounded(d) for d in (0.0, 0.1, 0.6, 2.0)]
    assert fidelity_penalty(*pair).item() == pytest.approx(sum(per_pixel) / 4, rel=1e-6)
    assert fidelity_penalty(*pair, reduction="none").tolist() == pytest.approx(
        [sum(per_pixel[:2]) / 2, sum(per_pixel[2:]) / 2], rel=1e-6)


def test_bounded_l1_is_l1_for_small_changes_and_saturates_for_large_ones():
    source = torch.zeros(1, 1, 1, 1)
    small = torch.full((1, 1, 1, 1), 1e-4)
    assert fidelity_penalty(small, source, scale=0.2).item() == pytest.approx(1e-4, rel=1e-3)
    assert fidelity_penalty(torch.full((1, 1, 1, 1), 50.0), source, scale=0.2).item() == pytest.approx(0.2)


def test_bounded_l1_gradient_fades_with_the_change():
    """d rho / d|d| = exp(-|d| / s): 1 at 0, e^-3 at 3 s."""
    source = torch.zeros(2)
    translation = torch.tensor([1e-6, 0.6], requires_grad=True)
    fidelity_penalty(translation, source, scale=0.2, reduction="mean").backward()
    # mean over 2 elements halves each slope
    assert translation.grad.tolist() == pytest.approx([0.5, 0.5 * math.exp(-3)], rel=1e-4)


def test_module_weights_and_picks_its_domain(pair):
    translation, source = pair
    loss = TranslationFidelityLoss(loss_weight=0.5, domain="healthy", penalty="l1")
    other = torch.zeros_like(translation)
    value = loss({"healthy": translation, "pathological": other + 9}, {"healthy": source, "pathological": other})
    assert value.item() == pytest.approx(0.5 * 0.675)


def test_module_names_the_missing_domain(pair):
    loss = TranslationFidelityLoss(domain="healthy")
    with pytest.raises(ValueError, match="translations has no key 'healthy'.*'pathological'"):
        loss({"pathological": pair[0]}, {"healthy": pair[1]})


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(penalty="l2"), ValueError, "penalty"),
    (dict(scale=0.0), ValueError, "scale"),
    (dict(scale=-1.0), ValueError, "scale"),
    (dict(reduction="sum"), ValueError, "reduction"),
    (dict(loss_weight=-1.0), ValueError, "loss_weight"),
    (dict(domain=1), TypeError, "domain"),
])
def test_module_rejects_bad_settings(kwargs, error, match):
    with pytest.raises(error, match=match):
        TranslationFidelityLoss(**kwargs)


def test_shapes_must_match():
    with pytest.raises(ValueError, match=r"shape \(1, 1, 2, 2\).*\(1, 1, 2, 3\)"):
        fidelity_penalty(torch.zeros(1, 1, 2, 2), torch.zeros(1, 1, 2, 3))
