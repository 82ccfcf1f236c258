"""parse_line on every dnsmasq line quoted in seed 000, the other log forms, and garbage;
LogFollower on a growing, truncated and rotated file."""

from __future__ import annotations

import json
import os
import queue
import time
from pathlib import Path
from typing import Any

import pytest

from harness import clock
from harness.observe.events import ServerLogLine
from harness.observe.serverlog import LogFollower, parse_line

TYPED = ("op", "xid", "interface", "mac", "ip", "hostname", "path")

# Every dnsmasq line quoted in seed 000 (the cluster admin guide), verbatim.
SEED_000: list[tuple[str, dict[str, Any]]] = [
    ('Sep 15 12:46:34 sevastopol dnsmasq-tftp[603]: file /pxe/boot/bootsig.bin not found',
     {"kind": "tftp_not_found", "path": "/pxe/boot/bootsig.bin"}),
    ('Sep 15 12:46:34 sevastopol dnsmasq-tftp[603]: sent /pxe/boot/bootcode.bin to 10.42.0.2',
     {"kind": "tftp_sent", "path": "/pxe/boot/bootcode.bin", "ip": "10.42.0.2"}),
    ('Sep 15 12:46:34 sevastopol dnsmasq-tftp[603]: file /pxe/boot/27e247cc/start.elf not found',
     {"kind": "tftp_not_found", "path": "/pxe/boot/27e247cc/start.elf"}),
    ('Sep 15 12:46:34 sevastopol dnsmasq-tftp[603]: file /pxe/boot/autoboot.txt not found',
     {"kind": "tftp_not_found", "path": "/pxe/boot/autoboot.txt"}),
    ('Sep 15 12:46:34 sevastopol dnsmasq-tftp[603]: sent /pxe/boot/config.txt to 10.42.0.2',
     {"kind": "tftp_sent", "path": "/pxe/boot/config.txt", "ip": "10.42.0.2"}),
    ('Sep 15 12:46:34 sevastopol dnsmasq-tftp[603]: file /pxe/boot/recovery.elf not found',
     {"kind": "tftp_not_found", "path": "/pxe/boot/recovery.elf"}),
    ('Sep 15 12:46:35 sevastopol dnsmasq-tftp[603]: sent /pxe/boot/start.elf to 10.42.0.2',
     {"kind": "tftp_sent", "path": "/pxe/boot/start.elf", "ip": "10.42.0.2"}),
    ('Sep 15 12:46:35 sevastopol dnsmasq-tftp[603]: sent /pxe/boot/fixup.dat to 10.42.0.2',
     {"kind": "tftp_sent", "path": "/pxe/boot/fixup.dat", "ip": "10.42.0.2"}),
    ('Sep 15 12:46:35 sevastopol dnsmasq-tftp[603]: file /pxe/boot/recovery.elf not found',
     {"kind": "tftp_not_found", "path": "/pxe/boot/recovery.elf"}),
    ('Sep 15 12:46:35 sevastopol dnsmasq-tftp[603]: sent /pxe/boot/config.txt to 10.42.0.2',
     {"kind": "tftp_sent", "path": "/pxe/boot/config.txt", "ip": "10.42.0.2"}),
    ('May  3 10:40:45 testserver *dnsmasq-dhcp*[496]: 653460281 DHCPDISCOVER(eth0) b8:27:eb:76:a6:1a',
     {"kind": "dhcp", "op": "DHCPDISCOVER", "xid": 653460281, "interface": "eth0",
      "mac": "b8:27:eb:76:a6:1a"}),
    ('May  3 10:40:45 testserver *dnsmasq-dhcp*[496]: 653460281 DHCPOFFER(eth0) 10.42.0.17 b8:27:eb:76:a6:1a',
     {"kind": "dhcp", "op": "DHCPOFFER", "xid": 653460281, "interface": "eth0",
      "mac": "b8:27:eb:76:a6:1a", "ip": "10.42.0.17"}),
    ('May  3 10:40:55 testserver dnsmasq-tftp[496]: file /pxe/boot/b876a61a/start.elf not found',
     {"kind": "tftp_not_found", "path": "/pxe/boot/b876a61a/start.elf"}),
    ('May  3 10:40:55 testserver dnsmasq-tftp[496]: file /pxe/boot/autoboot.txt not found',
     {"kind": "tftp_not_found", "path": "/pxe/boot/autoboot.txt"}),
    ('May  3 10:40:55 testserver dnsmasq-tftp[496]: sent /pxe/boot/config.txt to 10.42.0.17',
     {"kind": "tftp_sent", "path": "/pxe/boot/config.txt", "ip": "10.42.0.17"}),
    ('May  3 10:40:55 testserver dnsmasq-tftp[496]: file /pxe/boot/recovery.elf not found',
     {"kind": "tftp_not_found", "path": "/pxe/boot/recovery.elf"}),
    ('May  3 10:40:56 testserver dnsmasq-tftp[496]: sent /pxe/boot/start.elf to 10.42.0.17',
     {"kind": "tftp_sent", "path": "/pxe/boot/start.elf", "ip": "10.42.0.17"}),
    ('May  3 10:40:56 testserver dnsmasq-tftp[496]: sent /pxe/boot/fixup.dat to 10.42.0.17',
     {"kind": "tftp_sent", "path": "/pxe/boot/fixup.dat", "ip": "10.42.0.17"}),
    ('May  3 10:40:57 testserver dnsmasq-tftp[496]: file /pxe/boot/recovery.elf not found',
     {"kind": "tftp_not_found", "path": "/pxe/boot/recovery.elf"}),
    ('May  3 10:40:57 testserver dnsmasq-tftp[496]: sent /pxe/boot/config.txt to 10.42.0.17',
     {"kind": "tftp_sent", "path": "/pxe/boot/config.txt", "ip": "10.42.0.17"}),
    ('May  3 10:40:57 testserver dnsmasq-tftp[496]: file /pxe/boot/dt-blob.bin not found',
     {"kind": "tftp_not_found", "path": "/pxe/boot/dt-blob.bin"}),
    ('May  3 10:40:57 testserver dnsmasq-tftp[496]: file /pxe/boot/recovery.elf not found',
     {"kind": "tftp_not_found", "path": "/pxe/boot/recovery.elf"}),
    ('May  3 10:40:57 testserver dnsmasq-tftp[496]: sent /pxe/boot/config.txt to 10.42.0.17',
     {"kind": "tftp_sent", "path": "/pxe/boot/config.txt", "ip": "10.42.0.17"}),
    ('May  3 10:40:57 testserver dnsmasq-tftp[496]: file /pxe/boot/bootcfg.txt not found',
     {"kind": "tftp_not_found", "path": "/pxe/boot/bootcfg.txt"}),
    ('May  3 10:40:57 testserver dnsmasq-tftp[496]: sent /pxe/boot/cmdline.txt to 10.42.0.17',
     {"kind": "tftp_sent", "path": "/pxe/boot/cmdline.txt", "ip": "10.42.0.17"}),
    ('May  3 10:40:57 testserver dnsmasq-tftp[496]: file /pxe/boot/recovery8.img not found',
     {"kind": "tftp_not_found", "path": "/pxe/boot/recovery8.img"}),
    ('May  3 10:40:57 testserver dnsmasq-tftp[496]: file /pxe/boot/recovery8-32.img not found',
     {"kind": "tftp_not_found", "path": "/pxe/boot/recovery8-32.img"}),
    ('May  3 10:40:57 testserver dnsmasq-tftp[496]: file /pxe/boot/recovery7.img not found',
     {"kind": "tftp_not_found", "path": "/pxe/boot/recovery7.img"}),
    ('May  3 10:40:57 testserver dnsmasq-tftp[496]: file /pxe/boot/recovery.img not found',
     {"kind": "tftp_not_found", "path": "/pxe/boot/recovery.img"}),
    ('May  3 10:40:57 testserver dnsmasq-tftp[496]: file /pxe/boot/kernel8.img not found',
     {"kind": "tftp_not_found", "path": "/pxe/boot/kernel8.img"}),
    ('May  3 10:40:57 testserver dnsmasq-tftp[496]: file /pxe/boot/kernel8-32.img not found',
     {"kind": "tftp_not_found", "path": "/pxe/boot/kernel8-32.img"}),
    ('May  3 10:40:57 testserver dnsmasq-tftp[496]: file /pxe/boot/armstub8.bin not found',
     {"kind": "tftp_not_found", "path": "/pxe/boot/armstub8.bin"}),
    ('May  3 10:40:57 testserver dnsmasq-tftp[496]: file /pxe/boot/armstub8-32.bin not found',
     {"kind": "tftp_not_found", "path": "/pxe/boot/armstub8-32.bin"}),
    ('May  3 10:40:57 testserver dnsmasq-tftp[496]: file /pxe/boot/armstub7.bin not found',
     {"kind": "tftp_not_found", "path": "/pxe/boot/armstub7.bin"}),
    ('May  3 10:40:57 testserver dnsmasq-tftp[496]: file /pxe/boot/armstub.bin not found',
     {"kind": "tftp_not_found", "path": "/pxe/boot/armstub.bin"}),
    ('May  3 10:41:00 testserver dnsmasq-tftp[496]: sent /pxe/boot/kernel7.img to 10.42.0.17',
     {"kind": "tftp_sent", "path": "/pxe/boot/kernel7.img", "ip": "10.42.0.17"}),
    ('May  3 10:41:00 testserver dnsmasq-tftp[496]: sent /pxe/boot/bcm2710-rpi-3-b.dtb to 10.42.0.17',
     {"kind": "tftp_sent", "path": "/pxe/boot/bcm2710-rpi-3-b.dtb", "ip": "10.42.0.17"}),
    ('May  3 10:41:00 testserver dnsmasq-tftp[496]: sent /pxe/boot/config.txt to 10.42.0.17',
     {"kind": "tftp_sent", "path": "/pxe/boot/config.txt", "ip": "10.42.0.17"}),
]


