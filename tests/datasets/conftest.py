"""Fixtures: a tiny synthetic cohort (see thigh_cohort.py)."""
from __future__ import annotations

from pathlib import Path

import pytest
from thigh_cohort import write_cohort


@pytest.fixture(scope="session")
def cohort(tmp_path_factory) -> Path:
    """Manifest of 2 healthy, 2 moderate and 1 severe subject, 32x32x8 volumes (read-only: do not modify)."""
    return write_cohort(tmp_path_factory.mktemp("cohort"))


@pytest.fixture
def fresh_cohort(tmp_path) -> Path:
    """A modifiable copy of the cohort."""
    return write_cohort(tmp_path / "cohort")
