"""Whatever is wrong with a testbed file, the result is a TestbedError of one-line problems.

Hypothesis mutates the default testbed (wrong types, deleted fields, bad MACs and
addresses, duplicated nodes, unknown and secret keys) and loads the YAML it dumps.
"""

from __future__ import annotations

import copy
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.errors import TestbedError
from harness.testbed import Testbed, parse_testbed

from .cases import assert_problem_lines, valid_data

ODD_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**40), max_value=2**40),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
    st.sampled_from(
        [
            "zz:54:00:42:00:03",
            "52:54:00:42:00",
            "10.42.0.300",
            "10.43.0.2",
            "10.42.0.250",
            "10.42.0.1/24",
            "pi5",
            "x86-bios",
            "cluster",
            "lab",
            "/pxe",
            "relative/path",
            "{position}",
        ]
    ),
)
KEYS = st.sampled_from(
    ["hostnme", "password", "token", "kind", "name", "mac", "ip", "network", "nodes", "x"]
)


def _paths(data: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every location in the data, containers and leaves."""
    yield path
    if isinstance(data, dict):
        for key, value in data.items():
            yield from _paths(value, (*path, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from _paths(value, (*path, index))


def _parent(data: Any, path: tuple[Any, ...]) -> Any:
    for part in path[:-1]:
        data = data[part]
    return data


@st.composite
def mutated_testbeds(draw: st.DrawFn) -> dict[str, Any]:
    data: dict[str, Any] = valid_data()
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        paths = [p for p in _paths(data) if p]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = _parent(data, path)
        action = draw(st.sampled_from(["replace", "delete", "add_key", "duplicate_node"]))
        if action == "replace":
            parent[path[-1]] = draw(ODD_VALUES)
        elif action == "delete":
            del parent[path[-1]]
        elif action == "add_key":
            target = parent[path[-1]]
            if isinstance(target, dict):
                target[draw(KEYS)] = draw(ODD_VALUES)
        elif isinstance(data.get("nodes"), list) and data["nodes"]:
            data["nodes"].append(copy.deepcopy(data["nodes"][0]))
    return data


@pytest.fixture(scope="module")
def folder() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as name:
        yield Path(name)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=mutated_testbeds())
def test_mutations_give_one_line_problems_or_a_testbed(folder: Path, data: dict[str, Any]) -> None:
    text = yaml.safe_dump(data, sort_keys=False)
    try:
        testbed = parse_testbed(text, folder / "mutated.yaml")
    except TestbedError as error:
        assert_problem_lines(error.problems)
    else:
        assert isinstance(testbed, Testbed)  # some mutations are harmless (a description)


@settings(max_examples=100, deadline=None)
@given(text=st.text(max_size=200))
def test_any_text_gives_problems_or_a_testbed(folder: Path, text: str) -> None:
    try:
        parse_testbed(text, folder / "text.yaml")
    except TestbedError as error:
        assert_problem_lines(error.problems)


TABLE_TESTBED = """\
name: cluster
server:
  name: server-module
  hostname: testserver
  addresses: {cluster: 10.42.0.250}
  tftp_root: /pxe/boot
  root: /pxe/root
networks:
  cluster: {subnet: 10.42.0.0/24, interface: eth0}
node_table:
  file: fuzz.mac_nodes
  name: NAME
  profile: pi3b
  power: {kind: powerall}
"""

TABLE_LINES = st.one_of(
    st.builds(
        "{} {}".format,
        st.integers(min_value=-2, max_value=300),
        st.sampled_from(["b8:27:eb:00:00:01", "B8-27-EB-00-00-02", "b8:27:eb:zz:00:03", "x"]),
    ),
    st.text(alphabet=" \t#0123456789abcdef:-x", max_size=30),
)
TEMPLATES = st.sampled_from(
    ["node{position:02d}", "n{position}", "node", "{pos}", "{0}", "{position:q}", "{mac}", "{{x"]
)


@settings(max_examples=150, deadline=None)
@given(lines=st.lists(TABLE_LINES, max_size=8), template=TEMPLATES)
def test_node_table_mutations(folder: Path, lines: list[str], template: str) -> None:
    (folder / "fuzz.mac_nodes").write_text("\n".join(lines) + "\n")
    text = TABLE_TESTBED.replace("NAME", f"'{template}'")
    try:
        parse_testbed(text, folder / "table.yaml")
    except TestbedError as error:
        assert_problem_lines(error.problems)
