"""Fixtures of the transparency report tests."""

from __future__ import annotations

import pytest

from tests.transparency import Dataset, build_dataset


@pytest.fixture
def dataset(db) -> Dataset:
    return build_dataset()