def check(line: ServerLogLine | None, expected: dict[str, Any]) -> ServerLogLine:
    assert line is not None
    for name in TYPED:
        assert getattr(line, name) == expected.get(name), name
    assert line.kind == expected["kind"]
    return line


@pytest.mark.parametrize(("raw", "expected"), SEED_000)
def test_seed_000_lines(raw: str, expected: dict[str, Any]) -> None:
    line = check(parse_line(raw, year=2019), expected)
    assert line.raw == raw
    assert line.program == ("dnsmasq-dhcp" if "dhcp" in raw else "dnsmasq-tftp")
    assert line.host in ("sevastopol", "testserver")
    assert line.pid in (603, 496)
    assert line.message == raw.split("]: ", 1)[1]


def test_seed_000_timestamps_are_converted_to_the_harness_clock() -> None:
    line = parse_line(SEED_000[10][0], year=2019)  # May  3 10:40:45, local time
    assert line is not None
    wall = time.mktime((2019, 5, 3, 10, 40, 45, 0, 0, -1))
    assert abs(line.t - clock.from_wall(wall)) < 0.01
    assert parse_line(SEED_000[10][0], t=12.5).t == 12.5  # type: ignore[union-attr]


def test_without_a_year_the_current_one_is_used_unless_that_is_in_the_future() -> None:
    now = time.localtime()
    raw = time.strftime("%b %e %H:%M:%S", now) + " host dnsmasq[1]: started, version 2.90"
    line = parse_line(raw)
    assert line is not None and abs(line.t - clock.now()) < 2
    tomorrow_next_week = time.localtime(time.time() + 8 * 86400)
    raw = time.strftime("%b %e %H:%M:%S", tomorrow_next_week) + " host dnsmasq[1]: started"
    line = parse_line(raw)
    assert line is not None and clock.now() - line.t > 300 * 86400  # last year's line


