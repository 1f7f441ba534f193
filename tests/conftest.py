"""Shared fixtures: a tiny synthetic cohort and tiny versions of the shipped configs."""
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CPU_CONFIG = REPO / "configs" / "ac_cyclegan_thigh_cpu.py"


@pytest.fixture(scope="session", autouse=True)
def slice_cache_dir(tmp_path_factory) -> Path:
    """The datasets' on-disk slice cache of this session, in a temporary folder (not ~/.cache/mmac/slices)."""
    import os

    folder = tmp_path_factory.mktemp("slice_cache")
    old = os.environ.get("MMAC_SLICE_CACHE")
    os.environ["MMAC_SLICE_CACHE"] = str(folder)
    yield folder
    if old is None:
        os.environ.pop("MMAC_SLICE_CACHE", None)
    else:
        os.environ["MMAC_SLICE_CACHE"] = old


@pytest.fixture(scope="session")
def tiny_cohort(tmp_path_factory) -> Path:
    """3 healthy, 1 moderate, 2 severe subjects of 32 x 32 x 8 from the phantom generator; returns the folder."""
    from mmac.phantom.cohort import make_cohort

    root = tmp_path_factory.mktemp("cohort") / "phantom"
    make_cohort(root, healthy=3, moderate=1, severe=2, size=32, slices=8, seed=0, progress=False)
    return root


def tiny_options(data_root, max_iters: int = 2, checkpoint_interval: int = 2, deterministic: bool = False) -> dict:
    """``--cfg-options`` that shrink a thigh config to 32 px, 4 base channels, 2 folds and a few iterations."""
    options = {
        "data_root": str(data_root),
        "train_cfg.max_iters": max_iters,
        "train_cfg.val_interval": max_iters,
        "default_hooks.checkpoint.interval": checkpoint_interval,
        "default_hooks.logger.interval": 1,
        "custom_hooks": [dict(type="ThresholdDiceHook")],
        "model.generator.num_down": 5,
        "model.generator.base_channels": 4,
        "model.discriminator.base_channels": 4,
    }
    for loader in ("train_dataloader", "val_dataloader", "test_dataloader"):
        options.update({f"{loader}.dataset.data_root": str(data_root), f"{loader}.dataset.size": 32,
                        f"{loader}.dataset.num_folds": 2, f"{loader}.num_workers": 0,
                        f"{loader}.persistent_workers": False})
    if deterministic:
        # No random pairing, augmentation or image history: a resumed run must retrace the original one.
        options.update({"train_dataloader.dataset.random_pairing": False,
                        "train_dataloader.dataset.pipeline": [dict(
                            type="PackDomainInputs", keys=["img_healthy", "img_pathological"],
                            data_keys=["img_healthy", "img_pathological"])],
                        "model.buffer_size": 0})
    return options


@pytest.fixture(scope="session")
def tiny_model(tiny_cohort, tmp_path_factory):
    """A 2-iteration L_AC CycleGAN on the tiny cohort (:class:`tests.tiny_model.TinyModel`; read-only)."""
    from tests.tiny_model import trained_tiny_model

    return trained_tiny_model(tiny_cohort, tmp_path_factory)


@pytest.fixture(scope="session")
def translator(tiny_model):
    """:class:`mmac.apis.Translator` of the tiny model's F."""
    from mmac.apis import init_translator

    return init_translator(tiny_model.config, tiny_model.checkpoint)


@pytest.fixture
def umask():
    """Set the process umask for one test (call it with the mask); the old one is restored afterwards."""
    import os

    old = os.umask(0o022)
    os.umask(old)
    yield os.umask
    os.umask(old)
