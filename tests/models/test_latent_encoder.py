"""LatentEncoder: the code's grid and channels, what it can tell apart, bad input."""
import pytest
import torch

from mmac.models.latent_encoder import LOGVAR_RANGE, LatentEncoder


@pytest.mark.parametrize("stride", [2, 4, 8])
def test_code_is_on_the_grid_stride_times_coarser(stride):
    encoder = LatentEncoder(in_channels=2, latent_channels=3, stride=stride, base_channels=4)
    mean, logvar = encoder(torch.rand(2, 2, 32, 48))
    assert mean.shape == logvar.shape == (2, 3, 32 // stride, 48 // stride)
    assert logvar.min() >= LOGVAR_RANGE[0] and logvar.max() <= LOGVAR_RANGE[1]


def test_encoder_learns_to_tell_the_amount_of_a_change():
    # An independent check that it is an encoder at all: regress the mean brightness added to a slice.
    torch.manual_seed(0)
    encoder = LatentEncoder(in_channels=2, latent_channels=1, stride=8, base_channels=8)
    optimizer = torch.optim.Adam(encoder.parameters(), lr=3e-3)
    for _ in range(150):
        base = torch.rand(16, 1, 16, 16)
        amount = torch.rand(16, 1, 1, 1)
        mean, _ = encoder(torch.cat([base + amount, base], dim=1))
        loss = (mean - amount).square().mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.1 * (1 / 12)  # a tenth of the variance of U[0, 1]


def test_errors():
    with pytest.raises(ValueError, match="power of 2"):
        LatentEncoder(stride=6)
    with pytest.raises(ValueError, match="stride"):
        LatentEncoder(stride=1)
    with pytest.raises(ValueError, match=r"expects \(N, 1, H, W\) with H and W multiples of 8"):
        LatentEncoder()(torch.zeros(1, 1, 12, 16))
    with pytest.raises(ValueError, match="expects"):
        LatentEncoder()(torch.zeros(1, 2, 16, 16))
