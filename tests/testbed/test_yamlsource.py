"""YAML as a lab engineer means it: YAML 1.2 scalars, lines of every value, duplicates."""

from __future__ import annotations

import pytest

from harness.testbed.yamlsource import YamlSyntaxError, read_yaml


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("v: 52:54:00:42:00:02", "52:54:00:42:00:02"),  # YAML 1.1: base-60 integer
        ("v: 10:30", "10:30"),
        ("v: on", "on"),  # YAML 1.1: True
        ("v: no", "no"),
        ("v: 010", 10),  # YAML 1.1: octal 8
        ("v: 0x1f", 31),
        ("v: -3", -3),
        ("v: 1.5", 1.5),
        ("v: true", True),
        ("v: False", False),
        ("v: ~", None),
        ("v:", None),
        ("v: 2024-01-01", "2024-01-01"),  # no timestamps either
        ("v: 10.42.0.2", "10.42.0.2"),
        ("v: '123'", "123"),
    ],
)
def test_plain_scalars_follow_yaml_1_2(text: str, value: object) -> None:
    assert read_yaml(text, "f").data == {"v": value}


def test_on_and_off_keys_stay_keys() -> None:
    assert read_yaml("on: a\noff: b\n", "f").data == {"on": "a", "off": "b"}


def test_lines_of_keys_and_items() -> None:
    doc = read_yaml("a:\n  b: 1\n  c:\n    - x\n    - {d: 2}\n3: z\n", "f")
    assert doc.lines == {
        ("a",): 1,
        ("a", "b"): 2,
        ("a", "c"): 3,
        ("a", "c", 0): 4,
        ("a", "c", 1): 5,
        ("a", "c", 1, "d"): 5,
        (3,): 6,
    }


def test_duplicate_keys_are_problems() -> None:
    doc = read_yaml("a: 1\nb: 2\na: 3\n", "f")
    assert doc.data == {"a": 3, "b": 2}
    assert [(p.place and p.place.line, p.loc) for p in doc.problems] == [(3, ("a",))]


def test_syntax_error_has_the_line() -> None:
    with pytest.raises(YamlSyntaxError) as caught:
        read_yaml("a: 1\nb: [2\nc: 3\n", "f")
    place = caught.value.problem.place
    assert place is not None
    assert place.file == "f"
    assert place.line == 3


def test_recursive_aliases_do_not_hang() -> None:
    doc = read_yaml("a: &x [*x]\nb: *x\n", "f")
    assert doc.data["a"][0] is doc.data["a"]
