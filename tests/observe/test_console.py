"""ConsoleReader over a socketpair (as QEMU's serial socket), and the line splitter."""

from __future__ import annotations

import queue
import re
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness import clock
from harness.observe.console import ConsoleReader, LineSplitter, clean
from harness.observe.events import ConsoleLine


@pytest.mark.parametrize(
    ("chunks", "lines"),
    [
        ([b"a\r\nb\r\n"], [b"a", b"b"]),
        ([b"a\nb\n"], [b"a", b"b"]),
        ([b"a\n\rb\n\r"], [b"a", b"b"]),  # LF CR, as some ROMs and SOL send
        ([b"10%\r20%\r30%\n"], [b"10%", b"20%", b"30%"]),  # a redrawn progress line
        ([b"a\r", b"\nb\r", b"\n"], [b"a", b"b"]),  # CR LF split across reads
        ([b"a\r\n\r\nb\n"], [b"a", b"", b"b"]),  # a blank line stays
        ([b"a\n\nb\n"], [b"a", b"", b"b"]),
        ([b"a\r\r\nb\n"], [b"a", b"b"]),
        ([b"par", b"tial", b" line\n"], [b"partial line"]),
        ([b"no end"], []),
    ],
)
def test_line_splitter(chunks: list[bytes], lines: list[bytes]) -> None:
    splitter = LineSplitter()
    assert [line for chunk in chunks for line in splitter.feed(chunk)] == lines


def test_soft_flush_then_line_end_ends_nothing_more() -> None:
    splitter = LineSplitter()
    assert splitter.feed(b"login: ") == []
    assert splitter.flush(soft=True) == b"login: "
    assert splitter.feed(b"\r\nnext\r\n") == [b"next"]


def test_clean_strips_escape_sequences_and_controls() -> None:
    raw = b"\x1b[0;32m  OK  \x1b[0m] Started \x1b]0;title\x07ssh\x1b(B.\x08\tdone\xff"
    assert clean(raw) == "  OK  ] Started ssh.\tdone\ufffd"


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    node_side, harness_side = socket.socketpair()
    yield node_side, harness_side
    node_side.close()
    harness_side.close()


def test_reader_lines_timestamps_log_and_eof(
    pair: tuple[socket.socket, socket.socket], tmp_path: Path
) -> None:
    node, ours = pair
    lines: queue.Queue[ConsoleLine] = queue.Queue()
    log, raw = tmp_path / "node02.console.log", tmp_path / "node02.console.raw"
    reader = ConsoleReader("node02", ours, lines.put, log_path=log, raw_path=raw, poll=0.05)
    reader.start()
    sent = [
        b"\x1b[2J\x1b[HSeaBIOS (version 1.16.2)\r\n",
        b"iPXE initialising devices...",
        b"ok\r\n\r\n[    0.000000] Linux version 6.1.0\r",
        b"\n",
    ]
    for chunk in sent:
        node.sendall(chunk)
    node.sendall(b"Power down.")  # no line end: the last words of a node
    node.shutdown(socket.SHUT_WR)
    assert reader.wait_closed(5)
    reader.stop()
    got: list[ConsoleLine] = []
    while not lines.empty():
        got.append(lines.get_nowait())
    assert [line.text for line in got] == [
        "SeaBIOS (version 1.16.2)",
        "iPXE initialising devices...ok",
        "",
        "[    0.000000] Linux version 6.1.0",
        "Power down.",
    ]
    assert all(line.node == "node02" for line in got)
    times = [line.t for line in got]
    assert times == sorted(times)
    assert reader.tail(2) == ["[    0.000000] Linux version 6.1.0", "Power down."]
    assert reader.lines == 5 and reader.error is None

    header, *body = log.read_text().splitlines()
    assert re.fullmatch(r"# console node02 started \d{4}-\d\d-\d\dT\S+ \(harness t=.*", header)
    offsets = [float(line.split(" ", 1)[0]) for line in body]
    assert offsets == sorted(offsets) and all(re.match(r"\d+\.\d{3} ", b) for b in body)
    assert [line.split(" ", 1)[1] if " " in line else "" for line in body][1] == (
        "iPXE initialising devices...ok"
    )
    assert raw.read_bytes() == b"".join(sent) + b"Power down."


def test_quiet_prompt_is_emitted_without_line_end(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    node, ours = pair
    lines: queue.Queue[ConsoleLine] = queue.Queue()
    with ConsoleReader("node02", ours.fileno(), lines.put, poll=0.05, partial_after=0.2):
        node.sendall(b"Debian GNU/Linux 12 node02 ttyS0\r\n\r\nnode02 login: ")
        assert lines.get(timeout=5).text == "Debian GNU/Linux 12 node02 ttyS0"
        assert lines.get(timeout=5).text == ""
        prompt = lines.get(timeout=5)
        assert prompt.text == "node02 login: "
        node.sendall(b"\r\n")  # ends the prompt line that was already reported
        node.sendall(b"Last login\r\n")
        assert lines.get(timeout=5).text == "Last login"
    assert lines.empty()


def test_line_is_stamped_when_its_end_arrives(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    node, ours = pair
    lines: queue.Queue[ConsoleLine] = queue.Queue()
    with ConsoleReader("node02", ours, lines.put, poll=0.05, partial_after=None) as reader:
        node.sendall(b"Loading vmlinuz-cloud...")
        before = clock.now()
        node.sendall(b" ok\n")
        line = lines.get(timeout=5)
        assert line.text == "Loading vmlinuz-cloud... ok"
        assert before <= line.t <= clock.now()
        assert reader.started is not None and reader.started <= before


def test_stop_without_eof_and_callback_errors(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    node, ours = pair
    seen: list[str] = []

    def broken(line: ConsoleLine) -> None:
        seen.append(line.text)
        raise RuntimeError("consumer broke")

    reader = ConsoleReader("node03", ours, broken, poll=0.05, partial_after=None)
    reader.start()
    node.sendall(b"one\ntwo\nthree")
    start = clock.now()
    reader.stop(timeout=2)
    assert clock.now() - start < 2
    assert not reader.closed.is_set()  # the node is still there; we stopped listening
    # What had arrived is read; the partial last line is kept; errors did not stop it.
    assert seen == reader.tail(10) == ["one", "two", "three"]
    assert isinstance(reader.error, RuntimeError)