# dnsmasq 2.90 --log-facility=<file> --log-dhcp, as written in the lab (trailing spaces kept)
LOG_FACILITY = [
    ("Nov 21 12:46:15 dnsmasq[5909]: started, version 2.90 DNS disabled",
     {"kind": "startup"}),
    ("Nov 21 12:46:15 dnsmasq-dhcp[5909]: DHCP, IP range 10.77.0.10 -- 10.77.0.20, lease time 1h",
     {"kind": "startup"}),
    ("Nov 21 12:46:15 dnsmasq-tftp[5909]: TFTP root is /tmp/nbhobs-exp/tftp  ",
     {"kind": "startup"}),
    ("Nov 21 12:46:20 dnsmasq-dhcp[5909]: 1995756103 available DHCP range: 10.77.0.10 -- 10.77.0.20",
     {"kind": "dhcp_detail", "xid": 1995756103}),
    ("Nov 21 12:46:20 dnsmasq-dhcp[5909]: 1995756103 vendor class: udhcp 1.35.0",
     {"kind": "dhcp_detail", "xid": 1995756103}),
    ("Nov 21 12:46:20 dnsmasq-dhcp[5909]: 1995756103 DHCPDISCOVER(nbhobs-va) 0e:6f:2a:d1:8b:7c ",
     {"kind": "dhcp", "op": "DHCPDISCOVER", "xid": 1995756103, "interface": "nbhobs-va",
      "mac": "0e:6f:2a:d1:8b:7c"}),
    ("Nov 21 12:46:20 dnsmasq-dhcp[5909]: 1995756103 tags: nbhobs-va",
     {"kind": "dhcp_detail", "xid": 1995756103}),
    ("Nov 21 12:46:20 dnsmasq-dhcp[5909]: 1995756103 requested options: 1:netmask, 3:router, ",
     {"kind": "dhcp_detail", "xid": 1995756103}),
    ("Nov 21 12:46:20 dnsmasq-dhcp[5909]: 1995756103 bootfile name: file.bin",
     {"kind": "dhcp_detail", "xid": 1995756103, "path": "file.bin"}),
    ("Nov 21 12:46:20 dnsmasq-dhcp[5909]: 1995756103 next server: 10.77.0.1",
     {"kind": "dhcp_detail", "xid": 1995756103, "ip": "10.77.0.1"}),
    ("Nov 21 12:46:20 dnsmasq-dhcp[5909]: 1995756103 sent size:  1 option: 53 message-type  2",
     {"kind": "dhcp_detail", "xid": 1995756103}),
    ("Nov 21 12:46:20 dnsmasq-dhcp[5909]: 1995756103 DHCPACK(nbhobs-va) 10.77.0.11 0e:6f:2a:d1:8b:7c ",
     {"kind": "dhcp", "op": "DHCPACK", "xid": 1995756103, "interface": "nbhobs-va",
      "mac": "0e:6f:2a:d1:8b:7c", "ip": "10.77.0.11"}),
    ("Nov 21 12:46:20 dnsmasq-tftp[5909]: sent /tmp/nbhobs-exp/tftp/file.bin to 10.77.0.11",
     {"kind": "tftp_sent", "path": "/tmp/nbhobs-exp/tftp/file.bin", "ip": "10.77.0.11"}),
    ("Nov 21 12:46:20 dnsmasq-tftp[5909]: file /tmp/nbhobs-exp/tftp/missing.bin not found for 10.77.0.11",
     {"kind": "tftp_not_found", "path": "/tmp/nbhobs-exp/tftp/missing.bin", "ip": "10.77.0.11"}),
    ("Nov 21 12:46:32 dnsmasq[5909]: exiting on receipt of SIGTERM", {"kind": "startup"}),
]


