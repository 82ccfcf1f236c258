"""A command over SSH that outlives its time limit is killed on the server, and that kill
has a deadline of its own: a server where the kill hangs too is given up on once, with
the reason in the error (a stand-in sshd on 127.0.0.1 whose commands all hang)."""

from __future__ import annotations

import time
from typing import Any

import pytest

import harness.provision.transport as transport
from harness.provision.errors import CommandTimeout
from harness.provision.transport import SshTarget, SshTransport

SECRET = "kill-Secret-2718"
ENV = "NBH_TEST_KILL_PASSWORD"


def test_a_kill_that_hangs_too_is_tried_once_within_its_own_deadline(
    sshd: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV, SECRET)
    monkeypatch.setattr(transport, "_KILL_TIMEOUT", 0.5)
    server = sshd(SECRET, lambda command: None, pid_first=True)
    t = SshTransport(
        SshTarget(
            host="127.0.0.1", port=server.port, password_env=ENV, host_keys="accept-any"
        )
    )
    started = time.monotonic()
    try:
        with pytest.raises(CommandTimeout) as info:
            t.run("sleep 9", timeout=0.5)
    finally:
        t.close()
    took = time.monotonic() - started
    assert took < 0.5 + 0.5 + 2.0, took
    assert str(info.value) == (
        f"`sleep 9` did not finish within 0.5 s on root@127.0.0.1:{server.port}; could not"
        " kill it (pid 4711) on the server: `kill -s KILL -- -4711` did not finish within"
        f" 0.5 s on root@127.0.0.1:{server.port}"
    )
    assert server.commands == ["sleep 9", "kill -s KILL -- -4711"]
