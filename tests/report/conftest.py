"""Fixtures of the report tests: a real emulated run's timelines (data/), copied so a
test may write its report next to them."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parent / "data"
#: An emulated run of devices/emulated.yaml: 7 boots of 3 Pis, 2 of them broken on purpose.
FIXTURE_RUN = DATA / "20261121-145542-7387"


@pytest.fixture
def fixture_run(tmp_path: Path) -> Path:
    """A copy of the fixture run directory."""
    return Path(shutil.copytree(FIXTURE_RUN, tmp_path / FIXTURE_RUN.name))