@pytest.mark.parametrize(("raw", "expected"), LOG_FACILITY)
def test_dnsmasq_log_facility_file(raw: str, expected: dict[str, Any]) -> None:
    line = check(parse_line(raw), expected)
    assert line.host is None and line.pid == 5909
    assert line.program == raw.split()[3].split("[")[0]


MESSAGES = [
    ("DHCPDISCOVER(eth0) b8:27:eb:76:a6:1a no address available",
     {"kind": "dhcp", "op": "DHCPDISCOVER", "interface": "eth0", "mac": "b8:27:eb:76:a6:1a"}),
    ("DHCPDISCOVER(eth0) 52:54:00:42:00:09 ignored",
     {"kind": "dhcp", "op": "DHCPDISCOVER", "interface": "eth0", "mac": "52:54:00:42:00:09"}),
    ("DHCPDISCOVER(br0) 10.42.0.2 52:54:00:42:00:02",  # with a requested address
     {"kind": "dhcp", "op": "DHCPDISCOVER", "interface": "br0", "ip": "10.42.0.2",
      "mac": "52:54:00:42:00:02"}),
    ("DHCPREQUEST(br0) 10.42.0.2 52:54:00:42:00:02",
     {"kind": "dhcp", "op": "DHCPREQUEST", "interface": "br0", "ip": "10.42.0.2",
      "mac": "52:54:00:42:00:02"}),
    ("DHCPACK(br0) 10.42.0.2 52:54:00:42:00:02 node02",
     {"kind": "dhcp", "op": "DHCPACK", "interface": "br0", "ip": "10.42.0.2",
      "mac": "52:54:00:42:00:02", "hostname": "node02"}),
    ("DHCPNAK(br0) 10.42.0.99 52:54:00:42:00:02 wrong address",
     {"kind": "dhcp", "op": "DHCPNAK", "interface": "br0", "ip": "10.42.0.99",
      "mac": "52:54:00:42:00:02"}),
    ("DHCPDECLINE(br0) 10.42.0.5 52:54:00:42:00:05",
     {"kind": "dhcp", "op": "DHCPDECLINE", "interface": "br0", "ip": "10.42.0.5",
      "mac": "52:54:00:42:00:05"}),
    ("DHCPRELEASE(br0) 10.42.0.2 52:54:00:42:00:02 unknown lease",
     {"kind": "dhcp", "op": "DHCPRELEASE", "interface": "br0", "ip": "10.42.0.2",
      "mac": "52:54:00:42:00:02"}),
    ("DHCPINFORM(br0) 10.42.0.5 52:54:00:42:00:05",
     {"kind": "dhcp", "op": "DHCPINFORM", "interface": "br0", "ip": "10.42.0.5",
      "mac": "52:54:00:42:00:05"}),
    ("653460281 PXE(eth0) b8:27:eb:76:a6:1a proxy",
     {"kind": "dhcp", "op": "PXE", "xid": 653460281, "interface": "eth0",
      "mac": "b8:27:eb:76:a6:1a"}),
    ("PXE(br0) 10.42.0.2 52:54:00:42:00:02 pxelinux.0",
     {"kind": "dhcp", "op": "PXE", "interface": "br0", "ip": "10.42.0.2",
      "mac": "52:54:00:42:00:02", "path": "pxelinux.0"}),
    ("BOOTP(eth0) 10.42.0.3 52:54:00:42:00:03",
     {"kind": "dhcp", "op": "BOOTP", "interface": "eth0", "ip": "10.42.0.3",
      "mac": "52:54:00:42:00:03"}),
    ("653460281 client provides name: node17",
     {"kind": "dhcp_detail", "xid": 653460281, "hostname": "node17"}),
    ("DHCP, proxy on subnet 10.42.0.0", {"kind": "startup"}),
    ("no address range available for DHCP request via eth1", {"kind": "other"}),
]


