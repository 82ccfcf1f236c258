"""Loading testbed files: the default testbed, and one test per kind of problem.

Each problem test checks the whole line a lab engineer reads, with its line number.
"""

from __future__ import annotations

from ipaddress import IPv4Address
from pathlib import Path

import pytest

from harness.errors import TestbedError
from harness.testbed import DhcpMode, IpmiPower, QemuPower, load_testbed
from harness.testbed.power import CommandPower

from .cases import BASE, DEFAULT, EMULATED, LoadText, Problems, assert_problem_lines


def test_the_x86_testbed_loads() -> None:
    tb = load_testbed(EMULATED)
    assert tb.name == "emulated-x86"
    assert tb.path == EMULATED
    assert tb.is_emulated
    assert [n.name for n in tb.nodes] == ["node02", "node03"]
    assert tb.nodes[1].hostname == "node03"
    assert tb.nodes[1].network == "cluster"
    assert tb.nodes[0].power == QemuPower(memory_mb=256, nic="virtio-net-pci")
    assert tb.networks["cluster"].dhcp is DhcpMode.AUTHORITATIVE
    assert tb.server_address("cluster") == IPv4Address("10.42.0.250")
    assert tb.server.exports[0].options == ("rw", "sync", "no_subtree_check", "no_root_squash")
    assert tb.boot["x86-bios"].append == "console=ttyS0,115200 panic=-1"


def test_the_default_testbed_is_the_emulated_pi_test_system() -> None:
    tb = load_testbed(DEFAULT)
    assert tb.name == "emulated"
    assert [(n.name, n.profile, n.network) for n in tb.nodes] == [
        ("node02", "pi3b", "cluster"),
        ("node17", "pi3bplus", "cluster"),
        ("zero01", "pi-zero", "wifi"),
    ]
    assert tb.node("node02").board_serial == "27e247cc"  # as in the guide's log
    assert tb.networks["wifi"].dhcp is DhcpMode.NONE
    assert tb.server_address("wifi") == IPv4Address("192.168.1.4")
    assert tb.boot["pi3b"] == tb.boot["pi3bplus"]


def test_a_string_path_works_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(EMULATED.parent.parent)
    assert load_testbed("devices/emulated.yaml").name == "emulated"


def test_unquoted_macs_are_text_not_base_60_numbers(load_text: LoadText) -> None:
    # YAML 1.1 reads 52:54:00:42:00:02 as the integer 243098929322.
    tb = load_text(BASE.replace("52:54:00:42:00:02", "52-54-00-42-00-0A"))
    assert tb.nodes[0].mac == "52:54:00:42:00:0a"
    assert load_text(BASE).nodes[0].mac == "52:54:00:42:00:02"


def test_command_power_on_and_off_keys_are_not_booleans(load_text: LoadText) -> None:
    text = BASE.replace("lab: {kind: emulated}\n", "").replace(
        "power: {kind: qemu}", "power: {kind: command, on: 'switch on 2', off: 'switch off 2'}"
    )
    assert load_text(text).nodes[0].power == CommandPower(on="switch on 2", off="switch off 2")


# --- one test per problem ----------------------------------------------------------------


def test_malformed_mac(problems: Problems) -> None:
    assert problems(BASE.replace("52:54:00:42:00:02", "zz:54:00:42:00:03")) == [
        "tb:15: nodes[0].mac: 'zz:54:00:42:00:03' is not a MAC address; "
        "fix: write six hex pairs separated by colons, like 52:54:00:42:00:03"
    ]


SECOND_NODE = """\
  - name: node03
    mac: 52:54:00:42:00:03
    ip: 10.42.0.3
    profile: x86-bios
    power: {kind: qemu}
"""


