"""Cycle-consistency losses against hand-computed L1 values (eqs. 2 and 3 of Gadermayr et al., ISBI 2021)."""
import numpy as np
import pytest
import torch

from mmac.losses import AsymmetricCycleLoss, CycleConsistencyLoss, cycle_l1


def _pair(rec, orig):
    return torch.tensor(rec, dtype=torch.float32), torch.tensor(orig, dtype=torch.float32)


@pytest.fixture
def cycles():
    """Two samples of shape (1, 1, 2) per domain, N = 2.

    healthy:      |rec - orig| = [[1, 0], [2, 0]] -> sum 3, mean 3/4 = 0.75, per sample [1/2, 2/2] = [0.5, 1.0]
    pathological: |rec - orig| = [[1, 1], [1, 3]] -> sum 6, mean 6/4 = 1.5,  per sample [2/2, 4/2] = [1.0, 2.0]
    """
    healthy = _pair([[[[1, 2]]], [[[3, 4]]]], [[[[0, 2]]], [[[5, 4]]]])
    pathological = _pair([[[[1, 1]]], [[[1, -3]]]], [[[[0, 0]]], [[[0, 0]]]])
    reconstructions = {"healthy": healthy[0], "pathological": pathological[0]}
    originals = {"healthy": healthy[1], "pathological": pathological[1]}
    return reconstructions, originals


@pytest.mark.parametrize("reduction, expected", [
    ("mean", 1.125),  # 0.5 * (0.75 + 1.5)
    ("sum", 4.5),  # 0.5 * (3 + 6)
    ("none", [0.75, 1.5]),  # 0.5 * ([0.5, 1.0] + [1.0, 2.0])
])
def test_symmetric_loss_values(cycles, reduction, expected):
    loss = CycleConsistencyLoss(loss_weight=0.5, reduction=reduction)(*cycles)
    assert torch.allclose(loss, torch.tensor(expected))


@pytest.mark.parametrize("reduction, expected", [
    ("mean", 0.75),  # 2 * 0.5 * 0.75
    ("sum", 3.0),  # 2 * 0.5 * 3
    ("none", [0.5, 1.0]),  # 2 * 0.5 * [0.5, 1.0]
])
def test_asymmetric_loss_values(cycles, reduction, expected):
    loss = AsymmetricCycleLoss(loss_weight=0.5, reduction=reduction)(*cycles)
    assert torch.allclose(loss, torch.tensor(expected))


def test_reduction_shapes(cycles):
    shapes = {r: tuple(CycleConsistencyLoss(reduction=r)(*cycles).shape) for r in ("mean", "sum", "none")}
    assert shapes == {"mean": (), "sum": (), "none": (2,)}


def test_domain_weights(cycles):
    loss = CycleConsistencyLoss(loss_weight=2.0, domain_weights={"healthy": 1.0, "pathological": 3.0})(*cycles)
    assert loss.item() == pytest.approx(10.5)  # 2 * (1 * 0.75 + 3 * 1.5)


def test_asymmetric_equals_symmetric_with_weights_2_and_0(cycles):
    asym = AsymmetricCycleLoss(loss_weight=0.7, domain="pathological")(*cycles)
    assert asym.item() == pytest.approx(2.1)  # 2 * 0.7 * 1.5


def test_cycle_l1_pure_function(cycles):
    loss = cycle_l1(*cycles, domain_weights={"healthy": 2.0, "pathological": 0.0}, reduction="sum")
    assert loss.item() == pytest.approx(6.0)  # 2 * 3


def test_volumes_are_supported():
    rec = torch.ones(2, 1, 2, 2, 2)  # (N, C, D, H, W), |1 - 0| everywhere, 8 elements per sample
    zeros = torch.zeros_like(rec)
    assert CycleConsistencyLoss(reduction="sum")({"a": rec}, {"a": zeros}).item() == 16.0  # 2 * 8 * 1
    assert torch.equal(AsymmetricCycleLoss(domain="a", reduction="none")({"a": rec}, {"a": zeros}),
                       torch.tensor([2.0, 2.0]))  # 2 * mean(1)


