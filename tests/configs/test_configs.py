"""Every shipped config loads (inheriting mmagic's stock CycleGAN configs), builds its model and trains one step."""
from pathlib import Path

import pytest
import torch

pytest.importorskip("mmagic")
from mmagic.registry import MODELS  # noqa: E402
from mmagic.structures import DataSample  # noqa: E402
from mmengine.config import Config  # noqa: E402
from mmengine.optim import build_optim_wrapper  # noqa: E402
from mmengine.registry import init_default_scope  # noqa: E402

import mmac  # noqa: E402,F401
from mmac.training.optim_wrappers import AutocastOptimWrapper, enable_amp  # noqa: E402

CONFIGS = sorted(p for p in (Path(__file__).resolve().parents[2] / "configs").rglob("*.py") if "_base_" not in p.parts)
THIGH = [p for p in CONFIGS if "thigh" in p.name]


def test_the_shipped_grid_is_complete():
    names = {p.name for p in CONFIGS}
    for loss in ("ac", "c"):
        for wc in ("025", "050", "100"):
            assert f"{loss}_cyclegan_thigh_wc{wc}.py" in names
    assert {"ac_cyclegan_thigh.py", "ac_cyclegan_thigh_cpu.py", "ac_cyclegan_horse2zebra.py"} <= names


def _shrink(cfg):
    cfg.model.generator.base_channels = 4
    cfg.model.discriminator.base_channels = 4


def _one_step(cfg, size, channels):
    init_default_scope("mmagic")
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    optim = build_optim_wrapper(model, cfg.optim_wrapper)
    domains = cfg.model.reachable_domains
    data = dict(inputs={f"img_{d}": torch.rand(1, channels, size, size) * 255 for d in domains},
                data_samples=[DataSample()])
    log = model.train_step(data, optim)
    assert all(torch.isfinite(v) for v in log.values())
    return model, optim, log


@pytest.mark.parametrize("path", THIGH, ids=lambda p: p.name)
def test_thigh_config_trains_one_step(path):
    cfg = Config.fromfile(str(path))
    assert cfg.model.type == "ModularCycleGAN"
    assert cfg.model.generator.type == "UNetGenerator"
    assert cfg.model.discriminator.type == "PatchDiscriminator" and cfg.model.discriminator.in_channels == 1
    assert cfg.model.id_loss_weight == 0.5  # half the GAN weight
    # The paper's training; the CPU demo and the GPU protocol preset's short runs document their deviations.
    if not {'cpu', 'gpu'} & set(path.stem.split('_')):
        assert cfg.train_dataloader.batch_size == 1
        assert cfg.optim_wrapper.generators.optimizer.lr == 1e-4
        assert cfg.optim_wrapper.discriminators.optimizer.lr == 1e-4
        assert cfg.train_cfg.max_iters == 16 * cfg.iters_per_epoch
        assert [t['type'] for t in cfg.train_dataloader.dataset.pipeline[:2]] == ['RandomRot90', 'RandomFlip2D']
    _shrink(cfg)
    size = 2 ** cfg.model.generator.num_down
    model, _, log = _one_step(cfg, size, 1)
    expected = "AsymmetricCycleLoss" if path.name.startswith("ac_") else "CycleConsistencyLoss"
    assert type(model.cycle_loss).__name__ == expected
    assert model.cycle_loss.loss_weight == pytest.approx(float(cfg.model.cycle_loss.loss_weight))
    assert ('fidelity_loss' in log) == ('fidelity' in path.stem.split('_'))
    assert model.generators['healthy'].gated == path.stem.endswith('_gated')


def test_grid_weights_match_their_names():
    for path in CONFIGS:
        if "_wc" in path.name:
            w = int(path.stem.split("_wc")[1]) / 100
            assert Config.fromfile(str(path)).model.cycle_loss.loss_weight == pytest.approx(w), path.name


def test_drop_in_on_stock_horse2zebra_config():
    cfg = Config.fromfile(str(next(p for p in CONFIGS if p.name == "ac_cyclegan_horse2zebra.py")))
    # Everything but the model type and the cycle loss comes from mmagic's stock config.
    assert cfg.model.generator.type == "ResnetGenerator" and cfg.model.generator.in_channels == 3
    assert cfg.model.reachable_domains == ["horse", "zebra"]
    assert cfg.model.update_order == "discriminators_first"  # the stock loop's order
    _shrink(cfg)
    cfg.model.generator.num_blocks = 1
    model, _, _ = _one_step(cfg, 32, 3)
    assert model.cycle_domains() == ["zebra"]


