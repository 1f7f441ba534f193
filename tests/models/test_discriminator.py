"""HistogramPatchDiscriminator and soft_histogram (mmac.models.discriminator), against brute force and mmagic."""
import math

import numpy as np
import pytest
import torch

from mmac.models.discriminator import HistogramPatchDiscriminator, soft_histogram


def brute_histogram(values, bins, low, high, bandwidth):
    """One pixel and one bin at a time, in float64."""
    width = (high - low) / bins
    centres = [low + width * (k + 0.5) for k in range(bins)]
    hist = [0.0] * bins
    for v in values:
        v = min(max(v, low), high)
        for k, c in enumerate(centres):
            hist[k] += math.exp(-((v - c) ** 2) / (2 * bandwidth ** 2))
    total = sum(hist)
    return [h / total for h in hist]


@pytest.mark.parametrize("bandwidth", [None, 0.1])
def test_soft_histogram_matches_brute_force(bandwidth):
    rng = np.random.default_rng(0)
    x = rng.uniform(-1.3, 1.3, size=(2, 3, 5, 4))  # some values outside the range: clipped
    got = soft_histogram(torch.from_numpy(x), 8, (-1.0, 1.0), bandwidth).numpy()
    assert got.shape == (2, 3, 8)
    for n in range(2):
        for c in range(3):
            want = brute_histogram(x[n, c].ravel(), 8, -1.0, 1.0, 0.25 if bandwidth is None else bandwidth)
            np.testing.assert_allclose(got[n, c], want, rtol=1e-12)


def test_soft_histogram_hand_worked_two_bins():
    # bins centred at -0.5 and 0.5, bandwidth 1 (the bin width); one pixel at 0.5: weights exp(-0.5), 1.
    got = soft_histogram(torch.tensor([[[0.5]]], dtype=torch.float64), 2)
    e = math.exp(-0.5)
    torch.testing.assert_close(got, torch.tensor([[[e / (1 + e), 1 / (1 + e)]]], dtype=torch.float64))


def test_soft_histogram_is_differentiable():
    x = torch.rand(1, 1, 3, 3, dtype=torch.float64) * 1.6 - 0.8
    assert torch.autograd.gradcheck(lambda v: soft_histogram(v, 6), (x.requires_grad_(),))


@pytest.mark.parametrize("kwargs, match", [
    (dict(bins=1), "bins"), (dict(bins=4, value_range=(1.0, -1.0)), "value_range"),
    (dict(bins=4, bandwidth=0.0), "bandwidth")])
def test_soft_histogram_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        soft_histogram(torch.zeros(1, 1, 2, 2), **kwargs)
    with pytest.raises(ValueError, match=r"\(N, C, \*spatial\)"):
        soft_histogram(torch.zeros(4), 4)


@pytest.mark.parametrize("num_conv", [1, 2, 3])
def test_patch_part_matches_mmagic_patch_discriminator(num_conv):
    """With the head off, the same layers and maths as mmagic's PatchDiscriminator (weights copied over)."""
    pytest.importorskip("mmagic")
    from mmagic.models.archs import PatchDiscriminator

    kwargs = dict(in_channels=1, base_channels=4, num_conv=num_conv, norm_cfg=dict(type='IN'),
                  init_cfg=dict(type='normal', gain=0.02))
    theirs = PatchDiscriminator(**kwargs)
    ours = HistogramPatchDiscriminator(**kwargs, histogram_bins=0)
    theirs_params, ours_params = list(theirs.parameters()), list(ours.parameters())
    assert [p.shape for p in theirs_params] == [p.shape for p in ours_params]
    with torch.no_grad():
        for src, dst in zip(theirs_params, ours_params, strict=True):
            dst.copy_(torch.randn_like(src) * 0.1)
            src.copy_(dst)
    x = torch.rand(2, 1, 32, 32) * 2 - 1
    torch.testing.assert_close(ours(x), theirs(x))


