"""The emulated relay board and the server module's powerall.py (no namespace needed:
the script is run directly, as sshd would run it)."""

from __future__ import annotations

import queue
import subprocess
from pathlib import Path

import pytest

from harness.errors import LabError
from harness.lab import relays
from harness.lab.layout import LabLayout
from harness.lab.relays import RelayBoard, RelayPlug, powerall_position
from harness.testbed import Testbed, load_testbed

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def layout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> LabLayout:
    monkeypatch.setenv("NBH_LAB_DIR", str(tmp_path / "labs"))
    monkeypatch.setenv("NBH_RUN_DIR", str(tmp_path / "run"))
    layout = LabLayout("pwrunit")
    layout.create_dirs()
    return layout


@pytest.fixture
def testbed() -> Testbed:
    return load_testbed(REPO / "devices" / "emulated.yaml")


def powerall(layout: LabLayout, *args: str) -> subprocess.CompletedProcess[str]:
    """``python /home/pi/client/powerall.py ...`` as the server module's sshd runs it:
    with the server module's own python first on PATH."""
    script = layout.server_path("/home/pi/client/powerall.py")
    return subprocess.run(
        ["python", str(script), *args],
        env={"PATH": relays.server_path_env(layout)},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_install_puts_powerall_and_python_on_the_server_module(
    layout: LabLayout, testbed: Testbed
) -> None:
    board = relays.install(layout, testbed)
    assert board is not None
    script = layout.server_path("/home/pi/client/powerall.py")
    assert script.stat().st_mode & 0o111
    assert layout.server_path("/usr/local/bin/python").resolve().name.startswith("python3")
    # every node's relay starts open: node02 and node17 by position, the Zero on 18
    assert [powerall_position(n) for n in testbed.nodes] == [2, 17, 18]
    assert not any(board.closed(p) for p in (2, 17, 18))


def test_powerall_switches_relays_by_position_range(layout: LabLayout, testbed: Testbed) -> None:
    board = relays.install(layout, testbed)
    assert board is not None
    done = powerall(layout, "on", "2", "3")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:2] == ["2 on", "3 on"]
    assert board.closed(2) and board.closed(3) and not board.closed(17)
    assert powerall(layout, "off", "1", "60").returncode == 0
    assert not any(board.closed(p) for p in range(1, 61))
    status = powerall(layout, "status", "2", "2")
    assert status.stdout == "2 off\n"
    log = (layout.log / "relays.log").read_text().splitlines()
    assert [line.split(" ", 1)[1] for line in log] == [
        "powerall.py on 2 3",
        "powerall.py off 1 60",
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("on", "2"), "usage: powerall.py on|off|status A B"),
        (("blink", "2", "2"), "usage"),
        (("on", "x", "2"), "positions must be numbers"),
        (("on", "3", "2"), "positions must be 1 <= A <= B <= 60"),
        (("on", "1", "61"), "positions must be 1 <= A <= B <= 60"),
    ],
)
def test_bad_arguments_change_nothing(
    layout: LabLayout, testbed: Testbed, args: tuple[str, ...], message: str
) -> None:
    board = relays.install(layout, testbed)
    assert board is not None
    done = powerall(layout, *args)
    assert done.returncode == 2 and message in done.stderr
    assert not any(board.closed(p) for p in range(1, 61))


def test_a_plugged_node_hears_its_relay_and_the_mains(layout: LabLayout, testbed: Testbed) -> None:
    board = relays.install(layout, testbed)
    assert board is not None
    heard: queue.Queue[bool] = queue.Queue()
    plug = RelayPlug(board, 2, heard.put)
    try:
        powerall(layout, "on", "17", "17")  # someone else's relay
        powerall(layout, "on", "2", "2")
        assert heard.get(timeout=10) is True
        board.set_mains(False)  # the socket feeding the board goes off
        assert heard.get(timeout=10) is False
        board.set_mains(True)
        assert heard.get(timeout=10) is True
        powerall(layout, "off", "1", "60")
        assert heard.get(timeout=10) is False
        assert heard.empty()  # relay 17 never reached this node
    finally:
        plug.stop()


def test_a_position_beyond_the_board_is_refused(layout: LabLayout, testbed: Testbed) -> None:
    node = testbed.nodes[0].model_copy(update={"position": 61})
    with pytest.raises(LabError, match="beyond the relay board's 60"):
        powerall_position(node)


def test_no_board_without_powerall_nodes(layout: LabLayout) -> None:
    testbed = load_testbed(REPO / "devices" / "emulated-x86.yaml")
    assert relays.install(layout, testbed) is None
    assert not RelayBoard.of(layout).dir.exists()
