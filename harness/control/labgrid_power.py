"""Power through labgrid's own drivers: network PDUs and smart sockets (``pdu``:
labgrid's ``NetworkPowerDriver`` and its models), USB hub ports (``uhubctl``:
``USBPowerDriver``) and shell commands (``command``: ``ExternalPowerDriver``, with the
status command the harness registers with labgrid, see
:mod:`harness.control.labgrid_drivers`).

The harness does not reimplement these switches: :class:`LabgridPower` builds a labgrid
``Target`` in this process from the node's ``power:`` spec, with the resource and
driver a labgrid environment file would name, and calls the driver.  What it adds is
what the harness promises for every backend:

- a deadline on every call (labgrid's HTTP models wait forever on a silent host);
- labgrid's and requests' exceptions turned into one :class:`PowerError` line naming
  the backend, the host and the cause (refused, unreachable, login refused, timeout);
- secrets only from environment variables (``user_env``/``password_env``), put into a
  URL model's address in memory, and masked in every message.
"""

from __future__ import annotations

import os
import pkgutil
import re
import shlex
import subprocess
import threading
from collections.abc import Callable, Mapping
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit, urlunsplit

from harness import clock
from harness.control.power import Emit, PowerError, _ignore
from harness.observe.events import PowerEvent
from harness.testbed.power import CommandPower, PduPower, UhubctlPower

#: Seconds one switch or status read may take, commands and HTTP alike.
DEFAULT_TIMEOUT = 20.0
#: Seconds a labgrid ``cycle`` waits between off and on (its drivers' ``delay``).
CYCLE_DELAY = 2.0

LabgridSpec = PduPower | UhubctlPower | CommandPower
T = TypeVar("T")


def pdu_models() -> list[str]:
    """The ``NetworkPowerDriver`` models of the installed labgrid (``gude``, ``netio``...)."""
    import labgrid.driver.power as models

    return sorted(m.name for m in pkgutil.iter_modules(models.__path__) if not m.ispkg)


def redact(text: str, secrets: tuple[str, ...] = ()) -> str:
    """``text`` without a URL login (``//user:pw@`` becomes ``//***@``) and without any
    of ``secrets``."""
    text = re.sub(r"(//)[^/@\s]+@", r"\1***@", text)
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def shown_host(host: str) -> str:
    """A PDU address as messages show it: a URL model's ``scheme://host:port``, no login,
    no path template."""
    if "://" not in host:
        return host
    parts = urlsplit(host)
    netloc = parts.netloc.rpartition("@")[2]
    return f"{parts.scheme}://{netloc}"


def shell_command(command: str, timeout: float) -> str:
    """A testbed shell command as labgrid's ExternalPowerDriver runs it: labgrid splits
    its string with ``shlex`` and runs it without a shell, so the command is wrapped in
    ``sh -c`` (pipes, ``$VARIABLES``) and bounded by coreutils' ``timeout``."""
    return shlex.join(["timeout", "-k", "2", f"{timeout:g}", "sh", "-c", command])


