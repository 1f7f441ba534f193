"""Tests of mmac.apis.inference: Translator.translate_slices / translate_volume, init_translator, and the
mmagic-style entry points init_model and translate."""
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
    from mmac.checkpoint import load_local_checkpoint

    state = load_local_checkpoint(str(tiny_model.checkpoint), map_location="cpu")["state_dict"]
    key = next(k for k in state if k.startswith("generators.healthy.") and k.endswith("weight"))
    loaded = dict(translator.model.named_parameters())[key]
    torch.testing.assert_close(loaded.detach(), state[key])


def test_init_translator_refuses_a_checkpoint_of_another_model(tiny_model, tmp_path):
    """Weights that do not fit the config's model (a key missing) are a ValueError naming the checkpoint, which
    the command line prints as one error line, not a RuntimeError traceback."""
    from mmac.apis import init_translator
    from mmac.checkpoint import load_local_checkpoint

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


# ------------------------------------------------------------------ init_model / translate
@pytest.fixture(scope="module")
def model(tiny_model):
    """init_model on the tiny model's work dir alone."""
    from mmac.apis import init_model

    return init_model(tiny_model.work_dir)


def generator_state(translator) -> dict:
    return {k: v for k, v in translator.model.state_dict().items() if k.startswith("generators.healthy.")}


def assert_same_weights(a, b):
    state_a, state_b = generator_state(a), generator_state(b)
    assert state_a.keys() == state_b.keys() and state_a
    for key in state_a:
        torch.testing.assert_close(state_a[key], state_b[key], msg=key)


def test_init_model_on_a_work_dir_takes_its_config_and_checkpoint(tiny_model, model, translator):
    """``translator`` is init_translator(config, iter_2.pth), named by hand."""
    assert_same_weights(model, translator)
    assert model.cfg.filename == str(tiny_model.config)
    assert model.image_size == 32 and not model.model.training


@pytest.mark.parametrize("form", ["none_and_work_dir", "config_and_work_dir", "config_and_checkpoint"])
def test_init_model_call_forms_load_the_same_model(tiny_model, translator, form):
    from mmac.apis import init_model

    args = {"none_and_work_dir": (None, tiny_model.work_dir),
            "config_and_work_dir": (tiny_model.config, tiny_model.work_dir),
            "config_and_checkpoint": (str(tiny_model.config), str(tiny_model.checkpoint))}[form]
    assert_same_weights(init_model(*args), translator)


def test_a_copied_work_dir_loads_its_own_checkpoint(tiny_model, tmp_path):
    """mmengine's last_checkpoint names the original folder's file by its absolute path; the copy's own file, here
    with other weights, is the one loaded."""
    import shutil

    from mmac.apis import init_model
    from mmac.checkpoint import load_local_checkpoint

    copy = tmp_path / "copied"
    shutil.copytree(tiny_model.work_dir, copy)
    assert (copy / "last_checkpoint").read_text().strip() == str(tiny_model.checkpoint)  # the original's path
    checkpoint = load_local_checkpoint(str(copy / "iter_2.pth"), map_location="cpu")
    key = next(k for k in checkpoint["state_dict"] if k.startswith("generators.healthy.") and k.endswith("weight"))
    checkpoint["state_dict"][key] = checkpoint["state_dict"][key] + 1.0
    torch.save(checkpoint, copy / "iter_2.pth")
    torch.testing.assert_close(generator_state(init_model(copy))[key], checkpoint["state_dict"][key])

    # the named file is not in the copy: its newest iter_<n>.pth, not the original's iter_2.pth
    (copy / "iter_2.pth").rename(copy / "iter_1.pth")
    torch.testing.assert_close(generator_state(init_model(copy))[key], checkpoint["state_dict"][key])


def test_init_model_errors(tiny_model, tmp_path):
    from mmac.apis import init_model

    with pytest.raises(ValueError, match="is a checkpoint file, not a work dir; give its config too"):
        init_model(None, tiny_model.checkpoint)
    with pytest.raises(ValueError, match="needs a checkpoint or a work dir"):
        init_model(tiny_model.config)
    with pytest.raises(FileNotFoundError, match="nowhere does not exist"):
        init_model(tiny_model.config, tmp_path / "nowhere")
    with pytest.raises(TypeError, match="checkpoint must be a path"):
        init_model(tiny_model.config, 3)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="holds no config"):
        init_model(tmp_path / "empty")


