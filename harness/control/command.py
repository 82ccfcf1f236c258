"""Power through site-specific shell commands run on the harness host.

``power: {kind: command, on: "...", off: "...", status: "..."}``: the commands run with
``/bin/sh -c`` in a process group of their own, each bounded by the spec's ``timeout``
(the whole group is killed when it runs out); ``status`` exiting 0 means on.  A secret a
command needs comes from the environment (``$NBH_...`` in the command, expanded by the
shell), so the command line the harness shows never holds it; output is masked for
every value of the variables the command names before it goes into a message.

A failure is one :class:`~harness.control.power.PowerError` line naming the backend,
the host the command reaches (the first host-like word after ``ssh``/``curl``/..., else
this host) and the command's last line of error output, with a cause for the usual
ones (``Connection refused``, ``Permission denied``, ``timed out``...).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
from collections.abc import Mapping

from harness import clock
from harness.control.power import Emit, PowerError, _ignore
from harness.observe.events import PowerEvent
from harness.testbed.power import CommandPower as CommandSpec

DEFAULT_TIMEOUT = 30.0

_VARIABLE = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)")
_CAUSES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"Permission denied|Authentication failed|401|403", re.I), "login refused"),
    (
        re.compile(r"Connection refused|Failed to connect|couldn't connect", re.I),
        "connection refused (host down, or nothing listens on that port)",
    ),
    (
        re.compile(r"No route to host|Network is unreachable|Host is unreachable", re.I),
        "host unreachable",
    ),
    (
        re.compile(r"Could not resolve|Name or service not known|not known", re.I),
        "the host name does not resolve",
    ),
    (re.compile(r"timed out|timeout", re.I), "timed out"),
)
_IPV4 = re.compile(r"^\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?$")


def command_host(command: str) -> str:
    """The host a command reaches, as told by its words: a URL's host
    (``curl http://pdu:80/...``), a ``user@host`` (``ssh pi@10.42.0.250 ...``), the word
    after ``-H``/``--host``, an IPv4 address; this host's name when none is named."""
    words = command.split()
    for i, word in enumerate(words):
        word = word.strip("'\"")
        if "://" in word:
            host = word.split("://", 1)[1].split("/", 1)[0].rsplit("@", 1)[-1]
            if host:
                return host
        if "@" in word and not word.startswith("-"):
            return word.rsplit("@", 1)[-1].split(":", 1)[0]
        if word in ("-H", "--host") and i + 1 < len(words):
            return words[i + 1]
        if _IPV4.match(word):
            return word
    return f"this host ({socket.gethostname()})"


def explain(output: str) -> str:
    """A cause and the command's last meaningful line of output."""
    lines = [ln.strip() for ln in output.splitlines() if ln.strip()]
    if not lines:
        return "no output"
    for pattern, cause in _CAUSES:
        for line in lines:
            if pattern.search(line):
                return f"{cause} ({line[:160]})"
    return lines[-1][:160]


class CommandPowerBackend:
    """A node switched by shell commands; implements the power protocol."""

    backend = "command"

    def __init__(
        self,
        node: str,
        on: str,
        off: str,
        *,
        cycle: str | None = None,
        status: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        environ: Mapping[str, str] | None = None,
        emit: Emit = _ignore,
    ) -> None:
        self.node = node
        self.commands = {"on": on, "off": off, "cycle": cycle, "status": status}
        self.timeout = timeout
        self.environ = dict(os.environ if environ is None else environ)
        self.emit = emit

    @classmethod
    def of(cls, node: str, spec: CommandSpec, **options: object) -> CommandPowerBackend:
        return cls(
            node,
            spec.on,
            spec.off,
            cycle=spec.cycle,
            status=spec.status,
            timeout=spec.timeout,
            **options,  # type: ignore[arg-type]
        )

    def _mask(self, text: str, command: str) -> str:
        for name in _VARIABLE.findall(command):
            value = self.environ.get(name, "")
            if len(value) >= 3:
                text = text.replace(value, "***")
        return text

    def run(self, action: str) -> int:
        """Run the ``action`` command; its exit status (``status``), else 0 or
        :class:`PowerError`."""
        command = self.commands[action]
        if command is None:
            raise PowerError(f"command power of {self.node}: no `{action}` command in the testbed")
        where = f"command power of {self.node} via {command_host(command)}"
        rc, text = self._execute(command, where)
        # status: 0 is on, any other answer off - but not "could not run" (126, 127)
        # nor ssh's own failure (255)
        failed = rc in (126, 127, 255) if action == "status" else rc != 0
        if failed:
            raise PowerError(f"{where}: `{command}` failed with status {rc}: {explain(text)}")
        return rc

    def _execute(self, command: str, where: str) -> tuple[int, str]:
        """Exit status and output (secrets masked) of ``command``.  The raw output
        never outlives this frame: no traceback of a failure can show it."""
        try:
            proc = subprocess.Popen(
                ["/bin/sh", "-c", command],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                env=self.environ,
                start_new_session=True,
            )
        except OSError as exc:
            raise PowerError(f"{where}: cannot run /bin/sh: {exc.strerror}") from None
        timed_out = False
        try:
            raw = proc.communicate(timeout=self.timeout)[0]
        except subprocess.TimeoutExpired:
            timed_out, raw = True, b""
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.communicate(timeout=5)
        text = self._mask(raw.decode("utf-8", "replace"), command)
        del raw
        if timed_out:
            raise PowerError(
                f"{where}: `{command}` did not finish within {self.timeout:g} s (killed)"
            )
        return proc.returncode, text

    def _switch(self, action: str) -> None:
        t = clock.now()
        self.run(action)
        self.emit(
            PowerEvent(
                t=t, node=self.node, action=action, backend=self.backend,
                detail=f"`{self.commands[action]}`",
            )
        )  # fmt: skip

    def on(self) -> None:
        self._switch("on")

    def off(self) -> None:
        self._switch("off")

    def cycle(self) -> None:
        if self.commands["cycle"] is None:
            self.off()
            self.on()
        else:
            self._switch("cycle")

    def get(self) -> bool:
        return self.run("status") == 0