@pytest.mark.parametrize(("message", "expected"), MESSAGES)
def test_dhcp_messages(message: str, expected: dict[str, Any]) -> None:
    check(parse_line(f"Sep 15 12:46:34 sevastopol dnsmasq-dhcp[603]: {message}"), expected)


TFTP_MESSAGES = [
    ("failed sending /pxe/boot/kernel7.img to 10.42.0.17",
     {"kind": "tftp_error", "path": "/pxe/boot/kernel7.img", "ip": "10.42.0.17"}),
    ("timeout sending /pxe/boot/kernel7.img to 10.42.0.17",
     {"kind": "tftp_error", "path": "/pxe/boot/kernel7.img", "ip": "10.42.0.17"}),
    ("error 0 Early terminate received from 10.42.0.17",
     {"kind": "tftp_error", "ip": "10.42.0.17"}),
    ("error 8 received from 10.42.0.17", {"kind": "tftp_error", "ip": "10.42.0.17"}),
    ("cannot access /pxe/boot/start.elf: Permission denied",
     {"kind": "tftp_error", "path": "/pxe/boot/start.elf"}),
    ("cannot read /pxe/boot/start.elf: Input/output error",
     {"kind": "tftp_error", "path": "/pxe/boot/start.elf"}),
    ("unsupported write request from 10.42.0.17", {"kind": "tftp_error", "ip": "10.42.0.17"}),
    ("warning: TFTP directory /pxe/boot inaccessible", {"kind": "tftp_error", "path": "/pxe/boot"}),
    ("sent /pxe/boot/with spaces to me.txt to 10.42.0.17",
     {"kind": "tftp_sent", "path": "/pxe/boot/with spaces to me.txt", "ip": "10.42.0.17"}),
    ("TFTP root is /pxe/boot secure mode", {"kind": "startup"}),
    ("something new in dnsmasq 3.0", {"kind": "other"}),
]


