"""Rendering ISC dhcpd's configuration (seed 003), and the option 43 the Pis get from it.

dhcpd is not installed where these tests run, so its syntax is checked by structure: a
small reader of dhcpd.conf's grammar (statements end in ``;``, blocks in braces, quoted
strings, ``#`` comments) and the statements each scope may hold.  With ``dhcpd`` on the
PATH, ``dhcpd -t`` checks the file as well.
"""

from __future__ import annotations

import shutil
import subprocess
import textwrap
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

import pytest

from harness.errors import HarnessError
from harness.pirom.dhcp import DhcpReply, option43_problem
from harness.pirom.profiles import PROFILES
from harness.provision.render_dhcpd import dhcpd_hex, pxe_vendor_options, render_dhcpd_conf
from harness.testbed import Testbed, load_testbed, parse_testbed

DEVICES = Path(__file__).resolve().parents[2] / "devices"

#: pi-netboot-protocol.md section 2: what dnsmasq's pxe-service=0,"Raspberry Pi Boot" puts
#: in option 43, and the same with the 3B's three trailing spaces.
RPI_BOOT = b"\x06\x01\x03\x0a\x04\x00PXE\x09\x14\x00\x00\x11Raspberry Pi Boot\xff"
RPI_BOOT_3SP = b"\x06\x01\x03\x0a\x04\x00PXE\x09\x17\x00\x00\x14Raspberry Pi Boot   \xff"


# --- a reader for dhcpd.conf ---------------------------------------------------------------


@dataclass
class Statement:
    words: list[str]
    block: list[Statement] | None = None  # the statements inside { }, for a block

    @property
    def head(self) -> str:
        return self.words[0]


@dataclass
class Reader:
    tokens: list[str]
    at: int = 0
    errors: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, text: str) -> Reader:
        tokens: list[str] = []
        i = 0
        while i < len(text):
            c = text[i]
            if c == "#":
                i = text.find("\n", i) if "\n" in text[i:] else len(text)
            elif c.isspace():
                i += 1
            elif c == '"':
                end = text.index('"', i + 1)  # dhcpd has no escapes in these files
                tokens.append(text[i : end + 1])
                i = end + 1
            elif c in "{};":
                tokens.append(c)
                i += 1
            else:
                j = i
                while j < len(text) and not text[j].isspace() and text[j] not in '{};#"':
                    j += 1
                tokens.append(text[i:j])
                i = j
        return cls(tokens)

    def statements(self, closing: str | None = None) -> list[Statement]:
        found: list[Statement] = []
        words: list[str] = []
        while self.at < len(self.tokens):
            token = self.tokens[self.at]
            self.at += 1
            if token == ";":
                assert words, f"empty statement before token {self.at}"
                found.append(Statement(words))
                words = []
            elif token == "{":
                assert words, f"a block without a head at token {self.at}"
                found.append(Statement(words, self.statements("}")))
                words = []
            elif token == "}":
                assert closing == "}", f"unbalanced '}}' at token {self.at}"
                assert not words, f"statement {words} not ended with ';'"
                return found
            else:
                words.append(token)
        assert closing is None, "a block is not closed"
        assert not words, f"statement {words} not ended with ';'"
        return found


#: What each scope may hold (block heads end in "{").
ALLOWED = {
    "top": {"ddns-update-style", "option", "subnet{"},
    "subnet": {
        "authoritative", "option", "next-server", "default-lease-time", "max-lease-time",
        "range", "group{",
    },
    "group": {"filename", "option", "vendor-option-space", "next-server", "host{"},
    "host": {"hardware", "fixed-address", "option"},
}  # fmt: skip
#: How many words follow each statement's keyword.
ARITY = {
    "authoritative": 0, "ddns-update-style": 1, "next-server": 1, "default-lease-time": 1,
    "max-lease-time": 1, "range": 2, "filename": 1, "vendor-option-space": 1,
    "hardware": 2, "fixed-address": 1,
}  # fmt: skip
OPTIONS = {
    "subnet-mask", "broadcast-address", "routers", "host-name", "vendor-class-identifier",
    "vendor-encapsulated-options", "tftp-server-name", "space", "PXE.mtftp-ip",
}  # fmt: skip


def check_scope(statements: list[Statement], scope: str) -> None:
    for s in statements:
        key = s.head + ("{" if s.block is not None else "")
        assert key in ALLOWED[scope], f"{key!r} is not allowed in {scope}"
        if s.head == "option":
            assert s.words[1] in OPTIONS, s.words
            # "option <name> <value>", or a definition "option X code 1 = ip-address"
            assert len(s.words) == 3 or s.words[2:5] == ["code", "1", "="], s.words
        elif s.block is None:
            assert len(s.words) - 1 == ARITY[s.head], s.words
        if s.block is not None:
            check_scope(s.block, s.head)


