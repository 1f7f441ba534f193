"""Fixtures of tests/apis: the tiny trained model (see tiny_translator_model.py)."""
from __future__ import annotations

import pytest
from tiny_translator_model import TinyModel, trained_tiny_model


@pytest.fixture(scope="session")
def tiny_model(tiny_cohort, tmp_path_factory) -> TinyModel:
    """A 2-iteration L_AC CycleGAN on the shared tiny phantom cohort (read-only)."""
    return trained_tiny_model(tiny_cohort, tmp_path_factory)


@pytest.fixture(scope="session")
def translator(tiny_model):
    """:class:`mmac.apis.Translator` of the tiny model's F."""
    from mmac.apis import init_translator

    return init_translator(tiny_model.config, tiny_model.checkpoint)
