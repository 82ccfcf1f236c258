"""Loading a testbed file: read, expand the node table, validate, and report every problem.

The steps, each adding to one list of problems so the lab engineer sees them all at once:

1. parse the YAML, remembering the line of every key and list item;
2. refuse secrets written in clear (and drop them, so they are not also "unknown keys");
3. read ``node_table:`` and its mac_nodes file into ordinary node entries;
4. validate with the models; when only some nodes are invalid, check the rest of the
   testbed without them, so a bad MAC on one node does not hide a duplicate on two others;
5. render each problem as ``file:line: field: what; fix: how``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from harness.errors import TestbedError
from harness.testbed.explain import explain
from harness.testbed.mactable import TableEntry, read_mac_table
from harness.testbed.model import Testbed
from harness.testbed.nodetable import SHARED_FIELDS, TEMPLATE_FIELDS, NodeTable
from harness.testbed.problems import (
    Loc,
    Place,
    Problem,
    TestbedProblems,
    loc_path,
    render_all,
)
from harness.testbed.secretkeys import strip_secrets
from harness.testbed.yamlsource import YamlSyntaxError, read_yaml

#: Top-level keys of a testbed file: the model's fields, less those the loader sets.
FILE_KEYS = (*(name for name in Testbed.model_fields if name != "path"), "node_table")


def load_testbed(path: str | Path) -> Testbed:
    """Read and check the testbed file at ``path``.

    Raises :class:`~harness.errors.TestbedError` listing every problem found, one line
    each, naming the file, line, field and the fix.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TestbedError(
            [f"{path}: testbed file not found; fix: {_where_to_look(path)}"]
        ) from None
    except IsADirectoryError:
        raise TestbedError(
            [f"{path}: is a directory, not a testbed file; fix: {_where_to_look(path)}"]
        ) from None
    except UnicodeDecodeError as error:
        raise TestbedError(
            [f"{path}: not UTF-8 text (byte {error.start}); fix: save the file as UTF-8"]
        ) from None
    except OSError as error:
        raise TestbedError(
            [f"{path}: cannot be read ({error.strerror}); fix: check the file's permissions"]
        ) from None
    return parse_testbed(text, path)


def parse_testbed(text: str, path: str | Path) -> Testbed:
    """Check the testbed in ``text`` as if read from ``path`` (for messages and node tables)."""
    return _Load(Path(path)).run(text)


def _where_to_look(path: Path) -> str:
    folder = path.parent
    if not folder.is_dir():
        return f"check the path: the directory '{folder}' does not exist"
    found = sorted(p.name for p in folder.glob("*.yaml"))
    if not found:
        return f"check the path: '{folder}' holds no .yaml files"
    return f"check the path; testbed files in '{folder}': {', '.join(found)}"


