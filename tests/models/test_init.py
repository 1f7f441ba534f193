"""pix2pix's initialisation: each kind's weight statistics against their formulas, norms, biases, errors."""
import math

import pytest
import torch
from torch import nn

from mmac.models.init import pix2pix_init


def _net():
    return nn.Sequential(nn.Conv2d(8, 64, 4), nn.BatchNorm2d(64), nn.InstanceNorm2d(64), nn.Linear(256, 128))


@pytest.mark.parametrize("kind, expected_std", [
    ("normal", lambda fan_in, fan_out, gain: gain),
    ("xavier", lambda fan_in, fan_out, gain: gain * math.sqrt(2.0 / (fan_in + fan_out))),
    ("kaiming", lambda fan_in, fan_out, gain: math.sqrt(2.0 / fan_in)),
])
def test_weight_statistics(kind, expected_std):
    torch.manual_seed(0)
    net = _net()
    for layer in (net[0], net[3]):
        nn.init.constant_(layer.bias, 3.0)
    pix2pix_init(net, kind, gain=0.5)
    conv, linear = net[0], net[3]
    fans = ((8 * 16, 64 * 16), (256, 128))
    for layer, (fan_in, fan_out) in zip((conv, linear), fans, strict=True):
        assert float(layer.weight.std()) == pytest.approx(expected_std(fan_in, fan_out, 0.5), rel=0.1)
        assert float(layer.weight.mean()) == pytest.approx(0.0, abs=0.05 * expected_std(fan_in, fan_out, 0.5))
        assert torch.count_nonzero(layer.bias) == 0
    assert float(net[1].weight.mean()) == pytest.approx(1.0, abs=0.2) and torch.count_nonzero(net[1].bias) == 0


def test_orthogonal_rows():
    net = _net()
    pix2pix_init(net, "orthogonal", gain=0.5)
    w = net[3].weight  # 128 x 256: orthogonal rows of norm gain
    torch.testing.assert_close(w @ w.T, 0.25 * torch.eye(128), atol=1e-5, rtol=0)


def test_a_spectral_normed_layer_gets_its_original_drawn():
    layer = nn.utils.parametrizations.spectral_norm(nn.Linear(64, 64))
    pix2pix_init(layer, "normal", gain=3.0)
    assert float(layer.parametrizations.weight.original.std()) == pytest.approx(3.0, rel=0.1)
    assert nn.utils.parametrize.is_parametrized(layer, "weight")


def test_unknown_kind():
    with pytest.raises(ValueError, match="init type must be one of"):
        pix2pix_init(_net(), "uniform")