def _with_deadline(
    fn: Callable[[], T], seconds: float
) -> tuple[bool, T | None, BaseException | None]:
    """Run ``fn`` in a daemon thread: (finished, result, exception).  A call that does
    not finish is left behind (labgrid has no way to abort one)."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["result"] = fn()
        except BaseException as exc:  # handed to the caller
            box["error"] = exc

    thread = threading.Thread(target=run, name="labgrid-power", daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        return False, None, None
    return True, box.get("result"), box.get("error")


class LabgridPower:
    """A node's power through a labgrid driver built from its ``power:`` spec; the
    harness's power protocol (on, off, cycle, get), every switch a ``PowerEvent``."""

    def __init__(
        self,
        node: str,
        spec: LabgridSpec,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        environ: Mapping[str, str] | None = None,
        emit: Emit = _ignore,
    ) -> None:
        self.node = node
        self.spec = spec
        self.backend = spec.kind
        self.timeout = timeout
        self.environ = os.environ if environ is None else environ
        self.emit = emit
        self._secrets: tuple[str, ...] = ()
        self._driver: Any = None
        self.where = self._where()

    # --- what the messages name -----------------------------------------------------------

    def _where(self) -> str:
        spec = self.spec
        if isinstance(spec, PduPower):
            return f"pdu {spec.model} {shown_host(spec.host)} outlet {spec.index}"
        if isinstance(spec, UhubctlPower):
            return f"uhubctl hub {spec.hub} port {spec.port}"
        return f"command power of {self.node}"

    def _fail(self, action: str, cause: str) -> PowerError:
        return PowerError(redact(f"{self.where}: {action} failed: {cause}", self._secrets))

    # --- the labgrid target ---------------------------------------------------------------

    def _pdu_host(self, spec: PduPower) -> str:
        if spec.user_env is None and spec.password_env is None:
            return spec.host
        names = [n for n in (spec.user_env, spec.password_env) if n]
        missing = [n for n in names if not self.environ.get(n)]
        if missing:
            raise PowerError(
                f"{self.where}: the variable ${missing[0]} is not set; fix: export "
                f"{missing[0]}=<the PDU's {'user' if missing[0] == spec.user_env else 'password'}>"
            )
        if "://" not in spec.host:
            raise PowerError(
                f"{self.where}: model {spec.model} takes a host name, labgrid gives it no "
                "login; fix: remove user_env/password_env, or use a URL model (rest, "
                "simplerest, shelly_gen1, ...)"
            )
        user = self.environ.get(spec.user_env, "") if spec.user_env else ""
        password = self.environ.get(spec.password_env, "") if spec.password_env else ""
        self._secrets = tuple(s for s in (password, quote(password, safe="")) if s)
        login = quote(user, safe="") + (f":{quote(password, safe='')}" if password else "")
        parts = urlsplit(spec.host)
        netloc = f"{login}@{parts.netloc.rpartition('@')[2]}"
        return urlunsplit(parts._replace(netloc=netloc))

    def _build(self) -> Any:
        """The labgrid target with this node's resource and power driver, not activated."""
        from labgrid import Target

        import harness.control.labgrid_drivers as drivers

        target = Target(f"harness-{self.node}")
        spec = self.spec
        if isinstance(spec, PduPower):
            from labgrid.driver import NetworkPowerDriver
            from labgrid.resource import NetworkPowerPort

            if spec.model not in pdu_models():
                raise PowerError(
                    f"{self.where}: {spec.model!r} is not a labgrid NetworkPowerDriver model; "
                    f"fix: use one of {', '.join(pdu_models())}"
                )
            NetworkPowerPort(
                target, name=None, model=spec.model, host=self._pdu_host(spec), index=spec.index
            )
            driver = NetworkPowerDriver(target, name=None, delay=CYCLE_DELAY)
            driver.backend = _GuardedModel(driver.backend, self)
            return driver
        if isinstance(spec, UhubctlPower):
            from labgrid.driver import USBPowerDriver
            from labgrid.resource import USBPowerPort

            hub = USBPowerPort(
                target, name=None, match=drivers.hub_match(spec.hub), index=spec.port
            )
            hub.timeout = min(hub.timeout, self.timeout / 2)  # how long udev may take to show it
            return USBPowerDriver(target, name=None, delay=CYCLE_DELAY)
        command_driver: Any = drivers.CommandStatusPowerDriver
        return command_driver(
            target,
            name=None,
            cmd_on=shell_command(spec.on, self.timeout),
            cmd_off=shell_command(spec.off, self.timeout),
            cmd_cycle=shell_command(spec.cycle, self.timeout) if spec.cycle else None,
            cmd_status=shell_command(spec.status, self.timeout) if spec.status else None,
            delay=CYCLE_DELAY,
        )

    def driver(self) -> Any:
        """The activated labgrid power driver (built on first use)."""
        if self._driver is None:
            driver = self._build()
            self._call("activate", lambda: driver.target.activate(driver))
            self._driver = driver
        return self._driver

    def close(self) -> None:
        """Deactivate the labgrid target (releases its udev monitor, if any)."""
        if self._driver is not None:
            self._driver.target.deactivate_all_drivers()
            self._driver = None

    # --- calls ----------------------------------------------------------------------------

    def _call(self, action: str, fn: Callable[[], T], seconds: float | None = None) -> T:
        limit = seconds if seconds is not None else self.timeout
        # commands carry their own timeout (coreutils), this is the backstop
        backstop = limit + 5.0 if isinstance(self.spec, CommandPower) else limit
        done, result, error = _with_deadline(fn, backstop)
        if not done:
            raise PowerError(
                redact(
                    f"{self.where}: {action} got no answer within {backstop:g} s "
                    f"({self._silent_hint()})",
                    self._secrets,
                )
            )
        if error is not None:
            if isinstance(error, PowerError):
                raise error
            raise self._fail(action, self.explain(error)) from None
        return result  # type: ignore[return-value]

    def _silent_hint(self) -> str:
        if isinstance(self.spec, PduPower):
            return "the PDU is unreachable, or does not answer, or is too slow"
        if isinstance(self.spec, UhubctlPower):
            return "the hub does not answer"
        return "the command hangs"

    def explain(self, exc: BaseException) -> str:
        """The cause of a labgrid/requests/subprocess failure, in one line."""
        if isinstance(exc, subprocess.CalledProcessError):
            return self._explain_process(exc)
        if isinstance(exc, FileNotFoundError):
            tool = exc.filename or "the tool"
            package = "uhubctl" if "uhubctl" in str(tool) else "coreutils"
            return f"cannot run {tool} (fix: install the Debian package {package})"
        requests_cause = _explain_requests(exc)
        if requests_cause is not None:
            return requests_cause
        name = type(exc).__name__
        if name == "NoResourceFoundError" or "not available" in str(exc):
            if isinstance(self.spec, UhubctlPower):
                return (
                    f"no USB hub {self.spec.hub} on this host (udev has no hub interface "
                    f"{self.spec.hub}:1.0; `uhubctl` lists the hubs and their locations)"
                )
            return f"labgrid resource not available: {_first_line(str(exc))}"
        text = _first_line(str(exc)) or "no message"
        return f"{name}: {text}"

    def _explain_process(self, exc: subprocess.CalledProcessError) -> str:
        output = exc.output.decode(errors="replace") if isinstance(exc.output, bytes) else ""
        lines = [ln.strip() for ln in re.split(r"[\r\n]+", output) if ln.strip()]
        last = lines[-1] if lines else "no output"
        if exc.returncode in (124, 137) and isinstance(self.spec, CommandPower):
            return f"the command did not finish within {self.timeout:g} s (killed)"
        if exc.returncode == 127:
            return f"command not found (exit status 127: {last})"
        if isinstance(self.spec, UhubctlPower) and "No compatible" in output:
            return f"uhubctl finds no switchable hub at {self.spec.hub} ({last})"
        if isinstance(self.spec, UhubctlPower) and "Permission denied" in output:
            return f"uhubctl may not write to the hub ({last}); fix: run as root or a udev rule"
        return f"exit status {exc.returncode}: {last}"

    def _switch(self, action: str) -> None:
        driver = self.driver()
        # labgrid's cycle: off, its delay, on (or the testbed's cycle command)
        seconds = self.timeout * 2 + CYCLE_DELAY if action == "cycle" else None
        self._call(action, getattr(driver, action), seconds)
        self.emit(
            PowerEvent(
                t=clock.now(),
                node=self.node,
                action=action,
                backend=self.backend,
                detail=redact(self.where, self._secrets),
            )
        )

    def on(self) -> None:
        self._switch("on")

    def off(self) -> None:
        self._switch("off")

    def cycle(self) -> None:
        self._switch("cycle")

    def get(self) -> bool:
        driver = self.driver()
        if isinstance(self.spec, CommandPower) and self.spec.status is None:
            raise PowerError(
                f"{self.where}: cannot read the power state: the testbed gives no `status` "
                "command; fix: add status: <a command that exits 0 when the node is on>"
            )
        return bool(self._call("get", driver.get))


