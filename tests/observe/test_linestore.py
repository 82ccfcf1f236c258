"""Timed log lines: the window excerpt and the bound on what is kept."""

from __future__ import annotations

from pathlib import Path

from harness.observe.linestore import TimedLines


def test_between_takes_the_window_with_both_ends() -> None:
    store = TimedLines(keep=100)
    for i in range(10):
        store.add(float(i), f"line {i}")
    assert store.between(3.0, 5.0) == [(3.0, "line 3"), (4.0, "line 4"), (5.0, "line 5")]
    assert store.between(20.0, 30.0) == []


def test_past_keep_the_oldest_half_goes() -> None:
    store = TimedLines(keep=10)
    for i in range(11):
        store.add(float(i), f"line {i}")
    assert len(store) == 5
    assert store.between(0.0, 100.0)[0] == (6.0, "line 6")


def test_excerpt_is_written_with_its_count(tmp_path: Path) -> None:
    store = TimedLines(keep=100)
    store.add(1.0, "a")
    store.add(2.0, "b")
    out = tmp_path / "sub" / "server.log"
    assert store.write_excerpt(out, 0.0, 1.5) == 1
    assert out.read_text() == "a\n"
