"""A CycleGAN trained for 2 iterations on the tiny phantom cohort, trained once per test session.

Used by the session fixture ``tiny_model`` of tests/conftest.py (tests/apis, tests/report, tests/tools);
:func:`trained_tiny_model` caches the run per cohort, so the model is trained once.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CPU_CONFIG = ROOT / "configs" / "ac_cyclegan_thigh_cpu.py"
_CACHE: dict = {}


@dataclass(frozen=True)
class TinyModel:
    """A trained tiny model (read-only: do not modify its files).

    Attributes:
        cohort: Phantom cohort folder (3 healthy, 1 moderate, 2 severe; 32 x 32 x 8).
        manifest: Its manifest.csv.
        work_dir: The run's work dir.
        config: The config mmengine dumped into ``work_dir``.
        checkpoint: ``work_dir/iter_2.pth``.
    """

    cohort: Path
    manifest: Path
    work_dir: Path
    config: Path
    checkpoint: Path


def tiny_cfg_options(cohort: Path) -> dict:
    """cfg_options that shrink configs/ac_cyclegan_thigh_cpu.py to a 2-iteration run on ``cohort``."""
    options = {"data_root": str(cohort)}
    for loader in ("train_dataloader", "val_dataloader", "test_dataloader"):
        options.update({f"{loader}.dataset.data_root": str(cohort), f"{loader}.dataset.size": 32,
                        f"{loader}.dataset.fold": 0, f"{loader}.dataset.num_folds": 2,
                        f"{loader}.num_workers": 0, f"{loader}.persistent_workers": False})
    options.update({"model.generator.num_down": 5, "model.generator.base_channels": 4,
                    "model.discriminator.base_channels": 4, "train_cfg.max_iters": 2, "train_cfg.val_interval": 2,
                    "default_hooks.checkpoint.interval": 2, "custom_hooks": []})
    return options


def trained_tiny_model(cohort: Path, tmp_path_factory) -> TinyModel:
    """Train (once per cohort and session) and return the tiny model."""
    key = str(Path(cohort).resolve())
    if key not in _CACHE:
        from mmac.runner.launch import build_runner, load_config

        work_dir = tmp_path_factory.mktemp("tiny_translator") / "work"
        cfg = load_config(str(CPU_CONFIG), work_dir=str(work_dir), cfg_options=tiny_cfg_options(Path(cohort)))
        build_runner(cfg).train()
        checkpoint, config = work_dir / "iter_2.pth", work_dir / CPU_CONFIG.name
        if not (checkpoint.is_file() and config.is_file()):
            raise RuntimeError(f"training wrote {sorted(p.name for p in work_dir.iterdir())}, expected "
                               f"{checkpoint.name} and {config.name}")
        _CACHE[key] = TinyModel(cohort=Path(cohort), manifest=Path(cohort) / "manifest.csv", work_dir=work_dir,
                                config=config, checkpoint=checkpoint)
    return _CACHE[key]