@pytest.mark.parametrize(
    ("field", "first", "second", "label"),
    [
        ("mac", "52:54:00:42:00:02", "52:54:00:42:00:03", "MAC"),
        ("ip", "10.42.0.2", "10.42.0.3", "address"),
        ("name", "node02", "node03", "name"),
    ],
)
def test_duplicates_name_both_entries(
    problems: Problems, field: str, first: str, second: str, label: str
) -> None:
    text = BASE + SECOND_NODE.replace(f"{field}: {second}", f"{field}: {first}")
    line = {"name": 19, "mac": 20, "ip": 21}[field]
    first_line = {"name": 14, "mac": 15, "ip": 16}[field]
    shown = first if field == "ip" else f"'{first}'"
    expected = (
        f"tb:{line}: nodes[1].{field}: {shown} is also the {label} of nodes[0].{field} "
        f"(line {first_line}); fix: give every node its own {label}"
    )
    assert expected in problems(text)


def test_duplicate_hostnames_ignore_case(problems: Problems) -> None:
    text = BASE + SECOND_NODE + "    hostname: NODE02\n"
    assert problems(text) == [
        "tb:24: nodes[1].hostname: 'NODE02' is also the host name of nodes[0].hostname "
        "(line 14); fix: give every node its own host name"
    ]


def test_duplicate_positions(problems: Problems) -> None:
    text = BASE + "    position: 2\n" + SECOND_NODE + "    position: 2\n"
    assert problems(text) == [
        "tb:25: nodes[1].position: 2 is also the position of nodes[0].position (line 19); "
        "fix: give every node its own position"
    ]


def test_ip_outside_its_subnet(problems: Problems) -> None:
    assert problems(BASE.replace("ip: 10.42.0.2", "ip: 10.43.0.2")) == [
        "tb:16: nodes[0].ip: 10.43.0.2 is outside the subnet 10.42.0.0/24 of network "
        "'cluster'; fix: use an address in 10.42.0.0/24 (10.42.0.1-10.42.0.254)"
    ]


def test_ip_that_is_the_servers(problems: Problems) -> None:
    assert problems(BASE.replace("ip: 10.42.0.2", "ip: 10.42.0.250")) == [
        "tb:16: nodes[0].ip: 10.42.0.250 is the server's own address on network 'cluster'; "
        "fix: give the node another address in the subnet"
    ]


def test_ip_that_is_the_broadcast_address(problems: Problems) -> None:
    assert problems(BASE.replace("ip: 10.42.0.2", "ip: 10.42.0.255")) == [
        "tb:16: nodes[0].ip: 10.42.0.255 is the broadcast address of 10.42.0.0/24, which no "
        "host can use; fix: use a host address in 10.42.0.0/24 (10.42.0.1-10.42.0.254)"
    ]


def test_malformed_ip(problems: Problems) -> None:
    assert problems(BASE.replace("ip: 10.42.0.2", "ip: 10.42.0.300")) == [
        "tb:16: nodes[0].ip: '10.42.0.300' is not an IPv4 address; "
        "fix: write four numbers 0-255 separated by dots, like 10.42.0.3"
    ]


def test_unknown_boot_profile_lists_the_known_ones(problems: Problems) -> None:
    assert problems(BASE.replace("profile: x86-bios", "profile: pi5")) == [
        "tb:17: nodes[0].profile: unknown boot profile 'pi5'; fix: did you mean 'pi4'? "
        "use one of: pi-zero, pi3b, pi3bplus, pi4, x86-bios, x86-uefi"
    ]


def test_unknown_boot_profile_as_a_boot_key(problems: Problems) -> None:
    assert problems(BASE.replace("  x86-bios: {kernel", "  x86-bois: {kernel")) == [
        "tb:12: boot.x86-bois: key unknown boot profile 'x86-bois'; fix: did you mean "
        "'x86-bios'? use one of: pi-zero, pi3b, pi3bplus, pi4, x86-bios, x86-uefi"
    ]