@pytest.mark.parametrize(("message", "expected"), TFTP_MESSAGES)
def test_tftp_messages(message: str, expected: dict[str, Any]) -> None:
    check(parse_line(f"Sep 15 12:46:34 sevastopol dnsmasq-tftp[603]: {message}"), expected)


def test_no_timestamp_when_logging_to_stderr_in_the_foreground() -> None:
    before = clock.now()
    line = parse_line("dnsmasq-dhcp[77]: DHCPACK(br0) 10.42.0.2 52:54:00:42:00:02 node02\n")
    assert line is not None and line.hostname == "node02" and line.pid == 77
    assert before <= line.t <= clock.now()
    assert line.raw.endswith("node02")


JOURNAL_SHORT = [
    # short
    "May 03 10:40:45 testserver dnsmasq-dhcp[496]: 653460281 DHCPDISCOVER(eth0) b8:27:eb:76:a6:1a",
    # short-precise
    "May 03 10:40:45.250000 testserver dnsmasq-dhcp[496]: 653460281 DHCPDISCOVER(eth0) "
    "b8:27:eb:76:a6:1a",
    # short-iso (systemd < 251 and >= 251), and rsyslog's RSYSLOG_FileFormat
    "2019-05-03T10:40:45+0200 testserver dnsmasq-dhcp[496]: 653460281 DHCPDISCOVER(eth0) "
    "b8:27:eb:76:a6:1a",
    "2019-05-03T10:40:45+02:00 testserver dnsmasq-dhcp[496]: 653460281 DHCPDISCOVER(eth0) "
    "b8:27:eb:76:a6:1a",
    "2019-05-03T10:40:45.250000+02:00 testserver dnsmasq-dhcp[496]: 653460281 DHCPDISCOVER(eth0) "
    "b8:27:eb:76:a6:1a",
]


@pytest.mark.parametrize("raw", JOURNAL_SHORT)
def test_journald_short_forms(raw: str) -> None:
    line = check(parse_line(raw, year=2019), {
        "kind": "dhcp", "op": "DHCPDISCOVER", "xid": 653460281, "interface": "eth0",
        "mac": "b8:27:eb:76:a6:1a"})
    assert (line.host, line.pid, line.program) == ("testserver", 496, "dnsmasq-dhcp")
    if "T10" in raw:  # an absolute time: 08:40:45 UTC
        frac = 0.25 if ".25" in raw else 0.0
        assert abs(line.t - clock.from_wall(1556872845 + frac)) < 0.01


def test_journald_json() -> None:
    entry = {
        "__REALTIME_TIMESTAMP": "1556872845250000",
        "_HOSTNAME": "testserver",
        "SYSLOG_IDENTIFIER": "dnsmasq-tftp",
        "_PID": "496",
        "MESSAGE": "sent /pxe/boot/kernel7.img to 10.42.0.17",
    }
    raw = json.dumps(entry)
    line = check(parse_line(raw), {"kind": "tftp_sent", "path": "/pxe/boot/kernel7.img",
                                   "ip": "10.42.0.17"})
    assert (line.program, line.pid, line.host, line.raw) == ("dnsmasq-tftp", 496, "testserver", raw)
    assert abs(line.t - clock.from_wall(1556872845.25)) < 0.01
    # journald writes a non-UTF-8 MESSAGE as an array of bytes
    entry["MESSAGE"] = list(b"file /pxe/boot/\xff.bin not found")  # type: ignore[assignment]
    line = check(parse_line(json.dumps(entry)),
                 {"kind": "tftp_not_found", "path": "/pxe/boot/\ufffd.bin"})


GARBAGE = [
    "",
    "hello",
    "Sep 15 12:46:34 sevastopol kernel: [    1.000000] smsc95xx 1-1.1:1.0 eth0: link up",
    "Sep 15 12:46:34 sevastopol systemd[1]: Started dnsmasq.service - dnsmasq.",
    "Sep 15 12:46:34 sevastopol rpc.mountd[700]: authenticated mount request from "
    "10.42.0.17:871 for /pxe/root (/pxe/root)",
    "May  3 10:40:45 testserver *dnsmasq-dhcp",
    "{not json",
    "[1, 2]",
    "{}",
    json.dumps({"MESSAGE": "Accepted publickey for root", "SYSLOG_IDENTIFIER": "sshd"}),
    json.dumps({"SYSLOG_IDENTIFIER": "dnsmasq"}),
    "\x00\xff binary junk",
]


