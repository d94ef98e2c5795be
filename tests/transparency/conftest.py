"""Fixtures of the transparency report tests."""

from __future__ import annotations

import pytest

from access_program.extensions import limiter
from tests.transparency import Dataset, build_dataset


@pytest.fixture
def dataset(db) -> Dataset:
    return build_dataset()


@pytest.fixture(autouse=True)
def fresh_limiter():
    """The report is rate-limited per client address and the limiter's memory storage is shared
    by every test: start and end with it empty."""
    limiter.reset()
    yield
    limiter.reset()