def test_unknown_power_kind_lists_the_known_ones(problems: Problems) -> None:
    assert problems(BASE.replace("{kind: qemu}", "{kind: ipmii}")) == [
        "tb:18: nodes[0].power.kind: unknown power kind 'ipmii'; fix: did you mean 'ipmi'? "
        "use one of: command, homematic, ipmi, pdu, powerall, qemu, uhubctl"
    ]


def test_unknown_console_kind_lists_the_known_ones(problems: Problems) -> None:
    assert problems(BASE + "    console: {kind: serail}\n") == [
        "tb:19: nodes[0].console.kind: unknown console kind 'serail'; fix: did you mean "
        "'serial'? use one of: none, qemu, rfc2217, serial, sol"
    ]


def test_power_without_a_kind(problems: Problems) -> None:
    assert problems(BASE.replace("{kind: qemu}", "{memory_mb: 512}")) == [
        "tb:18: nodes[0].power.kind: no kind given for power; fix: add 'kind: <one of "
        "command, homematic, ipmi, pdu, powerall, qemu, uhubctl>'"
    ]


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "    profile: x86-bios\n",
            "    profile: x86-bios\n    hostnme: n2\n",
            "tb:18: nodes[0].hostnme: unknown key 'hostnme'; fix: did you mean 'hostname'?",
        ),
        (
            "nodes:",
            "node:",
            "tb:13: node: unknown key 'node'; fix: did you mean 'nodes'?",
        ),
        (
            "{kind: qemu}",
            "{kind: qemu, memroy_mb: 512}",
            "tb:18: nodes[0].power.memroy_mb: unknown key 'memroy_mb'; fix: did you mean "
            "'memory_mb'?",
        ),
        (
            "  root: /pxe/root\n",
            "  root: /pxe/root\n  colour: blue\n",
            "tb:9: server.colour: unknown key 'colour'; fix: remove it, or use one of the keys "
            "allowed here: addresses, content, exports, hostname, name, observe, power, root, ssh, tftp_root",
        ),
    ],
)
def test_unknown_keys_suggest_the_closest_known_key(
    problems: Problems, old: str, new: str, expected: str
) -> None:
    assert expected in problems(BASE.replace(old, new))


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "    mac: 52:54:00:42:00:02\n",
            "",
            "tb:14: nodes[0].mac: missing; fix: add 'mac: 52:54:00:42:00:03' "
            "(MAC address of the interface it boots from)",
        ),
        (
            "  tftp_root: /pxe/boot\n",
            "",
            "tb:3: server.tftp_root: missing; fix: add 'tftp_root: /pxe/boot' "
            "(directory dnsmasq serves over TFTP)",
        ),
        (
            "{kind: qemu}",
            "{kind: ipmi, host: bmc2, password_env: NBH_BMC}",
            "tb:18: nodes[0].power.user: missing; fix: add 'user: admin' (the BMC user)",
        ),
    ],
)
def test_missing_required_fields(problems: Problems, old: str, new: str, expected: str) -> None:
    text = BASE.replace("lab: {kind: emulated}\n", "lab: {kind: emulated}\n")
    assert expected in problems(text.replace(old, new))


