"""UNetGenerator: shapes, exact depth, parameter counts worked from the layer shapes, errors, registry."""
import warnings

import numpy as np
import pytest
import torch
from torch import nn

from mmac.models.unet import UNetGenerator

SMALL = dict(num_down=3, base_channels=4)


def _n_params(module):
    return sum(p.numel() for p in module.parameters())


def test_output_shape_2d():
    net = UNetGenerator(in_channels=1, out_channels=2, **SMALL)
    assert net(torch.randn(2, 1, 32, 48)).shape == (2, 2, 32, 48)


def test_output_shape_3d():
    net = UNetGenerator(dims=3, num_down=2, base_channels=2)
    assert net(torch.randn(1, 1, 8, 12, 16)).shape == (1, 1, 8, 12, 16)


def test_output_in_tanh_range():
    out = UNetGenerator(**SMALL)(10 * torch.randn(1, 1, 32, 32))
    assert out.abs().max() <= 1


@pytest.mark.parametrize("num_down", [2, 3, 6])
def test_builds_exactly_num_down_levels(num_down):
    net = UNetGenerator(num_down=num_down, base_channels=2)
    strided = [m for m in net.modules() if type(m) is nn.Conv2d and m.stride == (2, 2)]
    upsampling = [m for m in net.modules() if type(m) is nn.ConvTranspose2d and m.stride == (2, 2)]
    assert len(strided) == len(upsampling) == num_down


def test_parameter_count_default_config():
    # pix2pix unet_256, 1 -> 1 channels, IN (no norm parameters, convs with bias): (c_in, c_out) of each 4x4 conv
    downs = [(1, 64), (64, 128), (128, 256), (256, 512)] + [(512, 512)] * 4
    ups = [(512, 512)] + [(1024, 512)] * 3 + [(1024, 256), (512, 128), (256, 64), (128, 1)]
    expected = sum(cin * cout * 16 + cout for cin, cout in downs + ups)
    assert expected == 54_403_457  # 19_533_760 down + 34_869_697 up, worked by hand
    with torch.device("meta"):
        net = UNetGenerator()
    assert _n_params(net) == expected


def test_parameter_count_batch_norm():
    # num_down=3, base 4, BN: convs without bias except the outermost up conv; BN has 2 * C parameters
    # down: 1*4*16 + 4*8*16 + (2*8 BN) + 8*16*16 = 64 + 512 + 16 + 2048
    # up:   16*8*16 + (2*8) + 16*4*16 + (2*4) + 8*1*16 + 1 = 2048 + 16 + 1024 + 8 + 129
    net = UNetGenerator(norm_cfg=dict(type="BN"), **SMALL)
    assert _n_params(net) == 5865


def test_instance_norm_is_not_affine():
    net = UNetGenerator(**SMALL)
    norms = [m for m in net.modules() if isinstance(m, nn.InstanceNorm2d)]
    assert norms and all(not m.affine and not m.track_running_stats for m in norms)


def test_dropout_only_when_asked():
    with torch.device("meta"):
        plain, dropped = UNetGenerator(), UNetGenerator(use_dropout=True)
    assert not any(isinstance(m, nn.Dropout) for m in plain.modules())
    levels = [i for i, up in enumerate(dropped.ups) if any(isinstance(m, nn.Dropout) for m in up)]
    assert levels == [4, 5, 6]  # the 8x-base levels between the innermost one and the first at 8x


def test_matches_mmagic_unet_with_same_weights():
    pytest.importorskip("mmagic")
    from mmagic.models.editors.pix2pix.pix2pix_generator import UnetGenerator
    from mmengine.registry import DefaultScope

    # its ConvModules look up 'Deconv' in mmagic's scope, and warn about the conv bias before IN, as pix2pix has
    with DefaultScope.overwrite_default_scope("mmagic"), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        ref = UnetGenerator(1, 2, num_down=5, base_channels=4, norm_cfg=dict(type="IN")).eval()
    ours = UNetGenerator(1, 2, num_down=5, base_channels=4).eval()
    # mmagic nests the levels, so its parameters come as down 0..4, then up 4..0
    order = [*ours.downs, *reversed(ours.ups)]
    ours_params = [p for block in order for p in block.parameters()]
    ref_params = list(ref.parameters())
    assert [p.shape for p in ours_params] == [p.shape for p in ref_params]
    with torch.no_grad():
        for mine, theirs in zip(ours_params, ref_params, strict=True):
            mine.copy_(theirs)
        x = torch.randn(2, 1, 32, 32)
        assert torch.allclose(ours(x), ref(x), atol=1e-6)