@dataclass
class _Load:
    """The state of loading one file: what was found, and where each node came from."""

    path: Path
    problems: list[Problem] = field(default_factory=list)
    lines: dict[Loc, int] = field(default_factory=dict)
    table: NodeTable | None = None
    table_file: str = ""
    table_entries: list[TableEntry] = field(default_factory=list)

    @property
    def file(self) -> str:
        return str(self.path)

    def run(self, text: str) -> Testbed:
        try:
            document = read_yaml(text, self.file)
        except YamlSyntaxError as error:
            raise TestbedError(render_all([error.problem], self.locate)) from None
        self.lines = document.lines
        self.problems.extend(document.problems)
        data, secrets = strip_secrets(document.data)
        self.problems.extend(secrets)
        testbed = self._validate(data) if self._is_mapping(data) else None
        if self.problems or testbed is None:
            raise TestbedError(self._sorted_lines())
        return testbed

    def _is_mapping(self, data: Any) -> bool:
        if isinstance(data, dict):
            return True
        what = "the file is empty" if data is None else "the file is not a mapping of settings"
        self.problems.append(
            Problem(
                (),
                what,
                "start from devices/emulated.yaml: name:, server:, networks:, nodes:",
                place=Place(self.file, None if data is None else 1, ""),
            )
        )
        return False

    def _validate(self, data: dict[Any, Any]) -> Testbed | None:
        data = dict(data)
        if "path" in data:  # a model field, but set from where the file is, not in it
            del data["path"]
            self.problems.append(
                Problem(("path",), "unknown key 'path'", "remove it; the file's own path is used")
            )
        raw_table = data.pop("node_table", None)
        table_nodes = self._node_table(raw_table)
        nodes = data.get("nodes")
        if nodes is None and raw_table is not None:
            nodes = []  # node_table: alone, or with an empty nodes:
        if isinstance(nodes, list):
            data["nodes"] = [*table_nodes, *nodes]
        else:
            self.table_entries = []  # nodes: is not a list; its own error says so
        data["path"] = self.path
        try:
            return Testbed.model_validate(data)
        except TestbedProblems as error:
            found = error.found
            if raw_table is not None and not table_nodes:
                # the node table's own problem says why there are no nodes
                found = tuple(problem for problem in found if problem.loc != ("nodes",))
            self.problems.extend(found)
        except ValidationError as error:
            self.problems.extend(explain(error.errors(), Testbed, root_keys=FILE_KEYS))
            self._check_valid_nodes(data, error)
        return None

    def _check_valid_nodes(self, data: dict[Any, Any], error: ValidationError) -> None:
        """Run the consistency checks on the nodes that are valid, if only nodes are not."""
        bad: set[int] = set()
        for detail in error.errors():
            loc = detail["loc"]
            if len(loc) < 2 or loc[0] != "nodes" or not isinstance(loc[1], int):
                return  # something outside the nodes is wrong: the checks would mislead
            bad.add(loc[1])
        kept = [i for i in range(len(data["nodes"])) if i not in bad]
        if not kept:
            return
        try:
            Testbed.model_validate({**data, "nodes": [data["nodes"][i] for i in kept]})
        except TestbedProblems as found:
            for problem in found.found:
                self.problems.append(
                    Problem(
                        _renumber(problem.loc, kept),
                        problem.what,
                        problem.fix,
                        None if problem.other is None else _renumber(problem.other, kept),
                        problem.place,
                    )
                )
        except ValidationError:
            pass  # cannot happen: these nodes and the rest validated above

    def _node_table(self, raw: Any) -> list[Any]:
        """The node entries ``node_table:`` stands for (none if it has problems)."""
        if raw is None:
            return []
        try:
            table = NodeTable.model_validate(raw)
        except ValidationError as error:
            self.problems.extend(explain(error.errors(), NodeTable, prefix=("node_table",)))
            return []
        self.table = table
        file = table.file if table.file.is_absolute() else self.path.parent / table.file
        self.table_file = str(file)
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            reason = "not found" if isinstance(error, FileNotFoundError) else "cannot be read"
            self.problems.append(
                Problem(
                    ("node_table", "file"),
                    f"the node table '{file}' {reason}",
                    "give the mac_nodes file's path relative to the testbed file, "
                    f"like {table.file.name or 'cluster60.mac_nodes'} next to {self.path.name}",
                )
            )
            return []
        entries, problems = read_mac_table(text, self.table_file)
        self.problems.extend(problems)
        if not entries and not problems:
            self.problems.append(
                Problem(
                    ("node_table", "file"),
                    f"the node table '{file}' has no nodes",
                    "add one '<position> <mac>' line per node",
                )
            )
        self.table_entries = entries
        return list(table.node_entries(entries))

    def locate(self, loc: Loc) -> Place:
        """Where the value at ``loc`` (in the validated data) was written."""
        if len(loc) >= 2 and loc[0] == "nodes" and isinstance(loc[1], int):
            index, rest = loc[1], loc[2:]
            if index < len(self.table_entries):
                if rest and rest[0] in SHARED_FIELDS:
                    return self._yaml_place(("node_table", *rest))
                entry = self.table_entries[index]
                path = loc_path(rest, start=f"node_table[position {entry.position}]")
                return Place(self.table_file, entry.line, path)
            loc = ("nodes", index - len(self.table_entries), *rest)
        return self._yaml_place(loc)

    def _yaml_place(self, loc: Loc) -> Place:
        for end in range(len(loc), 0, -1):  # a missing key is reported where its parent is
            line = self.lines.get(loc[:end])
            if line is not None:
                return Place(self.file, line, loc_path(loc))
        return Place(self.file, None, loc_path(loc))

    def _sorted_lines(self) -> list[str]:
        """Problems in reading order: the testbed file top to bottom, then the node table."""

        def order(problem: Problem) -> tuple[int, int]:
            place = problem.place or self.locate(problem.loc)
            return (0 if place.file == self.file else 1, place.line or 0)

        problems = [self._with_template(problem) for problem in self.problems]
        return render_all(sorted(problems, key=order), self.locate)

    def _with_template(self, problem: Problem) -> Problem:
        """Say which template made a node-table value: the fix may be there, not in the file."""
        loc = problem.loc
        if (
            self.table is None
            or problem.place is not None
            or len(loc) < 3
            or loc[0] != "nodes"
            or not isinstance(loc[1], int)
            or loc[1] >= len(self.table_entries)
            or loc[2] not in TEMPLATE_FIELDS
        ):
            return problem
        template = getattr(self.table, str(loc[2]))
        line = self.lines.get(("node_table", loc[2]))
        where = "the default" if line is None else f"line {line}"
        written = f"node_table.{loc[2]} {template!r}, {where}"
        return replace(problem, what=f"{problem.what} (made by {written})")


def _renumber(loc: Loc, kept: list[int]) -> Loc:
    """A location among the kept nodes -> the same node's location among all nodes."""
    if len(loc) >= 2 and loc[0] == "nodes" and isinstance(loc[1], int):
        return ("nodes", kept[loc[1]], *loc[2:])
    return loc
