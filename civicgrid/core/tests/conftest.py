"""Fixtures of the core tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from civicgrid.core.worktime import clear_calendar_cache


@pytest.fixture(autouse=True)
def _fresh_calendar_cache() -> Iterator[None]:
    # Overrides are cached per process; a rolled-back test must not leave its overrides behind.
    clear_calendar_cache()
    yield
    clear_calendar_cache()