@pytest.mark.parametrize("num_down", [1, 0])
def test_error_bad_num_down(num_down):
    with pytest.raises(ValueError, match="num_down must be >= 2"):
        UNetGenerator(num_down=num_down)


@pytest.mark.parametrize("num_down", [2.5, "8", True])
def test_error_num_down_not_an_integer(num_down):
    with pytest.raises(TypeError, match="num_down must be an integer"):
        UNetGenerator(num_down=num_down)


def test_numpy_integers_are_accepted():
    net = UNetGenerator(num_down=np.int64(3), base_channels=np.int32(4), dims=2)
    assert net.num_down == 3 and type(net.num_down) is int and len(net.downs) == 3
    assert net(torch.zeros(1, 1, 8, 8)).shape == (1, 1, 8, 8)


@pytest.mark.parametrize("norm_cfg", [dict(type="GN"), dict()])
def test_error_bad_norm(norm_cfg):
    with pytest.raises(ValueError, match="norm_cfg"):
        UNetGenerator(norm_cfg=norm_cfg, **SMALL)


def test_error_norm_cfg_not_a_dict():
    with pytest.raises(TypeError, match="norm_cfg"):
        UNetGenerator(norm_cfg="IN", **SMALL)


def test_error_bad_dims():
    with pytest.raises(ValueError, match="dims must be 2"):
        UNetGenerator(dims=1, **SMALL)


def test_error_indivisible_input():
    with pytest.raises(ValueError, match=r"\(36, 32\) is not divisible by 2\*\*num_down = 8"):
        UNetGenerator(**SMALL)(torch.zeros(1, 1, 36, 32))


def test_error_wrong_channels_or_rank():
    net = UNetGenerator(**SMALL)
    with pytest.raises(ValueError, match=r"got shape \(1, 3, 32, 32\)"):
        net(torch.zeros(1, 3, 32, 32))
    with pytest.raises(ValueError, match=r"got shape \(1, 1, 8, 32, 32\)"):
        net(torch.zeros(1, 1, 8, 32, 32))


def test_init_weights_normal():
    net = UNetGenerator(norm_cfg=dict(type="BN"), num_down=4, base_channels=8, init_cfg=dict(type="normal", gain=0.02))
    weights = torch.cat([m.weight.flatten() for m in net.modules() if isinstance(m, nn.Conv2d)])
    assert 0.015 < weights.std().item() < 0.025
    assert all(m.bias is None or not m.bias.any() for m in net.modules() if isinstance(m, nn.ConvTranspose2d))


def test_builds_from_mmagic_registry():
    registry = pytest.importorskip("mmagic.registry")
    from mmac import register_all_modules

    register_all_modules()

    net = registry.MODELS.build(dict(type="UNetGenerator", num_down=3, base_channels=4, dims=3))
    assert isinstance(net, UNetGenerator) and net.dims == 3 and net.num_down == 3


def test_error_bad_init_cfg():
    with pytest.raises(ValueError, match="init_cfg type must be one of"):
        UNetGenerator(init_cfg=dict(type="uniform"), **SMALL)


def test_residual_adds_the_input_to_the_plain_output():
    torch.manual_seed(0)
    plain = UNetGenerator(residual=False, **SMALL)
    residual = UNetGenerator(residual=True, **SMALL)
    residual.load_state_dict(plain.state_dict())  # same parameters, same state dict keys
    x = torch.rand(2, 1, 32, 32) * 2 - 1
    torch.testing.assert_close(residual(x), x + plain(x), rtol=0, atol=0)
    assert "residual=True" in repr(residual)


