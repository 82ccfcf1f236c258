"""The QEMU console with the common protocol, on a socket pair standing for QEMU's."""

from __future__ import annotations

import socket

import pytest

from harness import clock
from harness.consoles.base import ConsoleError
from harness.consoles.qemu import QemuConsole


def test_lines_expect_send_and_eof() -> None:
    qemu, ours = socket.socketpair()
    console = QemuConsole("node02", ours)
    with console:
        before = clock.now()
        qemu.sendall(b"node02 login: ")  # a prompt: no line end, taken after 1 s quiet
        prompt = console.expect(r"login:\s*$", timeout=5)
        assert prompt.t >= before and prompt.text == "node02 login: "
        console.sendline("root")
        assert qemu.recv(100) == b"root\r"
        qemu.sendall(b"# \r\n")
        qemu.close()  # QEMU exited
        with pytest.raises(ConsoleError, match=r"^qemu console of node02 on .*closed before"):
            console.expect("never", timeout=5)
    ours.close()
