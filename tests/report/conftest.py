"""Fixtures of tests/report: the tiny trained model, shared with tests/apis (trained once per session)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "apis"))
from tiny_translator_model import TinyModel, trained_tiny_model  # noqa: E402


@pytest.fixture(scope="session")
def tiny_model(tiny_cohort, tmp_path_factory) -> TinyModel:
    """A 2-iteration L_AC CycleGAN on the shared tiny phantom cohort (read-only)."""
    return trained_tiny_model(tiny_cohort, tmp_path_factory)