def test_residual_starts_as_the_identity_when_the_last_layer_is_zero():
    net = UNetGenerator(residual=True, **SMALL)
    nn.init.zeros_(net.ups[0][1].weight)
    nn.init.zeros_(net.ups[0][1].bias)
    x = torch.rand(1, 1, 32, 32) * 2 - 1
    torch.testing.assert_close(net(x), x, rtol=0, atol=0)


def test_residual_errors():
    with pytest.raises(ValueError, match="in_channels and out_channels must be equal"):
        UNetGenerator(in_channels=1, out_channels=3, residual=True, num_down=3, base_channels=4)
    with pytest.raises(TypeError, match="residual must be a bool"):
        UNetGenerator(residual=1, **SMALL)


def test_gated_output_is_the_input_plus_gate_times_change():
    torch.manual_seed(0)
    net = UNetGenerator(residual=True, gated=True, **SMALL)
    last = net.ups[0][1]  # the outermost transposed conv: 2 output channels (change, gate)
    assert last.out_channels == 2
    x = torch.rand(2, 1, 32, 32) * 2 - 1
    captured = {}
    last.register_forward_hook(lambda module, inputs, output: captured.update(raw=output))
    out = net(x)
    change, gate = captured["raw"][:, :1], captured["raw"][:, 1:]
    torch.testing.assert_close(out, x + torch.tanh(change) / (1 + torch.exp(-gate)))
    assert ((out - x).abs() < 1).all() and "gated=True" in repr(net)
    # Parameters: only the outermost conv grows, by one output channel (8 * 16 weights + 1 bias).
    assert _n_params(net) == _n_params(UNetGenerator(residual=True, **SMALL)) + 8 * 16 + 1


def test_gated_closed_gate_is_the_identity_and_open_gate_the_ungated_change():
    net = UNetGenerator(residual=True, gated=True, **SMALL)
    x = torch.rand(1, 1, 32, 32) * 2 - 1
    with torch.no_grad():
        net.ups[0][1].bias[1] = -1e4  # gate channel: sigmoid = 0 everywhere
    torch.testing.assert_close(net(x), x, rtol=0, atol=0)
    plain = UNetGenerator(residual=True, **SMALL)
    with torch.no_grad():
        net.ups[0][1].bias[1] = 1e4  # gate open: x + tanh(change), the ungated residual's output
        for p, q in zip(plain.parameters(), net.parameters(), strict=True):
            if p.shape == q.shape:
                p.copy_(q)
            else:  # the outermost transposed conv: weight (in, out, k, k), bias (out,); keep the change channel
                p.copy_(q[:, :1] if q.ndim == 4 else q[:1])
    torch.testing.assert_close(net(x), plain(x))
    # The full-resolution head gates the same way.
    head = UNetGenerator(residual=True, gated=True, full_resolution=True, **SMALL)
    assert head.head[3].out_channels == 2 and head(x).shape == x.shape
    with torch.no_grad():
        head.head[3].bias[1] = -1e4
    torch.testing.assert_close(head(x), x, rtol=0, atol=0)


def test_gated_errors():
    with pytest.raises(ValueError, match="gated=True .* needs residual=True"):
        UNetGenerator(gated=True, **SMALL)
    with pytest.raises(TypeError, match="gated must be a bool"):
        UNetGenerator(residual=True, gated=1, **SMALL)


def test_full_resolution_parameter_count():
    # IN, num_down=3, base 4, 1 -> 1: the outermost up conv returns 4 channels (with bias) instead of 1, then the
    # head: 3x3 conv (1 + 4) -> 4 with bias, IN, ReLU, 3x3 conv 4 -> 1 with bias.
    downs = [(1, 4), (4, 8), (8, 16)]
    ups = [(16, 8), (16, 4), (8, 4)]
    expected = sum(cin * cout * 16 + cout for cin, cout in downs + ups) + (5 * 4 * 9 + 4) + (4 * 1 * 9 + 1)
    net = UNetGenerator(full_resolution=True, **SMALL)
    assert _n_params(net) == expected
    plain = sum(cin * cout * 16 + cout for cin, cout in downs + ups[:-1] + [(8, 1)])  # outermost: 8 -> 1
    assert _n_params(UNetGenerator(**SMALL)) == plain
    # BN: no conv before a norm has a bias, the outermost up conv now included; BN has 2 * C parameters.
    # down 1*4*16 + 4*8*16 + 2*8 + 8*16*16 = 2640; up 16*8*16 + 2*8 + 16*4*16 + 2*4 + 8*4*16 + 2*4 = 3616;
    # head 5*4*9 + 2*4 + 4*1*9 + 1 = 225
    assert _n_params(UNetGenerator(full_resolution=True, norm_cfg=dict(type="BN"), **SMALL)) == 2640 + 3616 + 225


