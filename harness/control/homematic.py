"""A Homematic switch actuator through the CCU's XML-RPC interface.

Seed 000: "The cluster is powered by an electrical socket that is controlled by the
debmatic software" - a Homematic CCU; its BidCos-RF interface answers XML-RPC on port
2001: ``setValue("<serial>:<channel>", "STATE", true|false)`` switches the socket,
``getValue(..., "STATE")`` reads it.  The guide warns: "Always make sure the server
module is not running anymore when you power off the socket" - so a socket marked
``whole_cluster`` is not switched off while the server module answers, unless forced.

Credentials (when the CCU has authentication on) are read from the environment
variables the testbed names and sent as HTTP basic authentication; they are never in a
URL (``ServerProxy`` shows its URL in ``repr``), a message, a log or a report.  Every
request is bounded by the spec's ``timeout``; every failure is one
:class:`~harness.control.power.PowerError` line naming the backend, the CCU and the
device.
"""

from __future__ import annotations

import base64
import http.client
import os
import socket
import urllib.parse
import xmlrpc.client
from collections.abc import Callable, Mapping
from typing import Any

from harness import clock
from harness.control.power import Emit, PowerError, _ignore
from harness.observe.events import PowerEvent
from harness.testbed.power import HomematicPower as HomematicSpec

SockFactory = Callable[[], socket.socket]

#: The CCU's XML-RPC fault codes (HM XML-RPC API) the harness explains.
FAULTS = {
    -1: "general error",
    -2: "unknown device or channel",
    -3: "unknown paramset",
    -4: "a device address was expected",
    -5: "unknown parameter or value",
    -6: "the parameter does not support this operation",
    -8: "not enough duty cycle left (the CCU may send again later)",
    -9: "the device is out of radio range",
}


class _Connection(http.client.HTTPConnection):
    """An HTTP connection whose socket comes from ``sock_factory`` (a lab namespace)."""

    def __init__(self, host: str, sock_factory: SockFactory, timeout: float) -> None:
        super().__init__(host, timeout=timeout)
        self._factory = sock_factory

    def connect(self) -> None:
        sock = self._factory()
        sock.settimeout(self.timeout)
        try:
            sock.connect((self.host, self.port))
        except BaseException:
            sock.close()
            raise
        self.sock = sock


class _Transport(xmlrpc.client.Transport):
    """xmlrpc.client's transport with a timeout, basic authentication from a header
    (never from the URL) and an optional socket factory."""

    def __init__(
        self, timeout: float, authorization: str | None, sock_factory: SockFactory | None
    ) -> None:
        super().__init__()
        self.timeout = timeout
        self._authorization = authorization
        self._factory = sock_factory

    def __repr__(self) -> str:
        return "<homematic transport>"

    def make_connection(self, host: Any) -> http.client.HTTPConnection:
        chost, self._extra_headers, _x509 = self.get_host_info(host)
        if self._factory is not None:
            self._connection = (host, _Connection(chost, self._factory, self.timeout))
        else:
            self._connection = (host, http.client.HTTPConnection(chost, timeout=self.timeout))
        return self._connection[1]

    def get_host_info(self, host: Any) -> tuple[str, list[tuple[str, str]], dict[str, str]]:
        chost, headers, x509 = super().get_host_info(host)
        extra = list(headers or [])
        if self._authorization is not None:
            extra.append(("Authorization", self._authorization))
        return chost, extra, x509 or {}