def read_conf(text: str) -> list[Statement]:
    statements = Reader.of(text).statements()
    check_scope(statements, "top")
    return statements


def blocks(statements: list[Statement], head: str) -> list[Statement]:
    return [s for s in statements if s.head == head and s.block is not None]


def values(block: Statement, head: str) -> list[list[str]]:
    assert block.block is not None
    return [s.words[1:] for s in block.block if s.head == head and s.block is None]


def hosts(subnet: Statement) -> dict[str, Statement]:
    assert subnet.block is not None
    return {
        h.words[1]: h for g in blocks(subnet.block, "group") for h in blocks(g.block or [], "host")
    }


# --- the tests --------------------------------------------------------------------------------


def test_vendor_options_are_the_bytes_dnsmasq_sends() -> None:
    assert pxe_vendor_options("Raspberry Pi Boot") == RPI_BOOT
    assert pxe_vendor_options("Raspberry Pi Boot   ") == RPI_BOOT_3SP
    assert dhcpd_hex(b"\x06\x01\x03\xff") == "06:01:03:ff"


@pytest.mark.parametrize("model", ["pi3b", "pi3bplus", "pi4"])
def test_the_boot_rom_model_accepts_the_option_43_of_its_profile(model: str) -> None:
    """The emulated boot ROM's judgement of what dhcpd would send to each Pi profile."""
    tb = load_testbed(DEVICES / "emulated-pi-machines.yaml")  # a pi4 and a pi3bplus
    tb3 = load_testbed(DEVICES / "emulated.yaml")  # a pi3b and a pi3bplus
    text = render_dhcpd_conf(tb) + render_dhcpd_conf(tb3)
    wanted = {"pi3b": RPI_BOOT_3SP, "pi3bplus": RPI_BOOT, "pi4": RPI_BOOT}[model]
    assert f"option vendor-encapsulated-options {dhcpd_hex(wanted)};" in text
    reply = DhcpReply(0, 0, bytes(4), bytes(4), bytes(4), bytes(6), {43: wanted}, bytes(4))
    assert option43_problem(PROFILES[model], reply) is None


def test_a_3b_needs_the_three_spaces() -> None:
    reply = DhcpReply(0, 0, bytes(4), bytes(4), bytes(4), bytes(6), {43: RPI_BOOT}, bytes(4))
    assert option43_problem(PROFILES["pi3b"], reply) is not None


def test_pi_testbed_gets_a_subnet_with_hosts_and_pi_boot_options() -> None:
    tb = load_testbed(DEVICES / "emulated.yaml")
    text = render_dhcpd_conf(tb)
    statements = read_conf(text)
    (subnet,) = blocks(statements, "subnet")
    assert subnet.words[1:] == ["10.42.0.0", "netmask", "255.255.255.0"]
    assert values(subnet, "next-server") == [["10.42.0.250"]]
    assert values(subnet, "authoritative") == [[]]
    # the range less the node addresses: dnsmasq would never hand those out, dhcpd would
    assert values(subnet, "range") == [
        ["10.42.0.1", "10.42.0.1"],
        ["10.42.0.3", "10.42.0.16"],
        ["10.42.0.18", "10.42.0.150"],
    ]
    found = hosts(subnet)
    assert sorted(found) == ["node02", "node17"]  # zero01 is on the WiFi: not served
    assert values(found["node02"], "hardware") == [["ethernet", "b8:27:eb:e2:47:cc"]]
    assert values(found["node02"], "fixed-address") == [["10.42.0.2"]]
    assert values(found["node02"], "option") == [["host-name", '"node02"']]
    (pi3b,) = [g for g in blocks(subnet.block or [], "group") if "node02" in str(g)]
    options = {w[0]: w[1:] for w in values(pi3b, "option")}
    assert options["vendor-class-identifier"] == ['"PXEClient"']
    assert options["vendor-encapsulated-options"] == [dhcpd_hex(RPI_BOOT_3SP)]
    assert options["tftp-server-name"] == ['"10.42.0.250"']
    assert "Not served here: wifi (192.168.1.0/24 on wlan0), dhcp: none" in text
    assert 'INTERFACESv4="eth0"' in text