def test_full_resolution_head_sees_the_input_at_full_resolution():
    # Silence the U-Net (outermost up conv zero: its features are ReLU(IN(0)) = 0) and let the head pass the
    # input channel through: the output must be tanh(ReLU(instance-normalised input)), pixel by pixel.
    net = UNetGenerator(full_resolution=True, **SMALL)
    with torch.no_grad():
        for p in net.parameters():
            p.zero_()
        net.head[0].weight[0, 0, 1, 1] = 1.0   # first feature = the input channel
        net.head[3].weight[0, 0, 1, 1] = 1.0   # output = that feature
    x = torch.rand(2, 1, 32, 32)
    mean, var = x.mean((2, 3), keepdim=True), x.var((2, 3), unbiased=False, keepdim=True)
    expected = torch.tanh(torch.relu((x - mean) / torch.sqrt(var + 1e-5)))
    torch.testing.assert_close(net(x), expected)
    assert "full_resolution=True" in repr(net)


def test_full_resolution_residual_starts_as_the_identity_when_the_last_layer_is_zero():
    net = UNetGenerator(residual=True, full_resolution=True, **SMALL)
    nn.init.zeros_(net.head[3].weight)
    nn.init.zeros_(net.head[3].bias)
    x = torch.rand(1, 1, 32, 32) * 2 - 1
    torch.testing.assert_close(net(x), x, rtol=0, atol=0)
    assert net(torch.randn(1, 1, 32, 32)).shape == (1, 1, 32, 32)
    assert UNetGenerator(dims=3, num_down=2, base_channels=2, full_resolution=True)(
        torch.randn(1, 1, 8, 8, 8)).shape == (1, 1, 8, 8, 8)


def test_full_resolution_errors():
    with pytest.raises(TypeError, match="full_resolution must be a bool"):
        UNetGenerator(full_resolution="yes", **SMALL)