class HomematicPower:
    """A socket (switch actuator channel) of a Homematic CCU; implements the power
    protocol.  ``server_up`` says whether the server module is running (checked before
    switching off a ``whole_cluster`` socket)."""

    backend = "homematic"

    def __init__(
        self,
        name: str,
        url: str,
        address: str,
        *,
        user_env: str | None = None,
        password_env: str | None = None,
        whole_cluster: bool = False,
        timeout: float = 10.0,
        server_up: Callable[[], str | None] | None = None,
        sock_factory: SockFactory | None = None,
        environ: Mapping[str, str] | None = None,
        emit: Emit = _ignore,
    ) -> None:
        self.node = name
        self.url = url
        self.address = address
        self.user_env = user_env
        self.password_env = password_env
        self.whole_cluster = whole_cluster
        self.timeout = timeout
        self.server_up = server_up
        self.sock_factory = sock_factory
        self.environ = os.environ if environ is None else environ
        self.emit = emit
        parsed = urllib.parse.urlsplit(url)
        if parsed.username or parsed.password:
            raise PowerError(
                f"homematic CCU {parsed.hostname}: the URL must not hold credentials; "
                "fix: name their environment variables in user_env and password_env"
            )
        self.ccu = parsed.netloc

    @classmethod
    def of(cls, name: str, spec: HomematicSpec, **options: Any) -> HomematicPower:
        settings: dict[str, Any] = {
            "user_env": spec.user_env,
            "password_env": spec.password_env,
            "whole_cluster": spec.whole_cluster,
            "timeout": spec.timeout,
        }
        return cls(name, spec.url, spec.address, **{**settings, **options})

    @property
    def where(self) -> str:
        return f"homematic CCU {self.ccu}, socket {self.address}"

    def _authorization(self) -> str | None:
        if self.password_env is None:
            return None
        password = self.environ.get(self.password_env, "")
        if not password:
            raise PowerError(
                f"{self.where}: the password variable ${self.password_env} is not set; "
                f"fix: export {self.password_env}=<the CCU password>"
            )
        user = self.environ.get(self.user_env, "") if self.user_env else ""
        if self.user_env and not user:
            raise PowerError(
                f"{self.where}: the user variable ${self.user_env} is not set; "
                f"fix: export {self.user_env}=<the CCU user>"
            )
        token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
        return f"Basic {token}"

    def _call(self, method: str, *args: Any) -> Any:
        proxy = xmlrpc.client.ServerProxy(
            self.url,
            transport=_Transport(self.timeout, self._authorization(), self.sock_factory),
            allow_none=True,
        )
        what = f"{method}({', '.join(repr(a) for a in args)})"
        started = clock.now()
        try:
            return getattr(proxy, method)(*args)
        except xmlrpc.client.Fault as fault:
            meaning = FAULTS.get(fault.faultCode, "fault")
            raise PowerError(
                f"{self.where}: {what} refused: {meaning} (fault {fault.faultCode}: "
                f"{' '.join(str(fault.faultString).split())})"
            ) from None
        except xmlrpc.client.ProtocolError as exc:
            if exc.errcode in (401, 403):
                who = f"the user in ${self.user_env}" if self.user_env else "the harness"
                how = (
                    f"with the password in ${self.password_env}"
                    if self.password_env
                    else "without credentials (set user_env and password_env)"
                )
                raise PowerError(
                    f"{self.where}: login refused (HTTP {exc.errcode}) for {who} {how}"
                ) from None
            raise PowerError(
                f"{self.where}: {what} failed: HTTP {exc.errcode} {exc.errmsg}"
            ) from None
        except TimeoutError:
            raise PowerError(
                f"{self.where}: {what} got no answer within {self.timeout:g} s "
                f"({clock.now() - started:.1f} s; CCU overloaded or hanging)"
            ) from None
        except ConnectionRefusedError:
            raise PowerError(
                f"{self.where}: connection refused (nothing listens on {self.ccu}: CCU down, "
                "wrong port, or XML-RPC closed in the CCU's firewall settings)"
            ) from None
        except socket.gaierror as exc:
            raise PowerError(f"{self.where}: the CCU's name does not resolve ({exc})") from None
        except (OSError, http.client.HTTPException, xmlrpc.client.ResponseError) as exc:
            text = (
                getattr(exc, "strerror", None) or " ".join(str(exc).split()) or type(exc).__name__
            )
            raise PowerError(
                f"{self.where}: {what} failed: unreachable or broken ({text})"
            ) from None

    def _switch(self, on: bool) -> None:
        t = clock.now()
        self._call("setValue", self.address, "STATE", on)
        self.emit(
            PowerEvent(
                t=t,
                node=self.node,
                action="on" if on else "off",
                backend=self.backend,
                detail=f"setValue({self.address!r}, 'STATE', {on}) on {self.ccu}",
            )
        )

    def on(self) -> None:
        self._switch(True)

    def off(self, *, force: bool = False) -> None:
        """Switch the socket off; a ``whole_cluster`` socket only once the server module
        is down (seed 000's warning), unless ``force``."""
        if self.whole_cluster and not force and self.server_up is not None:
            up = self.server_up()
            if up is not None:
                raise PowerError(
                    f"{self.where}: refused to switch off the whole cluster's socket: the "
                    f"server module is still up ({up}); fix: shut it down first "
                    "(seed 000: 'make sure the server module is not running anymore'), "
                    "or force the switch"
                )
        self._switch(False)

    def cycle(self) -> None:
        self.off()
        self.on()

    def get(self) -> bool:
        value = self._call("getValue", self.address, "STATE")
        if not isinstance(value, bool):
            raise PowerError(f"{self.where}: STATE is {value!r}, not a boolean")
        return value


def tcp_answers(
    host: str, port: int, timeout: float = 2.0, sock_factory: SockFactory | None = None
) -> str | None:
    """``"<host>:<port> answers"`` when a TCP connection to it succeeds within
    ``timeout`` (the server module's sshd: it is up), else None."""
    sock = sock_factory() if sock_factory is not None else socket.socket()
    try:
        sock.settimeout(timeout)
        sock.connect((host, port))
    except OSError:
        return None
    finally:
        sock.close()
    return f"{host}:{port} answers"