def test_x86_testbed_gets_pxelinux_and_the_pxe_vendor_space() -> None:
    tb = load_testbed(DEVICES / "emulated-x86.yaml")
    statements = read_conf(render_dhcpd_conf(tb))
    assert [s.words[1:] for s in statements if s.head == "option"] == [
        ["space", "PXE"],
        ["PXE.mtftp-ip", "code", "1", "=", "ip-address"],
    ]
    (subnet,) = blocks(statements, "subnet")
    (group,) = blocks(subnet.block or [], "group")
    assert values(group, "filename") == [['"pxelinux.0"']]
    assert values(group, "vendor-option-space") == [["PXE"]]
    assert ["PXE.mtftp-ip", "0.0.0.0"] in values(group, "option")
    assert sorted(hosts(subnet)) == ["node02", "node03"]


def test_every_address_is_where_it_belongs() -> None:
    """Ranges, fixed addresses and next-server inside the subnet; no range holds a node's
    or the server's address."""
    for name in ("emulated.yaml", "emulated-x86.yaml", "testsystem.yaml", "cluster60.yaml"):
        tb = load_testbed(DEVICES / name)
        for subnet in blocks(read_conf(render_dhcpd_conf(tb)), "subnet"):
            net = IPv4Network(f"{subnet.words[1]}/{subnet.words[3]}")
            fixed = {IPv4Address(v[0]) for h in hosts(subnet).values()
                     for v in values(h, "fixed-address")}  # fmt: skip
            fixed |= {IPv4Address(v[0]) for v in values(subnet, "next-server")}
            assert all(a in net for a in fixed), name
            for first, last in values(subnet, "range"):
                a, b = IPv4Address(first), IPv4Address(last)
                assert a in net and b in net and a <= b
                assert not any(a <= f <= b for f in fixed), (name, first, last)


def test_cluster60_declares_all_sixty_nodes() -> None:
    tb = load_testbed(DEVICES / "cluster60.yaml")
    (subnet,) = blocks(read_conf(render_dhcpd_conf(tb)), "subnet")
    found = hosts(subnet)
    assert len(found) == 60
    assert values(found["node07"], "fixed-address") == [["10.42.0.7"]]
    assert values(subnet, "range") == [["10.42.0.100", "10.42.0.150"]]


def test_finite_leases_are_given_in_seconds() -> None:
    tb = load_testbed(DEVICES / "emulated-x86.yaml")
    tb = tb.model_copy(
        update={
            "networks": {"cluster": tb.networks["cluster"].model_copy(update={"lease_time": "2h"})}
        }
    )
    (subnet,) = blocks(read_conf(render_dhcpd_conf(tb)), "subnet")
    assert values(subnet, "default-lease-time") == values(subnet, "max-lease-time") == [["7200"]]


def test_a_proxy_network_is_refused() -> None:
    text = textwrap.dedent("""\
        name: proxied
        server: {name: s, hostname: s, addresses: {site: 192.168.2.82}, tftp_root: /tftp,
                 root: /tftp/root}
        networks:
          site: {subnet: 192.168.2.0/24, interface: eno1, dhcp: proxy}
        boot:
          x86-bios: {kernel: vmlinuz, initrd: initrd.img}
        nodes:
          - {name: vmegr, mac: "00:20:38:03:37:6c", ip: 192.168.2.30, profile: x86-bios,
             power: {kind: command, on: "true", off: "true"}}
        """)
    tb: Testbed = parse_testbed(text, "/nonexistent/proxied.yaml")
    with pytest.raises(HarnessError, match="ISC dhcpd cannot add boot options"):
        render_dhcpd_conf(tb)


@pytest.mark.parametrize("name", ["emulated.yaml", "emulated-x86.yaml", "testsystem.yaml"])
def test_dhcpd_accepts_it_when_installed(name: str, tmp_path: Path) -> None:
    dhcpd = shutil.which("dhcpd")
    if dhcpd is None:
        pytest.skip("isc-dhcp-server is not installed; the structure tests above stand in")
    conf = tmp_path / "dhcpd.conf"
    conf.write_text(render_dhcpd_conf(load_testbed(DEVICES / name)))
    result = subprocess.run(
        [dhcpd, "-t", "-4", "-cf", str(conf)], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr


def test_the_reader_catches_what_dhcpd_would_refuse() -> None:
    """The structure check has teeth: a missing ';', an unclosed block, a statement out
    of its scope."""
    text = render_dhcpd_conf(load_testbed(DEVICES / "emulated.yaml"))
    read_conf(text)
    for broken in (
        text.replace("authoritative;", "authoritative", 1),
        text.rstrip().removesuffix("}"),
        text.replace("next-server", "hardware ethernet 00:00:00:00:00:01;\n  next-server", 1),
    ):
        with pytest.raises(AssertionError):
            read_conf(broken)