def test_bilinear_upsampling_has_no_transposed_convolutions_and_counts_its_parameters():
    net = UNetGenerator(upsampling="bilinear", **SMALL)
    assert not [m for m in net.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert len([m for m in net.modules() if isinstance(m, nn.Upsample)]) == SMALL["num_down"]
    # down 4x4 convs as before; up: 3x3 convs (16 -> 8, 16 -> 4, 8 -> 1), all with bias (IN)
    downs = [(1, 4), (4, 8), (8, 16)]
    ups = [(16, 8), (16, 4), (8, 1)]
    expected = sum(cin * cout * 16 + cout for cin, cout in downs) + sum(cin * cout * 9 + cout for cin, cout in ups)
    assert _n_params(net) == expected
    assert net(torch.randn(2, 1, 32, 48)).shape == (2, 1, 32, 48)
    assert "upsampling='bilinear'" in repr(net)


def test_bilinear_upsampling_of_a_constant_has_no_checkerboard():
    # A constant input: the output's period-2 components (checkerboard, alternate rows, alternate columns) in the
    # interior are what overlapping transposed-convolution kernels make; bilinear upsampling cannot.
    x = torch.full((1, 1, 64, 64), 0.3)

    def period_two(net):
        with torch.no_grad():
            out = net(x)[0, 0, 8:56, 8:56]
        sign = (-1.0) ** torch.arange(48)
        return max(float((out * k).mean().abs()) for k in (sign[:, None] * sign, sign[:, None].expand(48, 48),
                                                          sign.expand(48, 48)))

    norm = dict(type="BN")  # IN would zero constant features; BN in eval mode keeps them
    torch.manual_seed(0)
    smooth = UNetGenerator(upsampling="bilinear", norm_cfg=norm, init_cfg=dict(type="normal", gain=0.2), **SMALL)
    torch.manual_seed(0)
    blocky = UNetGenerator(upsampling="transposed", norm_cfg=norm, init_cfg=dict(type="normal", gain=0.2), **SMALL)
    assert period_two(smooth.eval()) < 2e-3
    assert period_two(blocky.eval()) > 1e-2


def test_upsampling_error():
    with pytest.raises(ValueError, match="upsampling"):
        UNetGenerator(upsampling="nearest", **SMALL)


def test_noise_channels_widen_only_the_first_convolution():
    plain = UNetGenerator(num_down=5, base_channels=4)
    noisy = UNetGenerator(num_down=5, base_channels=4, noise_channels=3)
    first_plain, first_noisy = plain.downs[0][0], noisy.downs[0][0]
    assert first_noisy.in_channels == first_plain.in_channels + 3
    # Every other parameter has the same shape: 4 x 4 x 3 x 4 more weights in all.
    extra = sum(p.numel() for p in noisy.parameters()) - sum(p.numel() for p in plain.parameters())
    assert extra == 4 * 4 * 3 * 4


def test_noise_gives_a_new_output_per_call_and_repeats_under_the_seed():
    net = UNetGenerator(num_down=5, base_channels=4, noise_channels=2, residual=True)
    x = torch.rand(2, 1, 32, 32) * 2 - 1
    with torch.no_grad():
        torch.manual_seed(3)
        a = net(x)
        b = net(x)
        torch.manual_seed(3)
        c = net(x)
    assert a.shape == x.shape
    assert not torch.allclose(a, b)
    assert torch.equal(a, c)


def test_noise_is_smooth_at_the_stride():
    net = UNetGenerator(num_down=5, base_channels=4, noise_channels=1, noise_stride=8)
    noise = net._noise(torch.zeros(1, 1, 64, 64))  # (1, 1, 64, 64) from an 8 x 8 grid
    assert noise.shape == (1, 1, 64, 64)
    # Neighbouring pixels of a bilinear upsampling by 8 differ far less than independent draws would.
    step = (noise[..., 1:] - noise[..., :-1]).abs().mean()
    assert step < 0.25 * noise.std()


def test_noise_errors():
    with pytest.raises(ValueError, match="noise_channels"):
        UNetGenerator(noise_channels=-1)
    with pytest.raises(ValueError, match="noise_stride"):
        UNetGenerator(noise_stride=0)


def test_a_given_code_replaces_the_draw_and_equals_the_seeded_draw():
    net = UNetGenerator(num_down=5, base_channels=4, noise_channels=2, noise_stride=8, residual=True)
    x = torch.rand(3, 1, 32, 32) * 2 - 1
    assert net.noise_shape(x) == (3, 2, 4, 4)
    torch.manual_seed(5)
    drawn = net(x)
    torch.manual_seed(5)
    code = torch.randn(3, 2, 4, 4)  # the draw the generator makes after the same seed
    assert torch.allclose(net(x, noise=code), drawn, atol=1e-6)
    assert torch.equal(net(x, noise=code), net(x, noise=code))  # a given code: deterministic
    assert not torch.allclose(net(x, noise=code), net(x, noise=code + 1.0))
    code.requires_grad_(True)
    net(x, noise=code).sum().backward()
    assert code.grad is not None and code.grad.abs().sum() > 0  # gradients reach an inferred code


def test_a_given_code_of_the_wrong_shape_or_for_a_deterministic_generator_is_refused():
    net = UNetGenerator(num_down=5, base_channels=4, noise_channels=2, noise_stride=8)
    with pytest.raises(ValueError, match=r"noise must have shape \(1, 2, 4, 4\)"):
        net(torch.zeros(1, 1, 32, 32), noise=torch.zeros(1, 2, 8, 8))
    with pytest.raises(ValueError, match="noise_channels=0"):
        UNetGenerator(num_down=5, base_channels=4)(torch.zeros(1, 1, 32, 32), noise=torch.zeros(1, 1, 4, 4))