def test_init_model_prints_no_third_party_warnings_and_keeps_the_filters(tiny_model):
    """In a fresh interpreter, where mmagic, transformers and mmcv are imported for the first time."""
    import os
    import subprocess
    import sys

    code = ("import sys, warnings\n"
            "from mmac.apis import init_model\n"
            "before = list(warnings.filters)\n"
            "print('--- init_model', file=sys.stderr, flush=True)\n"
            f"init_model({str(tiny_model.work_dir)!r})\n"
            "assert list(warnings.filters) == before, 'warning filters changed'\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                         env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert out.returncode == 0, out.stderr
    assert out.stderr.split("--- init_model\n", 1)[1] == ""


def test_translate_a_slice_and_a_volume(model, translator):
    from mmac.apis import translate
    from mmac.datasets.manifest import slices_to_volume, volume_to_slices

    x = np.random.default_rng(5).random((32, 32), dtype=np.float32)
    fx = translate(model, x)
    assert fx.shape == (32, 32) and fx.dtype == np.float32
    np.testing.assert_allclose(fx, reference_f(translator, x[None])[0], atol=1e-5)
    volume = np.random.default_rng(6).random((32, 32, 3), dtype=np.float32)
    out = translate(model, volume)
    assert out.shape == (32, 32, 3)
    np.testing.assert_allclose(out, slices_to_volume(reference_f(translator, volume_to_slices(volume))), atol=1e-5)
    assert translate(model, np.full((48, 40), 0.5, np.float32)).shape == (48, 40)  # fitted to 32 px and back


@pytest.mark.parametrize("call, error, match", [
    (lambda m, t: t(m, np.zeros((2, 32, 32, 1), np.float32)), ValueError, r"slice \(H, W\) or a volume"),
    (lambda m, t: t(m, [[0.0]]), TypeError, "numpy array, a NIfTI file"),
    (lambda m, t: t(m, np.zeros((32, 32), np.float32), out_dir="x"), ValueError, "out_dir apply to a NIfTI"),
    (lambda m, t: t(m, "scan.nii.gz"), ValueError, "give out_dir"),
    (lambda m, t: t(m.model, np.zeros((32, 32), np.float32)), TypeError, "Translator from mmac.apis.init_model"),
    (lambda m, t: t(m, np.full((32, 32), 3.0, np.float32)), ValueError, r"normalised to \[0, 1\]"),
])
def test_translate_bad_input(model, call, error, match):
    from mmac.apis import translate

    with pytest.raises(error, match=match):
        call(model, translate)


def test_translate_a_nifti_file_writes_its_outputs(tiny_model, model, tmp_path):
    from mmac.apis import VolumeResult, translate
    from mmac.datasets.manifest import read_manifest

    record = next(r for r in read_manifest(tiny_model.manifest) if r.group == "severe")
    result = translate(model, record.image, out_dir=tmp_path / "out")
    assert isinstance(result, VolumeResult) and result.thresholds == "histogram"
    assert result.pseudo_healthy == tmp_path / "out" / f"{record.image.name[:-7]}_pseudohealthy.nii.gz"
    assert result.pseudo_healthy.is_file() and result.fatmap.is_file() and result.muscle.is_file()
    with_mask = translate(model, str(record.image), out_dir=tmp_path / "out2", mask=record.mask)
    assert with_mask.thresholds == "mask"


def test_translate_a_study_manifest(tiny_model, model, tmp_path):
    """Every image of the manifest, named by subject, with its row's mask."""
    import csv

    from mmac.apis import translate

    subjects = [row["subject"] for row in csv.DictReader(open(tiny_model.manifest))]
    results = translate(model, tiny_model.manifest, out_dir=tmp_path / "out")
    assert [r.volume for r in results] == subjects
    assert {r.thresholds for r in results} == {"mask"}
    assert sorted(p.name for p in (tmp_path / "out").glob("*_pseudohealthy.nii.gz")) == \
        sorted(f"{s}_pseudohealthy.nii.gz" for s in subjects)


def test_translate_takes_the_mask_labels_from_the_model_config(tiny_model, model, tmp_path, monkeypatch):
    """The phantom's masks are 0/1: a config naming label 2 as muscle leaves them empty, which is refused."""
    cfg = model.cfg.copy()
    cfg.test_dataloader.dataset.mask_labels = [2]
    monkeypatch.setattr(model, "cfg", cfg)
    from mmac.apis import translate

    with pytest.raises(ValueError, match=r"empty on every slice with mask_labels \[2\]"):
        translate(model, tiny_model.manifest, out_dir=tmp_path / "out")
    assert not (tmp_path / "out").exists()  # checked before anything is written
