"""The emulated server module's daemons: dnsmasq, nfs-ganesha and sshd.

Each runs in the foreground inside the lab's namespace, writes its own log under the
lab's ``log/`` directory, and counts as started only once it says so in that log.
dnsmasq's configuration is rendered by :mod:`harness.provision.render` (the same code
that configures a real server module); ganesha stands in for the kernel NFS server, which
cannot be confined to a namespace, and sshd is the server module's real SSH login.
"""

from __future__ import annotations

import ipaddress
import subprocess
from pathlib import Path

from harness.errors import LabError
from harness.lab.layout import LabLayout
from harness.lab.logwait import wait_for_line
from harness.lab.netns import NetworkNamespace
from harness.lab.process import Spawned
from harness.provision.render import (
    DnsmasqPaths,
    render_dnsmasq_conf,
    render_mac_table,
)
from harness.testbed import Network, Testbed

START_TIMEOUT = 20.0


def ipv6_ula(index: int) -> str:
    """The lab-only IPv6 address of network ``index``'s bridge (for router adverts)."""
    return f"fd6e:6268:{index:x}::fe/64"


class Daemon:
    """A server-module daemon: its config file, its log, and the log line that says it
    is ready."""

    name: str
    conf_name: str
    ready: str

    def __init__(self, layout: LabLayout, testbed: Testbed) -> None:
        self.layout = layout
        self.testbed = testbed
        self.conf = layout.etc / self.conf_name
        self.log = layout.log / f"{self.name}.log"

    #: where the daemon's stdout/stderr go (None: ``<name>.out``)
    output: Path | None = None

    def prepare(self) -> None:
        """Write the daemon's configuration from the testbed."""

    def argv(self) -> list[str]:
        raise NotImplementedError

    def start(self, ns: NetworkNamespace) -> Spawned:
        """Configure and run the daemon."""
        self.prepare()
        return self.run(ns)

    def run(self, ns: NetworkNamespace) -> Spawned:
        """Run the daemon with its configuration as it is on disk (a test may have
        changed it on purpose)."""
        return self.spawn(ns, *self.argv(), output=self.output)

    def spawn(self, ns: NetworkNamespace, *argv: str, output: Path | None = None) -> Spawned:
        """Run ``argv`` in the lab namespace; return once the ready line is in the log."""
        offset = self.log.stat().st_size if self.log.exists() else 0
        proc = Spawned(
            self.name, ns.command(*argv), log=output or self.layout.log / f"{self.name}.out"
        )
        wait_for_line(
            self.log,
            self.ready,
            timeout=START_TIMEOUT,
            pid=proc.pid,
            what=self.name,
            start_offset=offset,
        )
        return proc


