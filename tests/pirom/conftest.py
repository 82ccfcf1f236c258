"""Fixtures for the boot-ROM emulator's tests."""

from __future__ import annotations

import pytest

from harness.pirom.timing import ManualClock


@pytest.fixture
def clock() -> ManualClock:
    """Virtual time, starting at an arbitrary non-zero instant."""
    return ManualClock(100.0)
