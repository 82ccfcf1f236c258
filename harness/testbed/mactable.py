"""Reading a node table in the cluster's ``/opt/mac_nodes`` format.

On the cluster each node finds its geographical position (and from it its host name) by
looking its MAC up in ``/opt/mac_nodes``: one ``<position> <mac>`` pair per line, e.g.
``2       b8:27:eb:e2:47:cc``.  A testbed can read its nodes from the same file, so the
harness and the cluster cannot disagree about who is where.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.testbed.problems import Place, Problem, show
from harness.testbed.values import normalise_mac

_FORMAT_FIX = "write '<position> <mac>' per line, like '2       b8:27:eb:e2:47:cc'"


@dataclass(frozen=True, slots=True)
class TableEntry:
    """One node of the table and the line it is on."""

    position: int
    mac: str  # normalised, lower-case colon form
    line: int


def read_mac_table(text: str, file: str) -> tuple[list[TableEntry], list[Problem]]:
    """The entries of a mac_nodes file, and a problem for each line that is not one.

    ``#`` starts a comment (whole line or after the entry); blank lines are skipped.
    Duplicate positions and MACs are not checked here: the testbed checks catch them
    with the same words as for nodes written in YAML.
    """
    entries: list[TableEntry] = []
    problems: list[Problem] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        fields = raw.split("#", 1)[0].split()
        if not fields:
            continue
        problem = _line_problem(fields, raw.strip(), Place(file, number, ""))
        if problem is not None:
            problems.append(problem)
            continue
        mac = normalise_mac(fields[1])
        assert mac is not None  # _line_problem checked it
        entries.append(TableEntry(int(fields[0]), mac, number))
    return entries, problems


def _line_problem(fields: list[str], text: str, place: Place) -> Problem | None:
    def problem(path: str, what: str, fix: str) -> Problem:
        return Problem((), what, fix, place=Place(place.file, place.line, path))

    if len(fields) != 2:
        return problem("", f"{show(text)} is not a '<position> <mac>' line", _FORMAT_FIX)
    position, mac = fields
    if normalise_mac(position) is not None and mac.isdigit():
        return problem(
            "", f"{show(text)} has the MAC first", "write the position first, then the MAC"
        )
    if not position.isdigit() or int(position) < 1:
        return problem(
            "position",
            f"{show(position)} is not a position",
            "write the node's position in the cluster as a whole number from 1",
        )
    if normalise_mac(mac) is None:
        return problem(
            "mac",
            f"{show(mac)} is not a MAC address",
            "write six hex pairs separated by colons, like b8:27:eb:e2:47:cc",
        )
    return None