class Dnsmasq(Daemon):
    """DHCP + TFTP for the lab, configured from the testbed."""

    name = "dnsmasq"
    conf_name = "dnsmasq.conf"
    ready = "TFTP root is"

    def __init__(self, layout: LabLayout, testbed: Testbed) -> None:
        super().__init__(layout, testbed)
        self.mac_table = layout.etc / "dnsmasq.d" / "mac_table"
        self.tftp_root = layout.server_path(testbed.server.tftp_root)

    def write_config(self) -> None:
        extra = [
            f"dhcp-leasefile={self.layout.dir / 'dnsmasq.leases'}",
            # dnsmasq pings an address before offering it (3 s); lab addresses are ours.
            "no-ping",
            "no-hosts",
            "no-resolv",
            # iPXE waits ~15 s for an IPv6 router advert before it gives up on IPv6.
            "enable-ra",
        ]
        for net in self.testbed.networks.values():
            extra.append(f"dhcp-range=::,constructor:{net.interface},ra-only,64,1h")
        text = render_dnsmasq_conf(
            self.testbed,
            DnsmasqPaths(tftp_root=str(self.tftp_root), mac_table=str(self.mac_table)),
            extra=extra,
        )
        self.mac_table.parent.mkdir(parents=True, exist_ok=True)
        self.conf.write_text(text)
        self.mac_table.write_text(render_mac_table(self.testbed))

    def prepare(self) -> None:
        self.write_config()

    def argv(self) -> list[str]:
        return [
            "dnsmasq",
            "--keep-in-foreground",
            f"--conf-file={self.conf}",
            f"--log-facility={self.log}",
            f"--pid-file={self.layout.run / 'dnsmasq.pid'}",
        ]

    def check(self) -> None:
        """``dnsmasq --test`` on the rendered configuration."""
        result = subprocess.run(
            ["dnsmasq", "--test", f"--conf-file={self.conf}"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        if result.returncode != 0:
            raise LabError(f"dnsmasq rejects {self.conf}: {result.stderr.strip()}")


class SiteDhcp(Daemon):
    """Another device's DHCP server, on a network the server module does not serve
    (``dhcp: none``, ``proxy``): the test system's WiFi access point, which gives the Zero
    its address and name, or a site's DHCP beside a proxy server.  A second dnsmasq,
    DHCP only, with a host line per testbed node on that network."""

    ready = "DHCP, IP range"

    def __init__(self, layout: LabLayout, testbed: Testbed, network: Network) -> None:
        self.network = network
        self.name = f"dhcp-{network.name}"
        self.conf_name = f"{self.name}.conf"
        super().__init__(layout, testbed)

    def render(self) -> str:
        net = self.network
        server = self.testbed.server_address(net.name)
        hosts = [h for h in net.subnet.hosts() if h != server]
        lines = [
            f"# stand-in for the DHCP server of network {net.name} - generated by netboot-harness",
            "port=0",
            f"interface={net.interface}",
            "bind-interfaces",
            "no-ping",
            "log-dhcp",
            f"dhcp-leasefile={self.layout.dir / (self.name + '.leases')}",
            f"dhcp-range={hosts[0]},{hosts[-1]},{net.subnet.netmask},infinite",
        ]
        for node in self.testbed.nodes:
            if node.network == net.name:
                lines.append(f"dhcp-host={node.mac},{node.hostname},{node.ip},infinite")
        return "\n".join(lines) + "\n"

    def prepare(self) -> None:
        self.conf.write_text(self.render())

    def argv(self) -> list[str]:
        return [
            "dnsmasq",
            "--keep-in-foreground",
            f"--conf-file={self.conf}",
            f"--log-facility={self.log}",
            f"--pid-file={self.layout.run / (self.name + '.pid')}",
        ]


class BroadcastPing(Daemon):
    """``ping -b`` on a network, as the cluster guide runs it for Pi 3Bs that ignore DHCP
    offers (firmware #764): the pings are the frames that make the boot ROM act."""

    # ping buffers its stdout in a file; this warning (stderr) comes at once on start
    ready = "pinging broadcast address"

    def __init__(self, layout: LabLayout, testbed: Testbed, network: Network) -> None:
        self.network = network
        self.name = f"ping-{network.name}"
        self.conf_name = f"{self.name}.unused"
        super().__init__(layout, testbed)
        self.output = self.log

    def argv(self) -> list[str]:
        broadcast = str(self.network.subnet.broadcast_address)
        return ["ping", "-b", "-q", "-i", "0.5", "-I", self.network.interface, broadcast]


class Ganesha(Daemon):
    """nfs-ganesha (NFSv4 only, so no rpcbind) serving the testbed's exports."""

    name = "ganesha"
    conf_name = "ganesha.conf"
    ready = "NFS SERVER INITIALIZED"

    def render(self) -> str:
        lines = [
            "# nfs-ganesha for the emulated server module - generated by netboot-harness.",
            "NFS_CORE_PARAM {",
            "    Protocols = 4;",
            "    NFS_Port = 2049;",
            "    Enable_NLM = false;",
            "    Enable_RQUOTA = false;",
            "}",
            "NFSV4 {",
            "    Graceless = true;",
            "    Only_Numeric_Owners = true;",
            "    RecoveryBackend = fs;",
            f"    RecoveryRoot = {self.layout.dir / 'ganesha-recovery'};",
            "}",
            "NFS_KRB5 { Active_krb5 = false; }",
            # Files are edited from the host under ganesha's feet (tests break the lab on
            # purpose): without these, ganesha serves stale contents (lab-recipes gotcha 1).
            "MDCACHE { Dir_Chunk = 0; }",
            "EXPORT_DEFAULTS {",
            "    SecType = sys;",
            "    Protocols = 4;",
            "    Transports = TCP;",
            "    Attr_Expiration_Time = 0;",
            "}",
        ]
        for export_id, export in enumerate(self.testbed.server.exports, start=1):
            options = set(export.options)
            access = "RO" if "ro" in options else "RW"
            if "all_squash" in options:
                squash = "All_Squash"
            elif "no_root_squash" in options:
                squash = "No_Root_Squash"
            else:
                squash = "Root_Squash"  # the NFS default, as with the kernel server
            clients = ", ".join(str(c) for c in export.clients)
            lines += [
                "EXPORT {",
                f"    Export_Id = {export_id};",
                f"    Path = {self.layout.server_path(export.path)};",
                f"    Pseudo = {export.path};",
                "    Access_Type = None;",
                f"    Squash = {squash};",
                f"    CLIENT {{ Clients = {clients}; Access_Type = {access}; }}",
                "    FSAL { Name = VFS; }",
                "}",
            ]
        lines.append("LOG { Default_Log_Level = EVENT; }")
        return "\n".join(lines) + "\n"

    def prepare(self) -> None:
        for export in self.testbed.server.exports:
            self.layout.server_path(export.path).mkdir(parents=True, exist_ok=True)
        (self.layout.dir / "ganesha-recovery").mkdir(parents=True, exist_ok=True)
        self.conf.write_text(self.render())

    def argv(self) -> list[str]:
        pid_file = self.layout.run / "ganesha.pid"
        return [
            "ganesha.nfsd",
            "-F",
            "-L",
            str(self.log),
            "-f",
            str(self.conf),
            "-p",
            str(pid_file),
        ]


class Sshd(Daemon):
    """The server module's SSH daemon: provisioning reaches the lab as it would hardware."""

    name = "sshd"
    conf_name = "sshd_config"
    ready = "Server listening on"

    def __init__(self, layout: LabLayout, testbed: Testbed, authorized_keys: Path) -> None:
        super().__init__(layout, testbed)
        self.host_key = layout.keys / "ssh_host_ed25519_key"
        self.authorized_keys = authorized_keys
        self.output = self.log  # sshd -e logs to stderr: its output is its log

    def render(self, authorized_keys: Path) -> str:
        addresses = [str(a) for a in self.testbed.server.addresses.values()]
        port = self.testbed.server.ssh.port if self.testbed.server.ssh else 22
        lines = [
            "# sshd of the emulated server module - generated by netboot-harness.",
            f"Port {port}",
            *(f"ListenAddress {a}" for a in addresses),
            f"HostKey {self.host_key}",
            f"PidFile {self.layout.run / 'sshd.pid'}",
            f"AuthorizedKeysFile {authorized_keys}",
            "PermitRootLogin prohibit-password",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "UsePAM no",
            "Subsystem sftp internal-sftp",
            "LogLevel INFO",
        ]
        return "\n".join(lines) + "\n"

    def prepare(self) -> None:
        if not self.host_key.exists():
            _ssh_keygen(self.host_key)
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation dir
        self.conf.write_text(self.render(self.authorized_keys))

    def argv(self) -> list[str]:
        return ["/usr/sbin/sshd", "-D", "-e", "-f", str(self.conf)]


def _ssh_keygen(path: Path) -> None:
    result = subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "netboot-harness", "-f", str(path)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if result.returncode != 0:
        raise LabError(f"ssh-keygen failed for {path}: {result.stderr.strip()}")


def ensure_key(path: Path) -> Path:
    """An ed25519 key pair at ``path`` (created once per lab)."""
    if not path.exists():
        _ssh_keygen(path)
    return path


def server_interface_address(testbed: Testbed, network: str) -> str:
    """``10.42.0.250/24``: the server's address with its network's prefix length."""
    net = testbed.networks[network]
    addr = testbed.server_address(network)
    return str(ipaddress.IPv4Interface(f"{addr}/{net.subnet.prefixlen}"))
