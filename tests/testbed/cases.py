"""What the testbed tests share: a valid testbed, and the shape every problem line has."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.testbed import Testbed
from harness.testbed.yamlsource import read_yaml

REPO = Path(__file__).resolve().parents[2]
EMULATED = REPO / "devices" / "emulated-x86.yaml"
DEFAULT = REPO / "devices" / "emulated.yaml"

#: Every problem line: ``file[:line]: [path: ]what; fix: how``, one line, no pydantic words.
PROBLEM_LINE = re.compile(r"^[^\s:]+(:\d+)?: \S.*; fix: \S.*$")
PYDANTIC_WORDS = ("Input should", "errors.pydantic.dev", "Field required", "Extra inputs")


def assert_problem_lines(lines: list[str]) -> None:
    assert lines, "a TestbedError must name at least one problem"
    for line in lines:
        assert "\n" not in line
        assert PROBLEM_LINE.match(line), line
        unquoted = re.sub(r"'[^']*'|\"[^\"]*\"", "", line)  # values may say anything
        assert not any(word in unquoted for word in PYDANTIC_WORDS), line


def valid_data() -> dict[str, Any]:
    """The default testbed as a dict, a fresh copy each time."""
    # read as the harness reads it: yaml.safe_load would make the MACs base-60 numbers
    data = read_yaml(EMULATED.read_text(), str(EMULATED)).data
    assert isinstance(data, dict)
    return copy.deepcopy(data)


LoadText = Callable[[str], Testbed]
Problems = Callable[[str], list[str]]


#: A small valid testbed in YAML; tests append or change lines of it.
BASE = """\
name: t
lab: {kind: emulated}
server:
  name: srv
  hostname: testserver
  addresses: {cluster: 10.42.0.250}
  tftp_root: /pxe/boot
  root: /pxe/root
networks:
  cluster: {subnet: 10.42.0.0/24, interface: br0}
boot:
  x86-bios: {kernel: vmlinuz, initrd: initrd.img}
nodes:
  - name: node02
    mac: 52:54:00:42:00:02
    ip: 10.42.0.2
    profile: x86-bios
    power: {kind: qemu}
"""
