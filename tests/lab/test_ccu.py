"""The emulated CCU as a lab daemon: what it serves, where it may listen, what it feeds."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from harness.errors import LabError
from harness.lab.ccu import ccu_daemons
from harness.lab.layout import LabLayout
from harness.testbed import Testbed, load_testbed

REPO = Path(__file__).resolve().parents[2]
SSH = "  ssh:\n    user: root\n    port: 22\n"


def make_testbed(tmp_path: Path, server_power: str = "", node_power: str = "") -> Testbed:
    text = (REPO / "devices" / "emulated.yaml").read_text()
    if server_power:
        text = text.replace(SSH, SSH + f"  power: {server_power}\n")
    if node_power:
        text = text.replace("power: {kind: powerall}", f"power: {node_power}", 1)
    path = tmp_path / "tb.yaml"
    path.write_text(text)
    return load_testbed(path)


@pytest.fixture
def layout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> LabLayout:
    monkeypatch.setenv("NBH_LAB_DIR", str(tmp_path / "labs"))
    monkeypatch.setenv("NBH_RUN_DIR", str(tmp_path / "run"))
    return LabLayout("pwrccu")


def test_the_servers_socket_feeds_the_relay_board(
    tmp_path: Path, layout: LabLayout, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NBH_T_CCU", "lab-only")
    tb = make_testbed(
        tmp_path,
        '{kind: homematic, url: "http://127.0.0.1:2001", address: "OEQ0000042:1", '
        "password_env: NBH_T_CCU, whole_cluster: true}",
    )
    (ccu,) = ccu_daemons(layout, tb)
    argv = ccu.argv()
    assert ccu.name == "ccu-2001" and (ccu.host, ccu.port) == ("127.0.0.1", 2001)
    assert argv[argv.index("--device") + 1] == "OEQ0000042:1"
    assert argv[argv.index("--mains") + 1] == f"OEQ0000042:1={layout.dir / 'relays' / 'mains'}"
    assert argv[argv.index("--password-env") + 1] == "NBH_T_CCU"
    assert "lab-only" not in " ".join(argv)  # the password goes by environment, never argv


def test_no_ccu_without_a_homematic_socket(tmp_path: Path, layout: LabLayout) -> None:
    assert ccu_daemons(layout, make_testbed(tmp_path)) == []


def test_the_ccu_listens_only_inside_the_lab(tmp_path: Path, layout: LabLayout) -> None:
    tb = make_testbed(
        tmp_path, '{kind: homematic, url: "http://141.51.123.42:2001", address: "OEQ0000042:1"}'
    )
    with pytest.raises(LabError, match=re.escape("on 127.0.0.1 or a server address, not '141.51.123.42'")):
        ccu_daemons(layout, tb)


def test_a_missing_password_stops_the_lab_with_its_name(
    tmp_path: Path, layout: LabLayout, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NBH_T_CCU", raising=False)
    tb = make_testbed(
        tmp_path,
        '{kind: homematic, url: "http://127.0.0.1:2001", address: "OEQ0000042:1", '
        "password_env: NBH_T_CCU}",
    )
    (ccu,) = ccu_daemons(layout, tb)
    with pytest.raises(LabError, match=r"\$NBH_T_CCU"):
        ccu.argv()


def test_a_nodes_own_socket_is_not_emulated(tmp_path: Path, layout: LabLayout) -> None:
    tb = make_testbed(
        tmp_path,
        node_power='{kind: homematic, url: "http://127.0.0.1:2001", address: "OEQ0000043:1"}',
    )
    with pytest.raises(LabError, match="node02 is powered by a Homematic socket of its own"):
        ccu_daemons(layout, tb)