def test_asymmetric_gradient_ignores_pathological_cycle(cycles):
    reconstructions, originals = cycles
    reconstructions = {k: v.clone().requires_grad_(True) for k, v in reconstructions.items()}
    AsymmetricCycleLoss(loss_weight=0.5)(reconstructions, originals).backward()
    grad_patho = reconstructions["pathological"].grad
    assert grad_patho is None or not grad_patho.any()
    # d/d rec of 2 * w * mean|rec - orig| = 2 * 0.5 * sign(rec - orig) / 4; signs [[+1, 0], [-1, 0]]
    expected = torch.tensor([[[[0.25, 0.0]]], [[[-0.25, 0.0]]]])
    assert torch.allclose(reconstructions["healthy"].grad, expected)


def test_symmetric_gradient_reaches_both_cycles(cycles):
    reconstructions, originals = cycles
    reconstructions = {k: v.clone().requires_grad_(True) for k, v in reconstructions.items()}
    CycleConsistencyLoss()(reconstructions, originals).backward()
    # 1 * sign / 4, signs of the pathological errors all +1 except -3 - 0 -> -1
    assert torch.allclose(reconstructions["pathological"].grad, torch.tensor([[[[0.25, 0.25]]], [[[0.25, -0.25]]]]))


def test_active_domains_and_needs_cycle():
    assert CycleConsistencyLoss().active_domains is None
    assert CycleConsistencyLoss().needs_cycle("pathological")
    weighted = CycleConsistencyLoss(domain_weights={"healthy": 1.0, "pathological": 0.0})
    assert weighted.active_domains == ("healthy",)
    assert not weighted.needs_cycle("pathological") and not weighted.needs_cycle("other")
    asym = AsymmetricCycleLoss(domain="healthy")
    assert asym.active_domains == ("healthy",)
    assert asym.needs_cycle("healthy") and not asym.needs_cycle("pathological")


def test_zero_weight_domain_needs_no_original(cycles):
    reconstructions, originals = cycles
    loss = AsymmetricCycleLoss()(reconstructions, {"healthy": originals["healthy"]})
    assert loss.item() == pytest.approx(1.5)  # 2 * 0.75


def test_error_missing_reconstruction(cycles):
    reconstructions, originals = cycles
    with pytest.raises(ValueError, match="reconstructions has no key 'healthy'"):
        AsymmetricCycleLoss()({"pathological": reconstructions["pathological"]}, originals)


def test_error_missing_original(cycles):
    reconstructions, originals = cycles
    with pytest.raises(ValueError, match="originals has no key 'pathological'"):
        CycleConsistencyLoss()(reconstructions, {"healthy": originals["healthy"]})


def test_error_shape_mismatch(cycles):
    reconstructions, originals = cycles
    with pytest.raises(ValueError, match=r"reconstructions\['healthy'\] has shape \(2, 1, 1, 2\)"):
        CycleConsistencyLoss()(reconstructions, {**originals, "healthy": torch.zeros(2, 1, 2, 1)})


@pytest.mark.parametrize("kwargs, match", [
    (dict(domain_weights={"healthy": -1.0}), r"domain_weights\['healthy'\]"),
    (dict(domain_weights={"healthy": float("nan")}), r"domain_weights\['healthy'\]"),
    (dict(domain_weights={"healthy": 0.0}), "no positive weight"),
    (dict(loss_weight=-0.5), "loss_weight"),
    (dict(reduction="avg"), "'avg'"),
])
def test_error_bad_constructor_args(kwargs, match):
    with pytest.raises(ValueError, match=match):
        CycleConsistencyLoss(**kwargs)


