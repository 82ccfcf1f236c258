"""Fixtures of the testbed tests: load YAML text from a file, and collect its problems."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from harness.errors import TestbedError
from harness.testbed import Testbed, load_testbed

from .cases import LoadText, Problems, assert_problem_lines


@pytest.fixture
def load_text(tmp_path: Path) -> LoadText:
    """Write (dedented) YAML to tmp/testbed.yaml and load it."""

    def load(text: str) -> Testbed:
        path = tmp_path / "testbed.yaml"
        path.write_text(textwrap.dedent(text))
        return load_testbed(path)

    return load


@pytest.fixture
def problems(load_text: LoadText) -> Problems:
    """The problem lines loading the (dedented) YAML gives, with the file name cut to 'tb'."""

    def find(text: str) -> list[str]:
        with pytest.raises(TestbedError) as caught:
            load_text(text)
        lines = caught.value.problems
        assert_problem_lines(lines)
        return [re.sub(r"^\S*testbed\.yaml", "tb", line) for line in lines]

    return find