def test_amp_switches_every_wrapper_of_a_gan_config():
    cfg = Config.fromfile(str(next(p for p in THIGH if p.name == "ac_cyclegan_thigh_cpu.py")))
    assert sorted(enable_amp(cfg)) == ["discriminators", "generators"]
    _shrink(cfg)
    init_default_scope("mmagic")
    model = MODELS.build(cfg.model)
    optim = build_optim_wrapper(model, cfg.optim_wrapper)
    assert all(isinstance(optim[k], AutocastOptimWrapper) for k in ("generators", "discriminators"))
    dtypes = []
    # The U-Net's last layer: with residual=True the generator adds its fp32 input to it, so its own output is
    # fp32 by type promotion even though the network ran in bf16.
    model.generators["healthy"].ups[0].register_forward_hook(lambda m, i, o: dtypes.append(o.dtype))
    size = 2 ** cfg.model.generator.num_down
    data = dict(inputs={f"img_{d}": torch.rand(1, 1, size, size) * 255 for d in cfg.model.reachable_domains},
                data_samples=[DataSample()])
    model.train_step(data, optim)
    assert torch.bfloat16 in dtypes  # the forward really ran under autocast


def test_amp_refuses_unknown_wrapper_type():
    cfg = Config(dict(optim_wrapper=dict(generators=dict(type="MyWrapper", optimizer=dict(type="Adam")))))
    with pytest.raises(ValueError, match="generators.*MyWrapper"):
        enable_amp(cfg)


@pytest.mark.parametrize("path", [p for p in THIGH if "cycle_losses" in p.read_text()], ids=lambda p: p.name)
def test_losses_a_config_defines_build_and_train_one_step(path):
    from mmac.protocol.grid import cycle_loss_config

    cfg = Config.fromfile(str(path))
    assert cfg.cycle_losses
    _shrink(cfg)
    for name, definition in cfg.cycle_losses.items():
        cfg.model.cycle_loss = cycle_loss_config(name, 1.0, cfg.cycle_losses)
        model, _, log = _one_step(cfg, 2 ** cfg.model.generator.num_down, 1)
        assert type(model.cycle_loss).__name__ == definition['type'] and model.cycle_loss.loss_weight == 1.0
        assert model.cycle_loss.translation_grad == definition.get('translation_grad', 1.0)


@pytest.mark.parametrize("name, stride, healthy_weights", [
    ("ac_cyclegan_thigh_cpu_latent.py", 8, None),
    ("ac_cyclegan_thigh_cpu_augmented.py", 8, {"L_AUG": 1.0}),
    ("ac_cyclegan_thigh_cpu_augmented_fine.py", 4, {"L_AUG": 1.0, "L_AUG2": 2.0}),
    ("ac_cyclegan_thigh_cpu_augmented_codecycle.py", 4, {"L_AUG": 1.0, "L_AUG2": 2.0})])
def test_latent_configs_code_grid(name, stride, healthy_weights):
    # E's code and G's noise share one grid, H / stride; the augmented configs' losses keep only the healthy
    # cycle (the pathological one is the latent cycle's) at the documented weight, with gradient into F.
    path = next(p for p in CONFIGS if p.name == name)
    cfg = Config.fromfile(str(path))
    init_default_scope("mmagic")
    model = MODELS.build(cfg.model)
    size = cfg.image_size
    mean, logvar = model.generators["latent_encoder"](torch.rand(1, 1, size, size))
    assert mean.shape == logvar.shape == (1, 2, size // stride, size // stride)
    assert model.generators["pathological"].noise_stride == stride
    assert model.latent_cycle_loss.detach_translation is (healthy_weights is None)
    assert model.latent_cycle_loss.code_weight == (1.0 if "codecycle" in name else 0.0)
    if healthy_weights is not None:
        assert {k: v.domain_weights for k, v in cfg.cycle_losses.items()} == {
            k: dict(healthy=w) for k, w in healthy_weights.items()}