def test_histogram_score_is_added_to_every_patch():
    d = HistogramPatchDiscriminator(1, base_channels=4, num_conv=2, histogram_bins=16)
    with torch.no_grad():
        for p in d.histogram_head.parameters():
            p.normal_(0, 0.5)
    x = torch.rand(3, 1, 32, 32) * 2 - 1
    shift = d(x) - d.model(x)
    score = d.histogram_score(x)
    assert shift.shape == (3, 1, 6, 6) and score.shape == (3, 1)
    torch.testing.assert_close(shift, score[:, :, None, None].expand_as(shift))
    # the head's input is log(histogram + one pixel's worth), flattened over channels and bins
    hist = soft_histogram(x, 16)
    torch.testing.assert_close(score, d.histogram_head(torch.log(hist + 1 / 1024).flatten(1)))


def _thighs(n, fat, seed):
    """Disks of 'muscle' (-0.3) in a ring of 'fat' at intensity ``fat``, random sizes and noise, on -1."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.arange(32.0), torch.arange(32.0), indexing='ij')
    r = ((yy - 15.5) ** 2 + (xx - 15.5) ** 2).sqrt()
    outer = 9 + 5 * torch.rand(n, 1, 1, 1, generator=g)
    inner = outer - 2 - 3 * torch.rand(n, 1, 1, 1, generator=g)
    img = torch.full((n, 1, 32, 32), -1.0)
    img = torch.where(r < outer, torch.full_like(img, fat), img)
    img = torch.where(r < inner, torch.full_like(img, -0.3), img)
    return img + 0.03 * torch.randn(img.shape, generator=g)


def test_head_learns_a_shifted_tissue_intensity():
    """Trained as a GAN discriminator (LSGAN), it tells slices with fat at 0.7 from slices with fat at 0.5.

    Anatomy (ring and disk sizes) varies within both sets, so only the fat's intensity separates them.
    """
    torch.manual_seed(0)
    d = HistogramPatchDiscriminator(1, base_channels=4, num_conv=1, histogram_bins=32)
    opt = torch.optim.Adam(d.parameters(), lr=2e-3, betas=(0.5, 0.999))
    for step in range(150):
        real, fake = _thighs(8, 0.7, 2 * step), _thighs(8, 0.5, 2 * step + 1)
        loss = ((d(real) - 1) ** 2).mean() + (d(fake) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        real, fake = _thighs(32, 0.7, 10_001), _thighs(32, 0.5, 10_002)
        assert d(real).mean((1, 2, 3)).min() > d(fake).mean((1, 2, 3)).max()
        real, fake = d.histogram_score(real), d.histogram_score(fake)  # the head alone separates them too
    assert real.min() > fake.max(), (real.min(), fake.max())
    # the generator's gradient through the head moves the fat's intensity up, towards the real slices
    x = _thighs(1, 0.5, 7).requires_grad_()
    d.model.requires_grad_(False)
    ((d.histogram_score(x) - 1) ** 2).sum().backward()
    fat = (x.detach() > 0.3) & (x.detach() < 0.7)
    assert (-x.grad[fat]).mean() > 0


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(norm_cfg=dict(type='GN')), ValueError, "norm_cfg type must be one of"),
    (dict(norm_cfg='IN'), TypeError, "norm_cfg"),
    (dict(histogram_bins=1), ValueError, "histogram_bins must be 0"),
    (dict(histogram_bins=-2), ValueError, "histogram_bins"),
    (dict(init_cfg=dict(type='xavier')), ValueError, "init_cfg type must be 'normal'"),
    (dict(value_range=(1.0, 0.0)), ValueError, "value_range"),
    (dict(base_channels=0), ValueError, "base_channels"),
])
def test_constructor_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        HistogramPatchDiscriminator(1, **kwargs)


def test_forward_checks_the_input_shape_and_head_less_score():
    d = HistogramPatchDiscriminator(2, base_channels=4, num_conv=1)
    with pytest.raises(ValueError, match=r"in_channels=2.*got shape \(1, 1, 16, 16\)"):
        d(torch.zeros(1, 1, 16, 16))
    with pytest.raises(RuntimeError, match="histogram_bins > 0"):
        HistogramPatchDiscriminator(1, histogram_bins=0).histogram_score(torch.zeros(1, 1, 16, 16))


@pytest.mark.parametrize("norm_cfg, norm_layer", [(dict(type='IN'), torch.nn.InstanceNorm2d),
                                                  (dict(type='BN'), torch.nn.BatchNorm2d), (None, None)])
def test_norm_choices(norm_cfg, norm_layer):
    d = HistogramPatchDiscriminator(1, base_channels=4, num_conv=2, norm_cfg=norm_cfg)
    norms = [m for m in d.modules() if isinstance(m, torch.nn.modules.batchnorm._NormBase)
             or isinstance(m, torch.nn.InstanceNorm2d)]
    assert len(norms) == (0 if norm_layer is None else 2)
    assert all(isinstance(m, norm_layer) for m in norms)
    assert d(torch.zeros(2, 1, 32, 32)).shape == (2, 1, 6, 6)


def _largest_singular_value(weight: torch.Tensor) -> float:
    return float(torch.linalg.matrix_norm(weight.detach().reshape(weight.shape[0], -1), ord=2))


def test_spectral_norm_holds_every_layer_to_norm_one():
    torch.manual_seed(0)
    d = HistogramPatchDiscriminator(1, base_channels=4, num_conv=2, norm_cfg=None, spectral_norm=True,
                                    histogram_bins=8)
    layers = [m for m in d.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    assert len(layers) == 6 and all(torch.nn.utils.parametrize.is_parametrized(m, "weight") for m in layers)
    x = torch.randn(2, 1, 32, 32)
    for _ in range(30):  # the power iteration converges over training forwards
        d(x)
    for m in layers:
        raw = m.parametrizations.weight.original
        assert _largest_singular_value(raw) < 0.5  # N(0, 0.02) weights: far from 1 before the division
        assert _largest_singular_value(m.weight) == pytest.approx(1.0, rel=0.05)
    # Scaling the raw weights does not change the layer: only their direction counts.
    d.eval()
    before = d(x)
    with torch.no_grad():
        for m in layers:
            m.parametrizations.weight.original.mul_(7.0)
    torch.testing.assert_close(d(x), before, rtol=1e-4, atol=1e-5)
    # init_weights redraws the raw weights (N(0, gain)) and keeps the parametrisation.
    d.init_weights()
    assert all(torch.nn.utils.parametrize.is_parametrized(m, "weight") for m in layers)
    assert all(abs(float(m.parametrizations.weight.original.std()) - 0.02) < 0.01 for m in layers)
    # A state dict round trip gives the same layer.
    copy = HistogramPatchDiscriminator(1, base_channels=4, num_conv=2, norm_cfg=None, spectral_norm=True,
                                       histogram_bins=8)
    copy.load_state_dict(d.state_dict())
    copy.eval()
    torch.testing.assert_close(copy(x), d(x))
    with pytest.raises(TypeError, match="spectral_norm must be a bool"):
        HistogramPatchDiscriminator(1, spectral_norm=1)


def test_a_stock_patchgan_config_builds_it_by_changing_the_type():
    """The drop-in promise: mmagic's PatchDiscriminator keys, another type, through mmagic's registry."""
    pytest.importorskip("mmagic")
    from mmagic.registry import MODELS

    import mmac

    mmac.register_all_modules()
    d = MODELS.build(dict(type='HistogramPatchDiscriminator', in_channels=1, base_channels=4, num_conv=3,
                          norm_cfg=dict(type='IN'), init_cfg=dict(type='normal', gain=0.02)))
    assert isinstance(d, HistogramPatchDiscriminator) and d.histogram_bins == 32
    sn = MODELS.build(dict(type='HistogramPatchDiscriminator', in_channels=1, base_channels=4, num_conv=1,
                           norm_cfg=None, histogram_bins=0, spectral_norm=True))
    assert sn.spectral_norm and "spectral_norm=True" in repr(sn)
