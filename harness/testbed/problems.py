"""Problems found in a testbed, and how they are written for a lab engineer.

Every check, whatever finds it (YAML parser, pydantic field validation, the cross-field
checks, the node-table reader), produces a :class:`Problem`: where (a data location),
what is wrong, and the fix.  Only at the very end are locations turned into
``file:line: field.path`` by a locator, so the checks never need to know where a value
was written.  One problem is always one line.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from pydantic_core import PydanticCustomError

from harness.errors import TestbedError

#: A location in the testbed data: keys and list indices from the top, like pydantic's.
Loc = tuple[str | int, ...]

#: Inside :attr:`Problem.what`, replaced by where the other entry of a pair is written
#: (e.g. "nodes[0] (line 17)"), so a duplicate names both places.
OTHER = "{other}"

_PLAIN_KEY = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]*")

#: Longest value quoted back in a message; a whole mapping pasted into one line helps nobody.
_MAX_VALUE_CHARS = 60


@dataclass(frozen=True, slots=True)
class Place:
    """Where a location was written: a file, a line in it (if known), a field path."""

    file: str | None
    line: int | None
    path: str

    def prefix(self) -> str:
        """``file:line: path`` with whatever parts are known."""
        parts: list[str] = []
        if self.file is not None:
            parts.append(self.file if self.line is None else f"{self.file}:{self.line}")
        if self.path:
            parts.append(self.path)
        return ": ".join(parts)

    def reference(self, from_file: str | None) -> str:
        """How another message names this place: the path and where to find it."""
        if self.line is None:
            return self.path
        if self.file == from_file:
            return f"{self.path} (line {self.line})"
        return f"{self.path} ({self.file}:{self.line})"


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a testbed."""

    loc: Loc
    what: str
    fix: str
    other: Loc | None = None  # the first entry of a duplicate pair, rendered into OTHER
    # Set when the problem is not about a value of the data (a YAML syntax error, a line
    # of a node-table file): then this is where it is, and ``loc`` is not looked up.
    place: Place | None = None


#: Turns a data location into the place it was written.
Locator = Callable[[Loc], Place]


def loc_path(loc: Loc, start: str = "") -> str:
    """``('nodes', 1, 'mac')`` -> ``nodes[1].mac``; ``start`` is a path already written."""
    text = start
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif not _PLAIN_KEY.fullmatch(part):
            text += f"[{part!r}]"  # a key with spaces or odd characters, quoted
        else:
            text += f".{part}" if text else part
    return text


def plain_place(loc: Loc) -> Place:
    """The locator for a testbed built in Python: there is no file, only the path."""
    return Place(file=None, line=None, path=loc_path(loc))


def render(problem: Problem, locate: Locator) -> str:
    """The one line a lab engineer reads: ``file:line: field: what; fix: how``."""
    place = problem.place or locate(problem.loc)
    what = problem.what
    if problem.other is not None:
        what = what.replace(OTHER, locate(problem.other).reference(place.file))
    prefix = place.prefix()
    head = f"{prefix}: {what}" if prefix else what
    # A value or key with a newline in it must not break the one-line rule.
    return " ".join(f"{head}; fix: {problem.fix}".split())


def render_all(problems: Iterable[Problem], locate: Locator) -> list[str]:
    """Render, dropping repeats: a node-table template error is the same line for every node."""
    lines: dict[str, None] = {}
    for problem in problems:
        lines.setdefault(render(problem, locate), None)
    return list(lines)


def show(value: object) -> str:
    """A value quoted back to the user, short and on one line."""
    text = repr(value) if isinstance(value, str) else str(value)
    if isinstance(value, dict | list | tuple):
        text = f"a {'mapping' if isinstance(value, dict) else 'list'}"
    text = " ".join(text.split())
    if len(text) > _MAX_VALUE_CHARS:
        text = text[: _MAX_VALUE_CHARS - 3] + "..."
    return text


def one_of(names: Iterable[str]) -> str:
    return ", ".join(sorted(names))


def invalid(what: str, fix: str) -> PydanticCustomError:
    """A field validator's error that already says what is wrong and how to fix it.

    The translation of pydantic errors (:mod:`harness.testbed.explain`) passes these
    through unchanged, so validators write the words the user reads.
    """
    return PydanticCustomError("testbed_value", "{what}; fix: {fix}", {"what": what, "fix": fix})


def lines_of(problems: Sequence[Problem]) -> list[str]:
    """Lines for problems found in a testbed built in Python (no file)."""
    return render_all(problems, plain_place)


class TestbedProblems(TestbedError):
    """Problems found by the checks of a testbed built in Python.

    ``found`` keeps them as :class:`Problem` so the loader can re-render them with the
    file and line each value came from.
    """

    def __init__(self, found: Sequence[Problem]) -> None:
        self.found = tuple(found)
        super().__init__(lines_of(found))
