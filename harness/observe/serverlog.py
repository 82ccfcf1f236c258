"""The boot server's dnsmasq log: parse its lines, and follow a growing log file.

:func:`parse_line` reads one line in any of the forms the log reaches the harness in:

- syslog / ``/var/log/daemon.log``: ``Sep 15 12:46:34 sevastopol dnsmasq-tftp[603]: ...``
  (also with an ISO timestamp, rsyslog's high-precision format);
- the admin guide's copy with the program between asterisks
  (``testserver *dnsmasq-dhcp*[496]:``), read as if the asterisks were not there;
- dnsmasq's own ``--log-facility=<file>``: no host field,
  ``Nov 21 12:46:15 dnsmasq-dhcp[5909]: ...``; with ``--log-facility=-`` and
  ``--keep-in-foreground`` there is no timestamp at all;
- journald ``short``, ``short-precise``, ``short-iso`` and ``-o json``.

and says what the line means in :class:`ServerLogLine` (``kind`` and the typed fields).
Lines from other programs give ``None``.  :class:`LogFollower` tails a local log file in a
thread, stamps each line with the harness clock when it was read, and keeps every line
(any program: ``rpc.mountd`` next to dnsmasq helps a diagnosis) for the boot's excerpt.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

from harness import clock
from harness.observe.events import ServerLogLine
from harness.observe.filewatch import DirectoryWatch
from harness.observe.linestore import TimedLines
from harness.observe.startstop import StartStop

_MONTHS = {
    name: i
    for i, name in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1
    )
}

_LINE = re.compile(
    r"^(?:(?:"
    r"(?P<mon>[A-Z][a-z]{2}) +(?P<day>\d{1,2}) (?P<hms>\d\d:\d\d:\d\d)(?P<frac>\.\d+)?"
    r"|(?P<iso>\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?)"
    r") +)?"
    r"(?:(?P<host>\S+) +)?"
    # The admin guide's copy has the program between asterisks: read past them.
    r"\*?(?P<program>dnsmasq[\w-]*)\*?(?:\[(?P<pid>\d+)\])?: ?"
    r"(?P<message>.*)$"
)

_DHCP = re.compile(
    r"^(?:(?P<xid>\d+) )?(?P<op>DHCP[A-Z]+|BOOTP|PXE|NOANSWER)\((?P<iface>[^)]*)\) *(?P<rest>.*)$"
)
_DETAIL = re.compile(r"^(?P<xid>\d+) (?P<detail>\S.*)$")
_IPV4 = re.compile(r"^\d{1,3}(?:\.\d{1,3}){3}$")
_HWADDR = re.compile(r"^(?:[0-9a-fA-F]{2}[:-])+[0-9a-fA-F]{2}$|^<null>$")
_HOSTNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.-]*$")
# Words dnsmasq puts after the MAC that are a verdict, not a hostname or boot file.
_DHCP_VERDICTS = frozenset({"ignored", "proxy", "proxy-ignored", "disabled"})

_TFTP: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"^sent (?P<path>.+) to (?P<ip>\S+)$"), "tftp_sent"),
    (re.compile(r"^file (?P<path>.+) not found(?: for (?P<ip>\S+))?$"), "tftp_not_found"),
    (re.compile(r"^(?:failed|timeout) sending (?P<path>.+) to (?P<ip>\S+)$"), "tftp_error"),
    (re.compile(r"^error \d+ .*received from (?P<ip>\S+)$"), "tftp_error"),
    (re.compile(r"^cannot (?:access|read) (?P<path>.+?): .+$"), "tftp_error"),
    (
        re.compile(
            r"^(?:unsupported (?:write )?request|empty filename in request) from (?P<ip>\S+)$"
        ),
        "tftp_error",
    ),
    (re.compile(r"^unable to get free port for TFTP"), "tftp_error"),
    (re.compile(r"^warning: (?:TFTP directory )?(?P<path>\S+) inaccessible$"), "tftp_error"),
    (re.compile(r"^TFTP "), "startup"),
]
_STARTUP = re.compile(
    r"^(?:started, version|compile time options:|exiting on receipt of|DHCP, |DHCPv6, "
    r"IPv6 router advertisement enabled|router advertisement on|TFTP )"
)


def parse_line(
    raw: str, *, t: float | None = None, year: int | None = None
) -> ServerLogLine | None:
    """Parse one dnsmasq log line; ``None`` for other programs' lines and garbage.

    ``t`` is the harness time to stamp the event with (a follower passes the time it read
    the line); when ``None`` the line's own timestamp is converted to the harness clock
    (syslog timestamps have no year: ``year``, else the current one), and a line without
    any timestamp is stamped now.
    """
    raw = raw.rstrip("\r\n")
    if raw.startswith("{"):
        return _parse_json(raw, t)
    match = _LINE.match(raw)
    if match is None:
        return None
    if t is None:
        wall = _wall_time(match, year)
        t = clock.from_wall(wall) if wall is not None else clock.now()
    pid = match["pid"]
    return _event(
        raw, t, match["program"], match["message"], int(pid) if pid else None, match["host"]
    )


def _parse_json(raw: str, t: float | None) -> ServerLogLine | None:
    """journalctl -o json: one JSON object per line."""
    try:
        entry = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(entry, dict):
        return None
    program = _json_text(entry.get("SYSLOG_IDENTIFIER")) or ""
    if not program.startswith("dnsmasq"):
        return None
    message = _json_text(entry.get("MESSAGE"))
    if message is None:
        return None
    if t is None:
        stamp = entry.get("__REALTIME_TIMESTAMP")
        try:
            t = clock.from_wall(int(stamp) / 1e6) if stamp is not None else clock.now()
        except (TypeError, ValueError):
            t = clock.now()
    pid_text = _json_text(entry.get("_PID")) or _json_text(entry.get("SYSLOG_PID"))
    pid = int(pid_text) if pid_text and pid_text.isdigit() else None
    return _event(raw, t, program, message, pid, _json_text(entry.get("_HOSTNAME")))


def _json_text(value: Any) -> str | None:
    # journald exports non-UTF-8 fields as an array of byte values.
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(b, int) for b in value):
        return bytes(b & 0xFF for b in value).decode("utf-8", "replace")
    return None


def _wall_time(match: re.Match[str], year: int | None) -> float | None:
    if match["iso"]:
        try:
            return datetime.fromisoformat(match["iso"].replace(",", ".")).timestamp()
        except ValueError:
            return None
    if not match["mon"]:
        return None
    month = _MONTHS.get(match["mon"])
    if month is None:
        return None
    hour, minute, second = (int(x) for x in match["hms"].split(":"))
    frac = float(match["frac"]) if match["frac"] else 0.0

    def at(y: int) -> float:
        return time.mktime((y, month, int(match["day"]), hour, minute, second, 0, 0, -1)) + frac

    try:
        if year is not None:
            return at(year)
        now = time.time()
        this_year = time.localtime(now).tm_year
        wall = at(this_year)
        # A December line read in January belongs to last year.
        return at(this_year - 1) if wall > now + 86400 else wall
    except (OverflowError, ValueError):
        return None


def _event(
    raw: str, t: float, program: str, message: str, pid: int | None, host: str | None
) -> ServerLogLine:
    fields = _classify(program, message)
    return ServerLogLine(
        t=t, raw=raw, program=program, message=message, pid=pid, host=host, **fields
    )


def _classify(program: str, message: str) -> dict[str, Any]:
    """``kind`` and the typed fields of one message."""
    message = message.rstrip()
    if program == "dnsmasq-dhcp" or _DHCP.match(message):
        return _classify_dhcp(message)
    # Before dnsmasq 2.50 everything was logged as plain "dnsmasq".
    if program in ("dnsmasq-tftp", "dnsmasq"):
        for pattern, kind in _TFTP:
            m = pattern.match(message)
            if m is not None:
                groups = m.groupdict()
                return {"kind": kind, "path": groups.get("path"), "ip": groups.get("ip")}
    if _STARTUP.match(message):
        return {"kind": "startup"}
    return {"kind": "other"}


def _classify_dhcp(message: str) -> dict[str, Any]:
    m = _DHCP.match(message)
    if m is None:
        d = _DETAIL.match(message)
        if d is None:
            return {"kind": "startup" if _STARTUP.match(message) else "other"}
        return _classify_detail(int(d["xid"]), d["detail"])
    fields: dict[str, Any] = {
        "kind": "dhcp",
        "op": m["op"],
        "xid": int(m["xid"]) if m["xid"] else None,
        "interface": m["iface"] or None,
    }
    tokens = m["rest"].split()
    if tokens and _IPV4.match(tokens[0]):
        fields["ip"] = tokens.pop(0)
    if tokens and _HWADDR.match(tokens[0]):
        mac = tokens.pop(0)
        if mac != "<null>":
            fields["mac"] = mac.lower().replace("-", ":")
    tail = " ".join(tokens)
    # After the MAC dnsmasq prints the client's name (DHCPACK), the boot file (PXE),
    # or a verdict such as "no address available", "ignored", "proxy".
    if len(tokens) == 1 and tail not in _DHCP_VERDICTS:
        if m["op"] == "PXE":
            fields["path"] = tail
        elif m["op"] in ("DHCPACK", "DHCPREQUEST", "DHCPOFFER") and _HOSTNAME.match(tail):
            fields["hostname"] = tail
    return fields


def _classify_detail(xid: int, detail: str) -> dict[str, Any]:
    """The ``--log-dhcp`` lines that follow a DHCP message, prefixed with its xid."""
    fields: dict[str, Any] = {"kind": "dhcp_detail", "xid": xid}
    name, _, value = detail.partition(": ")
    value = value.strip()
    if name == "bootfile name":
        fields["path"] = value
    elif name == "next server":
        fields["ip"] = value
    elif name == "client provides name":
        fields["hostname"] = value
    return fields


# --- following a log file -----------------------------------------------------------


class LogFollower(StartStop):
    """Follow a growing local log file from ``offset`` in a thread.

    ``offset=None`` starts at the current end of the file (only new lines); ``0`` reads it
    from the beginning.  A file that does not exist yet is waited for.  Partial lines are
    held until their newline arrives; a truncated file is read again from its start, a
    rotated one (new inode at the path) is finished and then the new file followed.

    dnsmasq lines are passed to ``on_event`` as :class:`ServerLogLine`, stamped with the
    harness time the line was read (the server's own timestamps have one-second
    resolution and the server's clock).  Every line is kept for :meth:`lines_between`.
    """

    def __init__(
        self,
        path: Path,
        on_event: Callable[[ServerLogLine], None] | None = None,
        *,
        offset: int | None = None,
        poll: float = 1.0,
        keep: int = 200_000,
    ) -> None:
        self.path = Path(path)
        self.poll = poll
        self.lines = TimedLines(keep)
        self.error: BaseException | None = None
        self._on_event = on_event
        self._start_offset = offset
        self._file: BinaryIO | None = None
        self._pos = 0
        self._partial = b""
        self._stop = threading.Event()
        self._watch: DirectoryWatch | None = None
        self._thread: threading.Thread | None = None

    @property
    def offset(self) -> int:
        """Bytes of the current file consumed so far (complete lines only)."""
        return self._pos - len(self._partial)

    def start(self) -> None:
        """Open the file (if it exists) at the start offset and begin following it."""
        if self._thread is not None:
            return
        self._stop.clear()
        try:
            self._watch = DirectoryWatch(self.path.parent)
        except OSError:
            self._watch = None  # no directory yet, or no inotify: fall back to the timeout
        # Opened here, not in the thread, so lines written after start() returns are
        # never skipped by an end-of-file offset taken too late.
        self._open(self._start_offset)
        self._thread = threading.Thread(
            target=self._run, name=f"logfollow-{self.path.name}", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Read what is left, then stop the thread (bounded by ``timeout``)."""
        thread = self._thread
        if thread is None:
            return
        self._stop.set()
        if self._watch is not None:
            self._watch.wake()
        thread.join(timeout)
        self._thread = None
        if not thread.is_alive() and self._watch is not None:
            self._watch.close()
            self._watch = None
        if not thread.is_alive() and self._file is not None:
            self._file.close()
            self._file = None

    def lines_between(self, t0: float, t1: float) -> list[tuple[float, str]]:
        """``(t, line)`` for every line (any program) read between ``t0`` and ``t1``."""
        return self.lines.between(t0, t1)

    def write_excerpt(self, path: Path, t0: float, t1: float) -> int:
        """Write the lines read between ``t0`` and ``t1`` to ``path``; returns their count."""
        return self.lines.write_excerpt(path, t0, t1)

    # --- the thread -----------------------------------------------------------------

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                if self._file is None:
                    self._open(0)  # appeared after start(): read it whole
                if self._file is not None:
                    if self._drain():
                        continue  # more may be waiting; read before sleeping
                    self._follow_path()
                # inotify wakes us when the log grows (or stop() does); the timeout is
                # a safety net for filesystems that do not report changes.
                if self._watch is not None:
                    self._watch.wait(self.poll)
                else:
                    self._stop.wait(self.poll)
            if self._file is not None:
                self._drain()  # lines written just before stop()
        except Exception as exc:  # kept for the caller; a follower must not kill the run
            self.error = exc

    def _open(self, offset: int | None) -> None:
        try:
            fh = open(self.path, "rb")  # noqa: SIM115 (kept open while following)
        except FileNotFoundError:
            return
        size = os.fstat(fh.fileno()).st_size
        start = size if offset is None else min(offset, size)
        fh.seek(start)
        self._file = fh
        self._pos = start
        self._partial = b""

    def _drain(self) -> bool:
        """Read all that is available; True if anything was read."""
        assert self._file is not None
        got = False
        while True:
            chunk = self._file.read(65536)
            if not chunk:
                return got
            got = True
            self._pos += len(chunk)
            self._take(clock.now(), chunk)

    def _take(self, t: float, chunk: bytes) -> None:
        data = self._partial + chunk
        *complete, self._partial = data.split(b"\n")
        for raw in complete:
            line = raw.decode("utf-8", "replace").rstrip("\r")
            self.lines.add(t, line)
            if self._on_event is not None:
                event = parse_line(line, t=t)
                if event is not None:
                    self._on_event(event)

    def _follow_path(self) -> None:
        """Notice truncation and rotation of the followed file."""
        assert self._file is not None
        try:
            at_path = os.stat(self.path)
        except FileNotFoundError:
            return  # rotated away, new file not created yet: keep the old one for now
        current = os.fstat(self._file.fileno())
        if (at_path.st_ino, at_path.st_dev) != (current.st_ino, current.st_dev):
            self._drain()  # the last lines written to the old file
            with contextlib.suppress(OSError):
                self._file.close()
            self._file = None
            self._open(0)
        elif current.st_size < self._pos:
            self._file.seek(0)  # truncated in place (copytruncate)
            self._pos = 0
            self._partial = b""
