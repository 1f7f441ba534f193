"""code_effect: the scores against a direct computation with a known code, and bad input."""
import numpy as np
import pytest
import torch

pytest.importorskip("mmagic")
from mmac.apis.latent_codes import code_effect  # noqa: E402
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
