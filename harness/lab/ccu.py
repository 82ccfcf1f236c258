"""A stand-in for the Homematic CCU's BidCos-RF XML-RPC interface (port 2001).

No real CCU can run here, so this one speaks its protocol: XML-RPC over HTTP with
``setValue(address, value_key, value)``, ``getValue(address, value_key)``,
``listDevices()`` and ``ping(caller)`` on switch actuator channels addressed
``"<serial>:<channel>"`` with the ``STATE`` datapoint; unknown devices and datapoints get
the CCU's XML-RPC faults (-2 ``Unknown instance``, -5 ``Unknown Parameter value for value
key``); with a password set it demands HTTP basic authentication, as a CCU with
authentication on does (401 otherwise).

In the emulated lab it runs as a daemon inside the lab's namespace
(``python -m harness.lab.ccu``, :class:`EmulatedCcu`), on the address and port of the
testbed's ``homematic`` URL.  A socket that powers the whole cluster feeds the lab's relay
board: switching it off cuts the board's mains (:mod:`harness.lab.relays`).  Every switch
is logged (never a credential).
"""

from __future__ import annotations

import argparse
import base64
import hmac
import ipaddress
import os
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable, Sequence
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any
from xmlrpc.client import Fault
from xmlrpc.server import SimpleXMLRPCRequestHandler, SimpleXMLRPCServer

from harness.errors import LabError
from harness.lab.layout import LabLayout
from harness.lab.services import Daemon
from harness.testbed import Testbed
from harness.testbed.power import HomematicPower as HomematicSpec

READY = "CCU XML-RPC listening on"