@pytest.mark.parametrize("kwargs, match", [
    (dict(domain_weights={0: 1.0}), "strings, got 0"),
    (dict(domain_weights={"healthy": True}), r"domain_weights\['healthy'\] must be a real number"),
    (dict(domain_weights=[("healthy", 1.0)]), "domain_weights must be a dict"),
    (dict(loss_weight="1"), "loss_weight must be a real number"),
])
def test_error_constructor_args_of_wrong_type(kwargs, match):
    with pytest.raises(TypeError, match=match):
        CycleConsistencyLoss(**kwargs)


def test_numpy_weights_are_accepted(cycles):
    loss = CycleConsistencyLoss(loss_weight=np.float32(0.5), domain_weights={"healthy": np.int64(2)})
    assert loss.loss_weight == 0.5 and loss.domain_weights == {"healthy": 2.0}
    assert loss(*cycles).item() == pytest.approx(0.5 * 2 * 0.75)  # healthy mean L1 = 0.75 (see ``cycles``)


def test_error_asymmetric_non_string_domain():
    with pytest.raises(TypeError, match="strings, got 1"):
        AsymmetricCycleLoss(domain=1)


def test_error_non_string_domain_in_inputs():
    with pytest.raises(TypeError, match="strings, got 1 .* in reconstructions"):
        CycleConsistencyLoss()({1: torch.zeros(1)}, {1: torch.zeros(1)})


def test_error_domain_weights_name_domain_not_given(cycles):
    with pytest.raises(ValueError, match="no key 'patho'"):
        CycleConsistencyLoss(domain_weights={"healthy": 1.0, "patho": 1.0})(*cycles)


def test_error_none_reduction_batch_sizes_differ():
    recs = {"a": torch.zeros(2, 1, 4, 4), "b": torch.zeros(3, 1, 4, 4)}
    with pytest.raises(ValueError, match="batch size"):
        CycleConsistencyLoss(reduction="none")(recs, recs)


def test_error_unknown_reduction_in_pure_function(cycles):
    with pytest.raises(ValueError, match="unknown reduction 'max'"):
        cycle_l1(*cycles, domain_weights={"healthy": 1.0}, reduction="max")


def test_builds_from_mmagic_registry(cycles):
    registry = pytest.importorskip("mmagic.registry")
    from mmac import register_all_modules

    register_all_modules()

    loss = registry.MODELS.build(dict(type="AsymmetricCycleLoss", loss_weight=0.5))
    assert isinstance(loss, AsymmetricCycleLoss) and loss.loss_weight == 0.5 and loss.domain == "healthy"
    sym = registry.MODELS.build(dict(type="CycleConsistencyLoss", domain_weights={"healthy": 1.0}))
    assert isinstance(sym, CycleConsistencyLoss) and sym.active_domains == ("healthy",)


@pytest.mark.parametrize("share", [0.0, 0.25, 1.0])
def test_translation_grad_scales_the_gradient_into_the_translation_and_keeps_the_value(share):
    translation = torch.tensor([[[[0.5, -1.0]]]], requires_grad=True)
    original = torch.tensor([[[[0.0, 0.0]]]])
    loss = AsymmetricCycleLoss(loss_weight=1.5, translation_grad=share)
    passed = loss.cycle_input(translation)
    assert torch.equal(passed, translation.detach())
    value = loss({"healthy": 2.0 * passed}, {"healthy": original})  # a 'closing generator' that doubles
    # By hand: 2 * 1.5 * mean(|2 * [0.5, -1]|) = 3 * 1.5 = 4.5; d/dt = 3 * 2 * sign(t) / 2 = 3 * sign(t), times share.
    assert value.item() == pytest.approx(4.5)
    if share == 0.0:
        assert not passed.requires_grad  # nothing flows back at all
        return
    value.backward()
    assert torch.allclose(translation.grad, share * torch.tensor([[[[3.0, -3.0]]]]))


@pytest.mark.parametrize("share, error", [(-0.1, ValueError), (1.5, ValueError), (float("nan"), ValueError),
                                          ("0", TypeError)])
def test_error_translation_grad_outside_zero_one(share, error):
    with pytest.raises(error, match="translation_grad"):
        CycleConsistencyLoss(translation_grad=share)
