"""The check every power backend's failure tests share: a :class:`PowerError` within
the deadline, one line, the secret never in it."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from harness.control.power import PowerError


def fails_within(action: Callable[[], object], deadline: float, secret: str) -> str:
    """Run ``action``; it must raise PowerError within ``deadline`` s.  Its message."""
    started = time.monotonic()
    with pytest.raises(PowerError) as err:
        action()
    elapsed = time.monotonic() - started
    assert elapsed < deadline, f"took {elapsed:.1f} s"
    text = str(err.value)
    assert "\n" not in text and secret not in text
    return text
