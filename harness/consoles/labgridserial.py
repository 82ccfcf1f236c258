"""Serial consoles through labgrid's :class:`~labgrid.driver.SerialDriver`: a local port
(USB-serial adapter, ``serial``) and a port shared over the network (``rfc2217``, e.g.
ser2net).

labgrid already knows how to open both (pyserial, and pyserial's RFC 2217 client with
labgrid's options); this module gives them the harness's console protocol
(:class:`~harness.consoles.base.Console`).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import socket
from typing import Any

from pexpect import TIMEOUT

from harness import clock
from harness.consoles.base import Console, ConsoleClosed

_names = itertools.count(1)


def _driver(target_name: str, resource: Any, timeout: float) -> tuple[Any, Any]:
    """A labgrid target holding ``resource(target)`` and a SerialDriver bound to it."""
    from labgrid import Target
    from labgrid.driver import SerialDriver

    target = Target(f"{target_name}-{next(_names)}")
    resource(target)
    driver = SerialDriver(target, name=None, txdelay=0.0, timeout=float(timeout))
    return target, driver


class _LabgridConsole(Console):
    def __init__(self, node: str, *args: Any, **kwargs: Any) -> None:
        super().__init__(node, *args, **kwargs)
        self._target: Any = None
        self._driver: Any = None

    def _resource(self, target: Any) -> Any:
        raise NotImplementedError

    def _open(self, deadline: clock.Deadline) -> None:
        import serial

        self._target, self._driver = _driver(self.node, self._resource, deadline.remaining())
        try:
            self._target.activate(self._driver)
        except (serial.SerialException, OSError) as exc:
            self._target = self._driver = None
            raise self.fail(_why(exc)) from None

    def _read(self, timeout: float) -> bytes:
        import serial

        try:
            data: bytes = self._driver.read(size=1, timeout=timeout, max_size=65536)
        except TIMEOUT:
            if not self._driver.serial.is_open:
                raise ConsoleClosed from None
            return b""
        except (serial.SerialException, OSError) as exc:
            raise ConsoleClosed(str(exc)) from None
        return data

    def _write(self, data: bytes) -> None:
        self._driver.write(data)

    def _close(self) -> None:
        if self._target is not None:
            with contextlib.suppress(Exception):
                self._target.deactivate(self._driver)
        self._target = self._driver = None


def _why(exc: BaseException) -> str:
    """pyserial repeats 'Could not open ...' twice; keep the reason, plainly."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    reason = text.rsplit(": ", 1)[-1]
    if "Errno 111" in text or "Connection refused" in text:
        return "connection refused"
    if "does not seem to support RFC2217" in text:
        return "no RFC 2217 negotiation in time (is this a telnet(rfc2217) port of ser2net?)"
    if "timed out" in text.lower():
        return "timed out connecting"
    if "Errno 2" in text or "No such file" in text:
        return "no such device"
    if "Errno 13" in text:
        return "permission denied (add the user to group dialout)"
    return reason


class SerialConsole(_LabgridConsole):
    """A local serial port: ``/dev/ttyUSB0`` at ``baudrate``."""

    backend = "serial"

    def __init__(self, node: str, port: str, baudrate: int = 115200, **kwargs: Any) -> None:
        super().__init__(node, **kwargs)
        self.port = port
        self.baudrate = baudrate

    @property
    def where(self) -> str:
        return f"{socket.gethostname()}:{self.port}"

    def _resource(self, target: Any) -> Any:
        from labgrid.resource import RawSerialPort

        return RawSerialPort(target, name=None, port=self.port, speed=self.baudrate)

    def _open(self, deadline: clock.Deadline) -> None:
        if not os.path.exists(self.port):
            raise self.fail("no such device (is the adapter plugged in?)")
        super()._open(deadline)


class Rfc2217Console(_LabgridConsole):
    """A serial port served over the network with RFC 2217 (ser2net, a terminal server)."""

    backend = "rfc2217"

    def __init__(
        self, node: str, host: str, port: int, baudrate: int = 115200, **kwargs: Any
    ) -> None:
        super().__init__(node, **kwargs)
        self.host = host
        self.port = port
        self.baudrate = baudrate

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"

    def _resource(self, target: Any) -> Any:
        from labgrid.resource import NetworkSerialPort

        return NetworkSerialPort(
            target,
            name=None,
            host=self.host,
            port=self.port,
            speed=self.baudrate,
            protocol="rfc2217",
        )
