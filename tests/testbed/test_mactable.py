"""Reading the cluster's /opt/mac_nodes format."""

from __future__ import annotations

from harness.testbed.mactable import TableEntry, read_mac_table
from harness.testbed.problems import plain_place, render


def test_entries_comments_and_blank_lines() -> None:
    text = (
        "# position  mac\n"
        "2       b8:27:eb:e2:47:cc\n"
        "\n"
        "35\tB8-27-EB-FC-6A-59   # upper case, dashes, a tab and a comment\n"
    )
    entries, problems = read_mac_table(text, "t.mac_nodes")
    assert problems == []
    assert entries == [
        TableEntry(position=2, mac="b8:27:eb:e2:47:cc", line=2),
        TableEntry(position=35, mac="b8:27:eb:fc:6a:59", line=4),
    ]


def lines_for(text: str) -> list[str]:
    _, problems = read_mac_table(text, "t.mac_nodes")
    return [render(problem, plain_place) for problem in problems]


def test_malformed_lines_name_the_file_and_line() -> None:
    assert lines_for("1 b8:27:eb:00:00:01\n2 b8:27:eb:00:00:0g\n") == [
        "t.mac_nodes:2: mac: 'b8:27:eb:00:00:0g' is not a MAC address; "
        "fix: write six hex pairs separated by colons, like b8:27:eb:e2:47:cc"
    ]
    assert lines_for("x b8:27:eb:00:00:01\n0 b8:27:eb:00:00:02\n") == [
        "t.mac_nodes:1: position: 'x' is not a position; "
        "fix: write the node's position in the cluster as a whole number from 1",
        "t.mac_nodes:2: position: '0' is not a position; "
        "fix: write the node's position in the cluster as a whole number from 1",
    ]
    assert lines_for("3\n") == [
        "t.mac_nodes:1: '3' is not a '<position> <mac>' line; "
        "fix: write '<position> <mac>' per line, like '2 b8:27:eb:e2:47:cc'"
    ]
    assert lines_for("b8:27:eb:00:00:04 4\n") == [
        "t.mac_nodes:1: 'b8:27:eb:00:00:04 4' has the MAC first; "
        "fix: write the position first, then the MAC"
    ]