@pytest.mark.parametrize("raw", GARBAGE)
def test_other_programs_and_garbage(raw: str) -> None:
    assert parse_line(raw) is None


# --- LogFollower ----------------------------------------------------------------------


def append(path: Path, text: str) -> None:
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(text)


def next_line(events: queue.Queue[ServerLogLine]) -> ServerLogLine:
    return events.get(timeout=5)


def test_follows_new_lines_only_and_holds_partial_lines(tmp_path: Path) -> None:
    log = tmp_path / "daemon.log"
    append(log, SEED_000[0][0] + "\n")
    events: queue.Queue[ServerLogLine] = queue.Queue()
    with LogFollower(log, events.put, poll=0.02) as follower:
        append(log, SEED_000[1][0][:30])  # half a line: nothing yet
        append(log, SEED_000[1][0][30:] + "\nSep 15 12:46:34 sevastopol kernel: noise\n")
        sent = next_line(events)
        assert sent.kind == "tftp_sent" and sent.raw == SEED_000[1][0]
        assert abs(sent.t - clock.now()) < 2  # stamped when read, not by its own timestamp
        append(log, SEED_000[2][0] + "\n")
        not_found = next_line(events)
        assert not_found.t >= sent.t
        everything = follower.lines_between(sent.t, not_found.t)
        assert [text for _, text in everything] == [
            SEED_000[1][0], "Sep 15 12:46:34 sevastopol kernel: noise", SEED_000[2][0]
        ]
        assert follower.lines_between(not_found.t + 1, not_found.t + 2) == []
        assert follower.offset == log.stat().st_size
    assert events.empty() and follower.error is None


def test_offset_zero_reads_the_whole_file_and_waits_for_a_missing_one(tmp_path: Path) -> None:
    log = tmp_path / "dnsmasq.log"
    events: queue.Queue[ServerLogLine] = queue.Queue()
    with LogFollower(log, events.put, offset=0, poll=0.02):
        append(log, LOG_FACILITY[0][0] + "\n" + LOG_FACILITY[1][0] + "\n")
        assert next_line(events).kind == "startup"
        assert next_line(events).raw == LOG_FACILITY[1][0]


def test_truncation_and_rotation(tmp_path: Path) -> None:
    log = tmp_path / "daemon.log"
    append(log, "")
    events: queue.Queue[ServerLogLine] = queue.Queue()
    with LogFollower(log, events.put, poll=0.02) as follower:
        append(log, SEED_000[0][0] + "\n" + SEED_000[1][0] + "\n")
        next_line(events), next_line(events)
        # copytruncate: the same file, emptied, then written again from the start
        with open(log, "w"):
            pass
        append(log, SEED_000[3][0] + "\n")
        assert next_line(events).raw == SEED_000[3][0]
        # rotation: the file is renamed (and its last line written late), a new one appears
        os.rename(log, tmp_path / "daemon.log.1")
        append(tmp_path / "daemon.log.1", SEED_000[4][0] + "\n")
        append(log, SEED_000[5][0] + "\n")
        assert [next_line(events).raw, next_line(events).raw] == [SEED_000[4][0], SEED_000[5][0]]
        follower_lines = [text for _, text in follower.lines_between(0, clock.now() + 1)]
        assert follower_lines == [SEED_000[i][0] for i in (0, 1, 3, 4, 5)]


def test_write_excerpt(tmp_path: Path) -> None:
    log = tmp_path / "daemon.log"
    append(log, "")
    events: queue.Queue[ServerLogLine] = queue.Queue()
    with LogFollower(log, events.put, poll=0.02) as follower:
        append(log, "".join(raw + "\n" for raw, _ in SEED_000[:3]))
        first, _, last = next_line(events), next_line(events), next_line(events)
    assert follower.write_excerpt(tmp_path / "boot" / "server.log", first.t, last.t) == 3
    assert (tmp_path / "boot" / "server.log").read_text() == "".join(
        raw + "\n" for raw, _ in SEED_000[:3])
