"""load_testbed on damaged files: whatever happens to the text of a real testbed file
(lines deleted, duplicated, re-indented, cut, bytes that are not UTF-8), the result is a
testbed or a TestbedError of one-line problems naming the file - never a traceback.

test_mutations.py mutates the parsed data; this damages the text a person edits.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.errors import TestbedError
from harness.testbed import Testbed, load_testbed

from .cases import DEFAULT, EMULATED, assert_problem_lines

SOURCES = [DEFAULT.read_text(), EMULATED.read_text()]


@st.composite
def damaged_files(draw: st.DrawFn) -> bytes:
    lines = draw(st.sampled_from(SOURCES)).splitlines(keepends=True)
    for _ in range(draw(st.integers(min_value=1, max_value=5))):
        if not lines:
            break
        at = draw(st.integers(min_value=0, max_value=len(lines) - 1))
        how = draw(st.sampled_from(["delete", "duplicate", "indent", "dedent", "cut", "junk"]))
        line = lines[at]
        if how == "delete":
            del lines[at]
        elif how == "duplicate":
            lines.insert(at, line)
        elif how == "indent":
            lines[at] = "  " + line
        elif how == "dedent":
            lines[at] = line.lstrip(" ")
        elif how == "cut":
            lines[at] = line[: draw(st.integers(min_value=0, max_value=len(line)))] + "\n"
        else:
            lines[at] = draw(st.sampled_from(["\t", ": :", "- [", "{", "&a", "*b", "!!python/object:os.system ", "%"])) + line
    data = "".join(lines).encode()
    if draw(st.booleans()):
        data += draw(st.binary(max_size=8))  # maybe not UTF-8 any more
    return data


@pytest.fixture(scope="module")
def folder() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as name:
        yield Path(name)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=damaged_files())
def test_a_damaged_file_gives_one_line_problems_or_a_testbed(folder: Path, data: bytes) -> None:
    path = folder / "damaged.yaml"
    path.write_bytes(data)
    try:
        testbed = load_testbed(path)
    except TestbedError as error:
        assert_problem_lines(error.problems)
        assert all(line.startswith(str(path)) for line in error.problems), error.problems
    else:
        assert isinstance(testbed, Testbed)


def test_a_missing_file_is_one_line(folder: Path) -> None:
    with pytest.raises(TestbedError) as error:
        load_testbed(folder / "nowhere.yaml")
    assert_problem_lines(error.value.problems)