def test_missing_server_section(problems: Problems) -> None:
    text = BASE[: BASE.index("server:")] + BASE[BASE.index("networks:") :]
    assert problems(text) == [
        "tb: server: missing; fix: add a 'server:' section (the server module; see docs/testbed.md)"
    ]


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "{kind: qemu}",
            "{kind: qemu, memory_mb: lots}",
            "tb:18: nodes[0].power.memory_mb: 'lots' is not a whole number; "
            "fix: write a whole number from 64 to 4096, like 256",
        ),
        (
            "{kind: qemu}",
            "{kind: qemu, memory_mb: 8192}",
            "tb:18: nodes[0].power.memory_mb: 8192 is more than 4096; "
            "fix: write a number from 64 to 4096",
        ),
        (
            "{kind: qemu}",
            "qemu",
            "tb:18: nodes[0].power: 'qemu' is not a mapping; "
            "fix: write 'key: value' settings, like {kind: qemu}",
        ),
        (
            "    profile: x86-bios\n",
            "    profile: x86-bios\n    position: second\n",
            "tb:18: nodes[0].position: 'second' is not a whole number; "
            "fix: write a whole number of 1 or more, like 3",
        ),
        (
            "  hostname: testserver\n",
            "  hostname: 42\n",
            "tb:5: server.hostname: 42 is not text; "
            "fix: write text, like testserver (quote it if it looks like a number)",
        ),
        (
            "cluster: {subnet: 10.42.0.0/24",
            "cluster: {subnet: 10.42.0.1/24",
            "tb:10: networks.cluster.subnet: '10.42.0.1/24' has host bits set; "
            "fix: write the network address, 10.42.0.0/24",
        ),
        (
            "nodes:\n",
            "nodes:\n  node02:\n    x: 1\nunused:\n",
            "tb:13: nodes: a mapping is not a list; "
            "fix: write a list in [ ] or as '- ' items, each like {name: node02, "
            "mac: 52:54:00:42:00:02, ip: 10.42.0.2, profile: x86-bios, power: {kind: qemu}}",
        ),
    ],
)
def test_wrong_types(problems: Problems, old: str, new: str, expected: str) -> None:
    assert expected in problems(BASE.replace(old, new))


def test_server_address_for_a_network_that_is_not_defined(problems: Problems) -> None:
    text = BASE.replace("{cluster: 10.42.0.250}", "{cluster: 10.42.0.250, wifi: 192.168.1.4}")
    assert problems(text) == [
        "tb:6: server.addresses.wifi: network 'wifi' is not defined under networks:; "
        "fix: use one of: cluster, or define 'wifi' under networks:"
    ]


def test_network_without_a_server_address(problems: Problems) -> None:
    text = BASE.replace(
        "interface: br0}\n", "interface: br0}\n  lab: {subnet: 10.43.0.0/24, interface: eth1}\n"
    ).replace("    power: {kind: qemu}", "    network: cluster\n    power: {kind: qemu}")
    assert problems(text) == [
        "tb:6: server.addresses: no address for network 'lab'; "
        "fix: add 'lab: <the server's address in 10.43.0.0/24>' under server.addresses"
    ]


TWO_NETWORKS = BASE.replace(
    "interface: br0}\n", "interface: br0}\n  lab: {subnet: 10.43.0.0/24, interface: eth1}\n"
).replace("{cluster: 10.42.0.250}", "{cluster: 10.42.0.250, lab: 10.43.0.250}")


def test_node_network_omitted_with_several_networks(problems: Problems) -> None:
    assert problems(TWO_NETWORKS) == [
        "tb:15: nodes[0].network: not given, and the testbed has 2 networks (cluster, lab); "
        "fix: add 'network: <one of cluster, lab>'"
    ]


def test_node_network_undefined(problems: Problems) -> None:
    text = TWO_NETWORKS + "    network: lba\n"
    assert problems(text) == [
        "tb:20: nodes[0].network: network 'lba' is not defined under networks:; "
        "fix: did you mean 'lab'? use one of: cluster, lab, or define 'lba' under networks:"
    ]


def test_dhcp_range_outside_the_subnet(problems: Problems) -> None:
    text = BASE.replace("interface: br0}", "interface: br0, dhcp_range: [10.42.0.1, 10.42.1.9]}")
    assert problems(text) == [
        "tb:10: networks.cluster.dhcp_range[1]: 10.42.1.9 is outside the subnet 10.42.0.0/24 "
        "of network 'cluster'; fix: use an address in 10.42.0.0/24 (10.42.0.1-10.42.0.254)"
    ]