class Ccu:
    """The CCU's state: switch channels by address, and what a switch does."""

    def __init__(
        self,
        states: dict[str, bool],
        *,
        on_change: Callable[[str, bool], None] | None = None,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.states = dict(states)
        self.on_change = on_change
        self.log = log or (lambda _: None)
        self._lock = threading.Lock()

    def _channel(self, address: Any) -> str:
        if not isinstance(address, str) or ":" not in address:
            raise Fault(-4, f"Expected device address, got {address!r}")
        if address not in self.states:
            raise Fault(-2, "Unknown instance")
        return address

    @staticmethod
    def _key(value_key: Any) -> None:
        if value_key != "STATE":
            raise Fault(-5, f"Unknown Parameter value for value key: {value_key}")

    def setValue(self, address: Any, value_key: Any, value: Any) -> str:
        channel = self._channel(address)
        self._key(value_key)
        if not isinstance(value, bool):
            raise Fault(-5, f"Unknown Parameter value for value key: {value_key} = {value!r}")
        with self._lock:
            self.states[channel] = value
            self.log(f"setValue {channel} STATE {str(value).lower()}")
            if self.on_change is not None:
                self.on_change(channel, value)
        return ""

    def getValue(self, address: Any, value_key: Any) -> bool:
        channel = self._channel(address)
        self._key(value_key)
        return self.states[channel]

    def listDevices(self) -> list[dict[str, Any]]:
        devices: list[dict[str, Any]] = []
        for address in sorted({a.split(":")[0] for a in self.states}):
            devices.append({"ADDRESS": address, "TYPE": "HM-ES-PMSw1-Pl", "PARENT": ""})
        for address in sorted(self.states):
            devices.append({"ADDRESS": address, "TYPE": "SWITCH", "PARENT": address.split(":")[0]})
        return devices

    def ping(self, caller_id: Any = "") -> bool:
        return True


class _Handler(SimpleXMLRPCRequestHandler):
    rpc_paths = ("/", "/RPC2")

    def parse_request(self) -> bool:
        if not super().parse_request():
            return False
        expected: str | None = getattr(self.server, "authorization", None)
        if expected is None:
            return True
        given = self.headers.get("Authorization", "")
        if hmac.compare_digest(given.encode(), expected.encode()):
            return True
        server: CcuServer = self.server  # type: ignore[assignment]
        server.ccu.log("login refused (wrong or missing credentials)")
        self.send_response(401)
        self.send_header("WWW-Authenticate", 'Basic realm="CCU"')
        self.send_header("Content-Length", "0")
        self.end_headers()
        return False

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the CCU logs switches itself; request lines say nothing more


class CcuServer(ThreadingMixIn, SimpleXMLRPCServer):
    """The XML-RPC endpoint of a :class:`Ccu`."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self,
        address: tuple[str, int],
        ccu: Ccu,
        *,
        user: str = "",
        password: str | None = None,
    ) -> None:
        super().__init__(address, requestHandler=_Handler, logRequests=False, allow_none=True)
        self.ccu = ccu
        self.authorization = None
        if password is not None:
            token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
            self.authorization = f"Basic {token}"
        self.register_instance(ccu)
        self.register_introspection_functions()

    @property
    def port(self) -> int:
        return int(self.server_address[1])


# --- the lab daemon ------------------------------------------------------------------


def _listen_address(url: str, testbed: Testbed, what: str) -> tuple[str, int]:
    parsed = urllib.parse.urlsplit(url)
    host, port = parsed.hostname or "", parsed.port or 2001
    usable = {str(a) for a in testbed.server.addresses.values()}
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not (loopback or host in usable):
        raise LabError(
            f"{what}: the emulated CCU listens inside the lab namespace, on 127.0.0.1 or a "
            f"server address, not {host!r}; fix: url: http://127.0.0.1:2001"
        )
    return host, port


class EmulatedCcu(Daemon):
    """The fake CCU of an emulated testbed: every ``homematic`` socket of the server
    and the nodes that share one URL, on that URL's address and port."""

    ready = READY

    def __init__(
        self,
        layout: LabLayout,
        testbed: Testbed,
        url: str,
        sockets: list[tuple[str, HomematicSpec]],
    ) -> None:
        self.url = url
        self.sockets = sockets
        self.host, self.port = _listen_address(url, testbed, sockets[0][0])
        self.name = f"ccu-{self.port}"
        self.conf_name = f"{self.name}.unused"
        super().__init__(layout, testbed)
        self.output = layout.log / f"{self.name}.out"
        specs = [spec for _, spec in sockets]
        envs = {(s.user_env, s.password_env) for s in specs}
        if len(envs) > 1:
            raise LabError(f"the sockets of CCU {url} name different credential variables")
        self.user_env, self.password_env = envs.pop()

    def argv(self) -> list[str]:
        from harness.lab.relays import RelayBoard

        argv = [
            sys.executable, "-m", "harness.lab.ccu",
            "--listen", self.host, "--port", str(self.port), "--log", str(self.log),
        ]  # fmt: skip
        for owner, spec in self.sockets:
            argv += ["--device", spec.address]
            if owner == "server" and spec.whole_cluster:
                argv += ["--mains", f"{spec.address}={RelayBoard.of(self.layout).dir / 'mains'}"]
        if self.password_env:
            if not os.environ.get(self.password_env):
                raise LabError(
                    f"the emulated CCU needs its password in ${self.password_env} (the "
                    f"testbed's password_env); fix: export {self.password_env}=<a lab-only "
                    "password>"
                )
            argv += ["--password-env", self.password_env]
            if self.user_env:
                argv += ["--user-env", self.user_env]
        return argv


def ccu_daemons(layout: LabLayout, testbed: Testbed) -> list[EmulatedCcu]:
    """The fake CCU of an emulated testbed's ``server.power`` socket."""
    if not testbed.is_emulated:
        return []
    by_url: dict[str, list[tuple[str, HomematicSpec]]] = {}
    if isinstance(testbed.server.power, HomematicSpec):
        by_url.setdefault(testbed.server.power.url, []).append(("server", testbed.server.power))
    for node in testbed.nodes:
        if isinstance(node.power, HomematicSpec):
            raise LabError(
                f"{testbed.path}: {node.name} is powered by a Homematic socket of its own, "
                "which the emulated lab does not emulate (only server.power, the socket of "
                "the whole cluster); fix: power emulated nodes with powerall, qemu or ipmi"
            )
    return [EmulatedCcu(layout, testbed, url, sockets) for url, sockets in by_url.items()]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m harness.lab.ccu", description="the emulated Homematic CCU (XML-RPC)"
    )
    parser.add_argument("--listen", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=2001)
    parser.add_argument("--device", action="append", default=[], help="SERIAL:CHANNEL")
    parser.add_argument("--on", action="append", default=[], help="a device that starts on")
    parser.add_argument(
        "--mains", action="append", default=[], help="DEVICE=FILE: the device feeds FILE"
    )
    parser.add_argument("--log", type=Path)
    parser.add_argument("--user-env")
    parser.add_argument("--password-env")
    args = parser.parse_args(argv)

    def log(text: str) -> None:
        line = f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {text}\n"
        if args.log is None:
            sys.stderr.write(line)
        else:
            with open(args.log, "a", encoding="utf-8") as f:
                f.write(line)

    mains = dict(item.split("=", 1) for item in args.mains)

    def on_change(address: str, on: bool) -> None:
        if address in mains:
            path = Path(mains[address])
            tmp = path.with_name(path.name + f".tmp{os.getpid()}")
            tmp.write_text("on\n" if on else "off\n")
            os.replace(tmp, path)
            log(f"{address} feeds the relay board: mains {'on' if on else 'off'}")

    states = {d: d in args.on or d in mains for d in args.device}
    ccu = Ccu(states, on_change=on_change, log=log)
    password = os.environ.get(args.password_env) if args.password_env else None
    user = os.environ.get(args.user_env, "") if args.user_env else ""
    server = CcuServer((args.listen, args.port), ccu, user=user, password=password)
    for address in mains:
        on_change(address, states[address])
    log(f"{READY} {args.listen}:{server.port}, devices {', '.join(sorted(states))}")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