class _GuardedModel:
    """A labgrid power model whose failures leave it as the harness's one line.

    labgrid logs a failed step with the exception's text, and ``requests`` puts the URL
    (with a URL model's login) into its exceptions: the model's own exception never gets
    as far as labgrid's step logger, the PowerError (redacted) does."""

    def __init__(self, model: Any, owner: LabgridPower) -> None:
        self._model = model
        self._owner = owner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)

    def _guarded(self, action: str, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except Exception as exc:
            raise self._owner._fail(action, self._owner.explain(exc)) from None

    def power_set(self, host: str, port: int | None, index: Any, value: bool) -> None:
        self._guarded(
            "on" if value else "off", lambda: self._model.power_set(host, port, index, value)
        )

    def power_get(self, host: str, port: int | None, index: Any) -> bool:
        return bool(self._guarded("get", lambda: self._model.power_get(host, port, index)))


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0].strip() if text.strip() else ""


def _explain_requests(exc: BaseException) -> str | None:
    """Causes of the ``requests`` exceptions labgrid's HTTP models raise."""
    try:
        import requests
    except ImportError:  # pragma: no cover - labgrid depends on it
        return None
    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        status = exc.response.status_code
        reason = exc.response.reason or ""
        if status in (401, 403):
            return (
                f"login refused (HTTP {status} {reason}); fix: check the user and password "
                "in the variables user_env/password_env name"
            )
        return f"the PDU answered HTTP {status} {reason}".rstrip()
    if isinstance(exc, requests.ConnectionError):
        text = str(exc)
        if "Connection refused" in text:
            return "connection refused (nothing listens on that address and port)"
        if any(
            words in text
            for words in (
                "Name or service not known",
                "NameResolutionError",
                "Temporary failure in name resolution",
                "No address associated",
            )
        ):
            return "the host name does not resolve"
        if "No route to host" in text or "Network is unreachable" in text:
            return "unreachable (no route to host)"
        if "timed out" in text:
            return "unreachable (connection timed out)"
        if "RemoteDisconnected" in text or "Connection aborted" in text:
            return "the PDU closed the connection without an answer"
        return f"connection failed: {_first_line(text)[:200]}"
    if isinstance(exc, requests.RequestException):
        return f"{type(exc).__name__}: {_first_line(str(exc))[:200]}"
    return None