def test_dhcp_range_on_a_proxy_network(problems: Problems) -> None:
    text = BASE.replace(
        "interface: br0}", "interface: br0, dhcp: proxy, dhcp_range: [10.42.0.1, 10.42.0.9]}"
    )
    assert problems(text) == [
        "tb:10: networks.cluster.dhcp_range: a DHCP range is given, but dhcp is proxy (another "
        "DHCP server hands out addresses); fix: remove dhcp_range, or set dhcp: authoritative "
        "if this server hands out addresses"
    ]


def test_dhcp_range_the_wrong_way_round_and_short(problems: Problems) -> None:
    text = BASE.replace("interface: br0}", "interface: br0, dhcp_range: [10.42.0.9, 10.42.0.1]}")
    assert problems(text) == [
        "tb:10: networks.cluster.dhcp_range: the range starts at 10.42.0.9, after its end "
        "10.42.0.1; fix: write the lower address first: [10.42.0.1, 10.42.0.9]"
    ]
    text = BASE.replace("interface: br0}", "interface: br0, dhcp_range: [10.42.0.9]}")
    assert problems(text) == [
        "tb:10: networks.cluster.dhcp_range[1]: has too few items; "
        "fix: write all of them, like [10.42.0.1, 10.42.0.150]"
    ]


def test_a_secret_in_clear_is_refused_and_not_repeated(problems: Problems) -> None:
    text = BASE.replace("lab: {kind: emulated}\n", "").replace(
        "{kind: qemu}", "{kind: ipmi, host: bmc2, user: admin, password: hunter2}"
    )
    lines = problems(text)
    assert lines[0] == (
        "tb:17: nodes[0].power.password: a secret ('password') is written in clear in the "
        "testbed file; fix: delete it, put the secret in an environment variable "
        "(NBH_PASSWORD) and give the variable's name instead, like password_env: NBH_PASSWORD"
    )
    assert not any("hunter2" in line for line in lines)
    assert any("nodes[0].power.password_env: missing" in line for line in lines)


def test_the_ssh_password_is_named_not_written(load_text: LoadText, problems: Problems) -> None:
    text = BASE.replace(
        "  root: /pxe/root\n", "  root: /pxe/root\n  ssh: {user: pi, passwd: raspberry}\n"
    )
    assert problems(text)[0].startswith("tb:9: server.ssh.passwd: a secret ('passwd')")
    named = load_text(text.replace("passwd: raspberry", "password_env: NBH_SERVER_PASSWORD"))
    assert named.server.ssh is not None
    assert named.server.ssh.password_env == "NBH_SERVER_PASSWORD"


def test_yaml_syntax_error_names_the_line(problems: Problems) -> None:
    lines = problems(BASE.replace("    ip: 10.42.0.2", "    ip: [10.42.0.2"))
    assert len(lines) == 1
    assert lines[0].startswith("tb:17: not valid YAML: ")
    assert lines[0].endswith(
        "; fix: check the indentation and quoting on and just above this "
        "line; quote values that contain ': ', ' #', or start with '{', "
        "'[', '*', '&', '!' or '%'"
    )


def test_duplicate_yaml_keys(problems: Problems) -> None:
    assert problems(BASE + "    ip: 10.42.0.3\n") == [
        "tb:19: nodes[0].ip: key 'ip' is given twice in this mapping (first on line 16), and "
        "only the last one would count; fix: keep one of them"
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "tb: the file is empty"),
        ("# nothing\n", "tb: the file is empty"),
        ("- a\n- b\n", "tb:1: the file is not a mapping of settings"),
    ],
)
def test_empty_or_not_a_mapping(problems: Problems, text: str, expected: str) -> None:
    assert problems(text) == [
        f"{expected}; fix: start from devices/emulated.yaml: name:, server:, networks:, nodes:"
    ]


def test_missing_file_lists_the_testbeds_there(tmp_path: Path) -> None:
    (tmp_path / "emulated.yaml").write_text("")
    with pytest.raises(TestbedError) as caught:
        load_testbed(tmp_path / "testsytem.yaml")
    assert caught.value.problems == [
        f"{tmp_path}/testsytem.yaml: testbed file not found; "
        f"fix: check the path; testbed files in '{tmp_path}': emulated.yaml"
    ]
    with pytest.raises(TestbedError, match=r"the directory .* does not exist"):
        load_testbed(tmp_path / "nowhere" / "x.yaml")


