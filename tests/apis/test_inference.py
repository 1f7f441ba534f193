"""Tests of mmac.apis.inference: Translator.translate_slices / translate_volume and init_translator."""
from __future__ import annotations

import numpy as np
import pytest
import torch


def reference_f(translator, slices: np.ndarray) -> np.ndarray:
    """F by hand: [0, 1] -> 2 v - 1 (mean = std = 127.5 on [0, 255]) -> generator -> (y + 1) / 2."""
    with torch.no_grad():
        y = translator.model.generators["healthy"](torch.from_numpy(slices[:, None] * 2 - 1).float())
    return np.clip((y[:, 0].numpy() + 1) / 2, 0, 1)


def test_translator_reads_size_and_normalisation_from_config(translator):
    assert translator.image_size == 32
    assert translator.resize_mode == "fit"  # the base config's resize_mode
    assert translator.mean == 127.5 and translator.std == 127.5
    assert translator.divisor == 2 ** 5
    assert not translator.model.training


def test_translate_slices_shape_range_and_value(translator):
    rng = np.random.default_rng(0)
    slices = rng.random((5, 32, 32), dtype=np.float32)
    out = translator.translate_slices(slices, batch_size=2)
    assert out.shape == (5, 32, 32) and out.dtype == np.float32
    assert out.min() >= 0 and out.max() <= 1
    np.testing.assert_allclose(out, reference_f(translator, slices), atol=1e-5)


def test_batch_size_does_not_change_the_result(translator):
    slices = np.random.default_rng(1).random((3, 32, 32), dtype=np.float32)
    np.testing.assert_allclose(translator.translate_slices(slices, batch_size=1),
                               translator.translate_slices(slices, batch_size=3), atol=1e-6)


def test_other_sizes_are_fitted_to_the_training_size_and_back(translator):
    slices = np.random.default_rng(2).random((2, 48, 40), dtype=np.float32)
    out = translator.translate_slices(slices)
    assert out.shape == (2, 48, 40)
    assert out.min() >= 0 and out.max() <= 1


def test_fitting_a_constant_slice_gives_the_translation_of_the_constant(translator):
    # a 64 px constant slice is resized to the same 32 px constant, translated, and resized back: its mean
    # equals the mean of F of the 32 px constant (bilinear resizing keeps the mean up to rounding)
    const32 = np.full((1, 32, 32), 0.4, np.float32)
    const64 = np.full((1, 64, 64), 0.4, np.float32)
    f32 = translator.translate_slices(const32)
    f64 = translator.translate_slices(const64)
    assert abs(f64.mean() - f32.mean()) < 1e-3


def test_native_size_must_be_divisible_by_two_to_the_num_down(translator):
    with pytest.raises(ValueError, match=r"not divisible by 2\*\*num_down = 32"):
        translator.translate_slices(np.zeros((1, 48, 48), np.float32), fit=False)
    out = translator.translate_slices(np.zeros((1, 64, 32), np.float32), fit=False)
    assert out.shape == (1, 64, 32)


@pytest.mark.parametrize("bad, error, match", [
    (np.zeros((32, 32), np.float32), ValueError, r"\(N, H, W\)"),
    (np.zeros((0, 32, 32), np.float32), ValueError, r"\(N, H, W\)"),
    (np.full((1, 32, 32), 1.5, np.float32), ValueError, r"\[0, 1\]"),
    (np.full((1, 32, 32), np.nan, np.float32), ValueError, "NaN"),
    (np.zeros((1, 32, 32), complex), TypeError, "real numeric"),
])
def test_bad_slices_raise(translator, bad, error, match):
    with pytest.raises(error, match=match):
        translator.translate_slices(bad)


def test_bad_batch_size_raises(translator):
    with pytest.raises(ValueError, match="batch_size"):
        translator.translate_slices(np.zeros((1, 32, 32), np.float32), batch_size=0)


def test_translate_volume_matches_slicewise_translation(translator):
    from mmac.datasets.manifest import slices_to_volume, volume_to_slices

    volume = np.random.default_rng(3).random((32, 32, 3), dtype=np.float32)
    out = translator.translate_volume(volume)
    assert out.shape == volume.shape
    expected = slices_to_volume(reference_f(translator, volume_to_slices(volume)))
    np.testing.assert_allclose(out, expected, atol=1e-5)
    with pytest.raises(ValueError, match=r"\(X, Y, Z\)"):
        translator.translate_volume(np.zeros((32, 32), np.float32))


def test_init_translator_errors(tiny_model):
    from mmac.apis import init_translator

    with pytest.raises(FileNotFoundError, match="checkpoint"):
        init_translator(tiny_model.config, tiny_model.work_dir / "missing.pth")
    with pytest.raises(FileNotFoundError, match="config"):
        init_translator(tiny_model.work_dir / "missing.py", tiny_model.checkpoint)
    with pytest.raises(ValueError, match="direction 'zebra'"):
        init_translator(tiny_model.config, tiny_model.checkpoint, direction="zebra")


def test_init_translator_loads_the_checkpoint_weights(tiny_model, translator):
    from mmac.engine.checkpoint import load_local_checkpoint

    state = load_local_checkpoint(str(tiny_model.checkpoint), map_location="cpu")["state_dict"]
    key = next(k for k in state if k.startswith("generators.healthy.") and k.endswith("weight"))
    loaded = dict(translator.model.named_parameters())[key]
    torch.testing.assert_close(loaded.detach(), state[key])


def test_init_translator_refuses_a_checkpoint_of_another_model(tiny_model, tmp_path):
    """Weights that do not fit the config's model (a key missing) are a ValueError naming the checkpoint, which
    the command line prints as one error line, not a RuntimeError traceback."""
    from mmac.apis import init_translator
    from mmac.engine.checkpoint import load_local_checkpoint

    checkpoint = load_local_checkpoint(str(tiny_model.checkpoint), map_location="cpu")
    state = checkpoint["state_dict"]
    state.pop(next(k for k in state if k.startswith("generators.healthy.")))
    torch.save({"state_dict": state, "meta": {}}, tmp_path / "other.pth")
    with pytest.raises(ValueError, match=r"other.pth does not fit the model of its config .*missing keys"):
        init_translator(tiny_model.config, tmp_path / "other.pth")


def test_3d_generator_translates_the_volume_at_once():
    from mmac.apis import Translator
    from mmac.models.unet import UNetGenerator

    class Model(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.generators = torch.nn.ModuleDict(
                {"healthy": UNetGenerator(num_down=2, base_channels=2, dims=3),
                 "pathological": UNetGenerator(num_down=2, base_channels=2, dims=3)})

    model = Model()
    translator = Translator(model, image_size=None)
    volume = np.random.default_rng(4).random((8, 8, 4), dtype=np.float32)
    out = translator.translate_volume(volume)
    assert out.shape == (8, 8, 4)
    from mmac.datasets.manifest import slices_to_volume, volume_to_slices

    with torch.no_grad():
        y = model.generators["healthy"](torch.from_numpy(volume_to_slices(volume)[None, None] * 2 - 1))
    np.testing.assert_allclose(out, slices_to_volume(np.clip((y[0, 0].numpy() + 1) / 2, 0, 1)), atol=1e-5)
    with pytest.raises(ValueError, match="divisible"):
        translator.translate_volume(np.zeros((8, 8, 3), np.float32))
