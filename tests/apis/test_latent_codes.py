"""code_effect and code_translator: against direct computations with known codes, and bad input."""
import numpy as np
import pytest
import torch

pytest.importorskip("mmagic")
from mmac.apis.latent_codes import code_effect, code_translator  # noqa: E402
from tests.models.test_modular_cyclegan import ASYMMETRIC, ENCODER, LATENT, SIZE, STOCHASTIC_G, build_model  # noqa: E402


def test_scores_with_a_known_code_match_a_direct_computation():
    model = build_model(ASYMMETRIC, generator_overrides=STOCHASTIC_G, latent_encoder=ENCODER,
                        latent_cycle_loss=dict(LATENT, sample=False)).eval()
    head = model.generators['latent_encoder'].head
    torch.nn.init.zeros_(head.weight)
    with torch.no_grad():
        head.bias.copy_(torch.tensor([0.5, -0.5, 0.0, 0.0]))  # mean (0.5, -0.5) everywhere, log-variance 0
    slices = np.random.default_rng(0).uniform(0, 1, (3, SIZE, SIZE)).astype(np.float32)
    scores = code_effect(model, slices)
    x = torch.from_numpy(slices)[:, None] * 2 - 1
    code = torch.tensor([0.5, -0.5]).view(1, 2, 1, 1).expand(3, 2, SIZE // 8, SIZE // 8)
    with torch.no_grad():
        rec = model.generators['pathological'](model.generators['healthy'](x).clamp(-1, 1), noise=code).clamp(-1, 1)
    rec01 = (rec[:, 0].numpy() + 1) / 2
    assert scores['code_mean'] == pytest.approx(0.5)
    assert scores['code_sigma'] == pytest.approx(1.0)
    assert scores['error_code'] == pytest.approx(float(np.abs(rec01 - slices).mean()), rel=1e-5)
    thigh = slices > 0.05
    assert scores['intensity'] == pytest.approx(float(slices[thigh].mean()), rel=1e-6)
    assert scores['intensity_code'] == pytest.approx(float(rec01[thigh].mean()), rel=1e-5)


def test_errors():
    with pytest.raises(ValueError, match='no latent_cycle_loss'):
        code_effect(build_model(ASYMMETRIC), np.zeros((1, SIZE, SIZE), np.float32))
    model = build_model(ASYMMETRIC, generator_overrides=STOCHASTIC_G, latent_encoder=ENCODER, latent_cycle_loss=LATENT)
    with pytest.raises(ValueError, match=r'\(N, H, W\) in \[0, 1\]'):
        code_effect(model, np.full((1, SIZE, SIZE), 2.0, np.float32))


def _latent_model(**loss):
    torch.manual_seed(0)
    return build_model(ASYMMETRIC, generator_overrides=STOCHASTIC_G, latent_encoder=ENCODER,
                       latent_cycle_loss=dict(LATENT, **loss)).eval()


def _by_hand(model, y, c):
    """G(y, mean of E(c)) on the 0-1 scale, each slice of y with the one code of c (1, H, W)."""
    with torch.no_grad():
        mean, _ = model.generators['latent_encoder'](torch.from_numpy(c)[:, None] * 2 - 1)
        out = model.generators['pathological'](torch.from_numpy(y)[:, None] * 2 - 1,
                                               noise=mean.expand(len(y), -1, -1, -1))
    return ((out.clamp(-1, 1) + 1) / 2)[:, 0].numpy()


def test_code_translator_gives_each_slice_a_patients_code():
    model = _latent_model(sample=False, fake_codes='posterior')
    rng = np.random.default_rng(1)
    y = rng.uniform(0, 1, (12, SIZE, SIZE)).astype(np.float32)
    dark, bright = np.zeros((1, SIZE, SIZE), np.float32), np.ones((1, SIZE, SIZE), np.float32)
    # one code slice: every slice gets its code, in batches of any size
    assert np.allclose(code_translator(model, bright, batch_size=5)(y), _by_hand(model, y, bright), atol=1e-6)
    # two code slices: each output is G with one of the two codes, both codes are used, and a seed repeats it
    with_dark, with_bright = _by_hand(model, y, dark), _by_hand(model, y, bright)
    assert np.abs(with_dark - with_bright).max() > 1e-3  # the two codes differ
    codes = np.concatenate([dark, bright])
    out = code_translator(model, codes, batch_size=5)(y)
    took_dark = np.isclose(out, with_dark, atol=1e-6).all(axis=(1, 2))
    took_bright = np.isclose(out, with_bright, atol=1e-6).all(axis=(1, 2))
    assert (took_dark ^ took_bright).all() and took_dark.any() and took_bright.any()
    translate = code_translator(model, codes, seed=3)
    first = translate(y)
    assert np.array_equal(first, code_translator(model, codes, seed=3)(y))
    assert not np.array_equal(first, translate(y))  # the next call draws anew
    # a sampling loss draws around the mean: close to it, not equal, and seeded
    sampling = _latent_model(sample=True, fake_codes='posterior')
    drawn = code_translator(sampling, bright, seed=0)(y)
    assert not np.allclose(drawn, _by_hand(sampling, y, bright), atol=1e-6)
    assert np.array_equal(drawn, code_translator(sampling, bright, seed=0)(y))


def test_code_translator_errors():
    with pytest.raises(ValueError, match='no latent_cycle_loss'):
        code_translator(build_model(ASYMMETRIC), np.zeros((1, SIZE, SIZE), np.float32))
    model = _latent_model(sample=False)
    with pytest.raises(ValueError, match=r'code_slices must be \(N, H, W\) in \[0, 1\]'):
        code_translator(model, np.full((1, SIZE, SIZE), -0.5, np.float32))
    translate = code_translator(model, np.zeros((1, SIZE, SIZE), np.float32))
    with pytest.raises(ValueError, match="model's training size"):
        translate(np.zeros((1, 2 * SIZE, 2 * SIZE), np.float32))
    with pytest.raises(ValueError, match=r'slices must be \(N, H, W\)'):
        translate(np.zeros((SIZE, SIZE), np.float32))