def test_emulated_power_and_console_need_the_lab(problems: Problems) -> None:
    text = BASE.replace("lab: {kind: emulated}\n", "") + "    console: {kind: qemu}\n"
    assert problems(text) == [
        "tb:17: nodes[0].power.kind: power kind 'qemu' needs the emulated lab, and this "
        "testbed has no lab: section; fix: add 'lab: {kind: emulated}' if this is an "
        "emulated testbed, or use a hardware power kind",
        "tb:18: nodes[0].console.kind: console kind 'qemu' needs the emulated lab, and this "
        "testbed has no lab: section; fix: add 'lab: {kind: emulated}' if this is an "
        "emulated testbed, or use a hardware console kind",
    ]


def test_profile_without_boot_settings(problems: Problems) -> None:
    text = BASE.replace("boot:\n  x86-bios: {kernel: vmlinuz, initrd: initrd.img}\n", "")
    assert problems(text) == [
        "tb:15: nodes[0].profile: boot profile 'x86-bios' needs boot settings (kernel, initrd), "
        "and boot: has no 'x86-bios' entry; fix: add under boot: 'x86-bios: {kernel: ..., "
        "initrd: ...}' with files relative to server.tftp_root"
    ]


def test_boot_settings_without_an_initrd(problems: Problems) -> None:
    assert problems(BASE.replace("{kernel: vmlinuz, initrd: initrd.img}", "{kernel: vmlinuz}")) == [
        "tb:12: boot.x86-bios.initrd: missing, and boot profile 'x86-bios' cannot boot without "
        "it; fix: add 'initrd: <file relative to server.tftp_root>'"
    ]


def test_pi_profiles_need_no_boot_settings(load_text: LoadText) -> None:
    tb = load_text(BASE.replace("profile: x86-bios", "profile: pi3b"))
    assert tb.nodes[0].profile == "pi3b"


def test_root_outside_the_exports(problems: Problems) -> None:
    text = BASE.replace(
        "  root: /pxe/root\n",
        "  root: /srv/root\n  exports: [{path: /pxe, clients: [10.42.0.0/24]}]\n",
    )
    assert problems(text) == [
        "tb:8: server.root: '/srv/root' is not inside any of server.exports, so nodes cannot "
        "mount it; fix: export '/srv/root' or a directory above it under server.exports"
    ]


def test_every_problem_is_reported_at_once(problems: Problems) -> None:
    text = (
        BASE.replace("lab: {kind: emulated}\n", "")
        .replace("tftp_root: /pxe/boot", "tftp_root: pxe/boot")
        .replace("52:54:00:42:00:02", "52:54:00:42:00:0g")
    )
    lines = problems(text)
    assert [line.split(": ")[1] for line in lines] == ["server.tftp_root", "nodes[0].mac"]


def test_checks_still_run_on_the_valid_nodes(problems: Problems) -> None:
    bad = SECOND_NODE.replace("52:54:00:42:00:03", "not-a-mac")
    third = SECOND_NODE.replace("node03", "node04").replace("10.42.0.3", "10.42.0.4")
    third = third.replace("52:54:00:42:00:03", "52:54:00:42:00:02")
    lines = problems(BASE + bad + third)
    assert lines == [
        "tb:20: nodes[1].mac: 'not-a-mac' is not a MAC address; "
        "fix: write six hex pairs separated by colons, like 52:54:00:42:00:03",
        "tb:25: nodes[2].mac: '52:54:00:42:00:02' is also the MAC of nodes[0].mac (line 15); "
        "fix: give every node its own MAC",
    ]


