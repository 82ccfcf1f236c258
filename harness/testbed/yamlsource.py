"""Reading a testbed's YAML: the data, the line every value is on, and YAML-level mistakes.

PyYAML implements YAML 1.1, whose implicit types bite testbed files: an unquoted
``52:54:00:42:00:02`` is a base-60 *integer*, ``on:``/``off:`` keys are booleans and
``010`` is octal.  The loader here resolves plain scalars the YAML 1.2 way (only
``true``/``false``, decimal/hex integers, floats and ``null`` are not text), so what a
lab engineer writes is what the harness reads.

The document is composed first (keeping every node's mark) and then constructed, so
problems found later can be reported on the line they were written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from harness.testbed.problems import Loc, Place, Problem, loc_path, show


class _Loader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 core-schema implicit types."""


# Start from no implicit types at all, then add the YAML 1.2 ones below.
_Loader.yaml_implicit_resolvers = {}


_RESOLVERS = (
    ("tag:yaml.org,2002:null", r"~|null|Null|NULL|", "~nN"),
    ("tag:yaml.org,2002:bool", r"true|True|TRUE|false|False|FALSE", "tTfF"),
    ("tag:yaml.org,2002:int", r"[-+]?[0-9]+|0x[0-9a-fA-F]+", "-+0123456789"),
    (
        "tag:yaml.org,2002:float",
        r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?|[-+]?\.(inf|Inf|INF)|\.(nan|NaN|NAN)",
        "-+0123456789.",
    ),
    ("tag:yaml.org,2002:merge", r"<<", "<"),
)
for _tag, _pattern, _first in _RESOLVERS:
    # PyYAML matches resolvers with re.match, so anchor both ends ("10.42.0.2" is no int).
    _Loader.add_implicit_resolver(_tag, re.compile(rf"^(?:{_pattern})$"), [*_first])
_Loader.add_implicit_resolver("tag:yaml.org,2002:null", re.compile(r"^$"), [""])


def _construct_int(loader: yaml.SafeLoader, node: yaml.Node) -> int:
    # YAML 1.2: a leading zero is decimal (PyYAML would read "010" as octal 8).
    text = str(loader.construct_scalar(node))  # type: ignore[arg-type]
    return int(text, 16) if text.startswith("0x") else int(text, 10)


_Loader.add_constructor("tag:yaml.org,2002:int", _construct_int)


@dataclass
class YamlDocument:
    """One parsed testbed file."""

    data: Any
    lines: dict[Loc, int] = field(default_factory=dict)  # 1-based line of each key/item
    problems: list[Problem] = field(default_factory=list)


class YamlSyntaxError(Exception):
    """The file is not YAML; ``problem`` says where and why."""

    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        super().__init__(problem.what)


def read_yaml(text: str, file: str) -> YamlDocument:
    """Parse ``text`` (the contents of ``file``); raise :class:`YamlSyntaxError`."""
    try:
        loader = _Loader(text)
    except yaml.reader.ReaderError as error:  # raised while checking the characters
        raise YamlSyntaxError(_character_problem(error, text, file)) from None
    try:
        root = loader.get_single_node()
        data = None if root is None else loader.construct_document(root)
    except yaml.reader.ReaderError as error:
        raise YamlSyntaxError(_character_problem(error, text, file)) from None
    except yaml.MarkedYAMLError as error:
        raise YamlSyntaxError(_syntax_problem(error, file)) from None
    except yaml.YAMLError as error:  # unmarked and rare
        raise YamlSyntaxError(
            Problem((), f"not valid YAML: {error}", _SYNTAX_FIX, place=Place(file, None, ""))
        ) from None
    finally:
        loader.dispose()
    document = YamlDocument(data)
    if root is not None:
        _index(root, (), document, file, set())
    return document


_SYNTAX_FIX = (
    "check the indentation and quoting on and just above this line; quote values "
    "that contain ': ', ' #', or start with '{', '[', '*', '&', '!' or '%'"
)


def _character_problem(error: yaml.reader.ReaderError, text: str, file: str) -> Problem:
    line = text[: error.position].count("\n") + 1
    code = error.character if isinstance(error.character, int) else ord(error.character)
    return Problem(
        (),
        f"character U+{code:04X} is not allowed in YAML",
        'delete it, or write it as an escape in a double-quoted string, like "\\x1f"',
        place=Place(file, line, ""),
    )


def _syntax_problem(error: yaml.MarkedYAMLError, file: str) -> Problem:
    mark = error.problem_mark or error.context_mark
    line = None if mark is None else mark.line + 1
    what = " ".join(part for part in (error.context, error.problem) if part)
    return Problem((), f"not valid YAML: {what}", _SYNTAX_FIX, place=Place(file, line, ""))


def _key_of(node: Node) -> str | int | None:
    """The key as the constructed data holds it, for matching pydantic's locations."""
    if not isinstance(node, ScalarNode):
        return None
    if node.tag == "tag:yaml.org,2002:int":
        text = str(node.value)
        return int(text, 16) if text.startswith("0x") else int(text, 10)
    return str(node.value)


def _index(node: Node, loc: Loc, document: YamlDocument, file: str, done: set[int]) -> None:
    """Record each key's and item's line, and keys that appear twice in one mapping.

    A node reached again through an alias is not walked again: its lines are where the
    anchor is, and a recursive or exponential alias must not hang the loader.
    """
    if id(node) in done:
        return
    done.add(id(node))
    if isinstance(node, MappingNode):
        seen: dict[str | int, int] = {}
        for key_node, value_node in node.value:
            key = _key_of(key_node)
            if key is None or key == "<<":
                continue  # complex keys are refused by validation; merges add no lines
            line = key_node.start_mark.line + 1
            if key in seen:
                document.problems.append(
                    Problem(
                        (*loc, key),
                        f"key {show(key)} is given twice in this mapping (first on line "
                        f"{seen[key]}), and only the last one would count",
                        "keep one of them",
                        place=Place(file, line, loc_path((*loc, key))),
                    )
                )
            seen.setdefault(key, line)
            document.lines[(*loc, key)] = line
            _index(value_node, (*loc, key), document, file, done)
    elif isinstance(node, SequenceNode):
        for index, item in enumerate(node.value):
            document.lines[(*loc, index)] = item.start_mark.line + 1
            _index(item, (*loc, index), document, file, done)