def test_ipmi_testbed_without_lab_loads(load_text: LoadText) -> None:
    text = BASE.replace("lab: {kind: emulated}\n", "").replace(
        "{kind: qemu}", "{kind: ipmi, host: bmc2, user: admin, password_env: NBH_BMC}"
    )
    tb = load_text(
        text + "    console: {kind: sol, host: bmc2, user: admin, "
        "password_env: NBH_BMC, char_delay_ms: 20}\n"
    )
    assert tb.nodes[0].power == IpmiPower(host="bmc2", user="admin", password_env="NBH_BMC")
    assert not tb.is_emulated


def test_problem_lines_have_the_documented_shape(problems: Problems) -> None:
    assert_problem_lines(problems(BASE.replace("ip: 10.42.0.2", "ip: [1, 2]")))


def test_server_address_inside_the_dhcp_range(problems: Problems) -> None:
    text = BASE.replace(
        "interface: br0}", "interface: br0, dhcp_range: [10.42.0.100, 10.42.0.254]}"
    )
    assert problems(text) == [
        "tb:6: server.addresses.cluster: 10.42.0.250 is inside the DHCP range "
        "10.42.0.100-10.42.0.254, so dnsmasq could hand the server's own address to a node; "
        "fix: give the server an address outside the range, or shrink dhcp_range"
    ]


def test_proxy_dhcp_on_two_interfaces_loads(load_text: LoadText) -> None:
    """Seed 004: dnsmasq as proxy DHCP beside the site's own server, on eno1 and eno2."""
    tb = load_text(
        """\
        name: vme
        server:
          name: pxe-server
          hostname: pxeserver
          addresses: {daq: 192.168.2.82, office: 172.16.210.62}
          tftp_root: /var/lib/tftpboot
          root: /var/lib/tftpboot/root
        networks:
          daq: {subnet: 192.168.2.0/24, interface: eno1, dhcp: proxy}
          office: {subnet: 172.16.192.0/18, interface: eno2, dhcp: proxy}
        boot:
          x86-bios: {kernel: vmlinuz, initrd: initrd.img, append: "root=/dev/nfs ip=dhcp"}
        nodes:
          - {name: vmegr, mac: "00:20:38:03:37:6C", ip: 192.168.2.30, network: daq,
             profile: x86-bios, power: {kind: command, on: "vme-power on gr",
             off: "vme-power off gr"}}
          - {name: vmepla, mac: "00:20:38:06:46:AC", ip: 172.16.209.40, network: office,
             profile: x86-bios, power: {kind: command, on: "vme-power on pla",
             off: "vme-power off pla"}}
        """
    )
    assert {n.dhcp for n in tb.networks.values()} == {DhcpMode.PROXY}
    assert tb.network_of(tb.node("vmepla")).interface == "eno2"
    assert tb.server_address(tb.node("vmepla").network) == IPv4Address("172.16.210.62")
    assert tb.node("vmegr").mac == "00:20:38:03:37:6c"


SOL = "    console: {kind: sol, host: 127.0.0.1, port: 6232, user: admin, password_env: BMC_PW}\n"


def test_an_emulated_sol_console_needs_the_nodes_bmc(problems: Problems) -> None:
    lines = problems(BASE + SOL)
    assert len(lines) == 1 and lines[0].startswith("tb:19: nodes[0].console.kind: ")
    assert "sol console is served by its emulated BMC, but its power is 'qemu'" in lines[0]


def test_an_emulated_sol_console_goes_to_the_nodes_bmc(problems: Problems) -> None:
    ipmi = "{kind: ipmi, host: 127.0.0.1, port: 6233, user: admin, password_env: BMC_PW}"
    lines = problems(BASE.replace("{kind: qemu}", ipmi) + SOL)
    assert len(lines) == 1 and lines[0].startswith("tb:19: nodes[0].console.host: ")
    assert "goes to 127.0.0.1:6232, but the node's emulated BMC is 127.0.0.1:6233" in lines[0]
