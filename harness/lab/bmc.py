"""The emulated BMC of an IPMI-powered node: OpenIPMI's ``ipmi_sim``, as a lab daemon.

One ``ipmi_sim`` per node whose testbed power is ``{kind: ipmi}``, inside the lab's
network namespace, listening on the testbed's ``host`` and ``port`` (127.0.0.1 is the
namespace's own loopback), with the testbed's user and the password from the variable
``password_env`` names; RMCP+ (``lanplus``) and IPMI 1.5 (``lan``, MD5) logins.  The real
``ipmitool`` talks to it exactly as to a server's BMC.

ipmi_sim keeps no chassis state itself: its ``chassis_control`` program,
:mod:`harness.lab.powershim`, switches the node's QEMU through a second QMP monitor and
keeps the boot device.  The configuration holds the password, as a BMC's own storage
does: it is written with mode 0600 under the lab directory, which goes with the lab.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import shlex
import socket
import sys
from pathlib import Path

from harness.clock import Deadline
from harness.errors import LabError
from harness.lab.host import BMC_TOOLS, require_tools
from harness.lab.layout import LabLayout
from harness.lab.logwait import tail
from harness.lab.netns import NetworkNamespace
from harness.lab.process import Spawned, alive, wait_exit
from harness.lab.services import START_TIMEOUT, Daemon
from harness.testbed import Node, Testbed
from harness.testbed.power import IpmiPower as IpmiPowerSpec

#: An RMCP/ASF presence ping (IANA 4542, message 0x80); a BMC answers with a pong (0x40).
ASF_PING = bytes([0x06, 0x00, 0xFF, 0x06, 0x00, 0x00, 0x11, 0xBE, 0x80, 0x00, 0x00, 0x00])
ASF_PONG_TYPE = 0x40

# IPMI user names are 16 bytes; passwords 20 (IPMI 2.0) or 16 (IPMI 1.5).
MAX_USER = 16
#: TCP port (on the lab namespace's loopback) of node number i's serial line, for SOL.
SOL_SERIAL_BASE = 7100
MAX_PASSWORD = {"lanplus": 20, "lan": 16}


def _config_string(value: str, what: str, limit: int) -> str:
    """``value`` quoted for ipmi_sim's configuration (it has no escapes)."""
    if not value or len(value) > limit or '"' in value or not value.isprintable():
        raise LabError(
            f"the emulated BMC cannot take this {what}: it must be 1-{limit} printable "
            'characters without "'
        )
    return f'"{value}"'


class EmulatedBmc(Daemon):
    """``ipmi_sim`` for one node; ready once it answers an RMCP presence ping."""

    ready = "(answers an RMCP presence ping)"

    def __init__(self, layout: LabLayout, testbed: Testbed, node: Node) -> None:
        if not isinstance(node.power, IpmiPowerSpec):
            raise LabError(f"{node.name} is not powered through IPMI")
        self.node = node
        self.spec: IpmiPowerSpec = node.power
        self.name = f"bmc-{node.name}"
        self.conf_name = f"{self.name}.lan.conf"
        super().__init__(layout, testbed)
        self.output = self.log  # ipmi_sim's own output (start-up errors)
        self.emu = layout.etc / f"{self.name}.emu"
        self.state_dir = layout.dir / "bmc" / node.name
        self.bootdev = self.state_dir / "bootdev"
        self.power_log = layout.log / f"{self.name}.power.log"
        self.qmp_socket = layout.node_socket(node.name, "bmcqmp")

    @property
    def address(self) -> str:
        return f"{self.spec.host}:{self.spec.port}"

    def password(self) -> str:
        password = os.environ.get(self.spec.password_env, "")
        if not password:
            raise LabError(
                f"the emulated BMC of {self.node.name} needs its password in "
                f"${self.spec.password_env} (the testbed's password_env); fix: export "
                f"{self.spec.password_env}=<a lab-only password>"
            )
        return password

    def listen_address(self) -> str:
        """The BMC's address: it must exist inside the lab namespace."""
        try:
            addr = ipaddress.ip_address(self.spec.host)
        except ValueError:
            addr = None
        usable = {str(a) for a in self.testbed.server.addresses.values()}
        if addr is None or not (addr.is_loopback or str(addr) in usable):
            raise LabError(
                f"{self.node.name}: an emulated BMC listens inside the lab namespace, on "
                f"127.0.0.1 or a server address, not {self.spec.host!r}; fix: "
                "power: {kind: ipmi, host: 127.0.0.1, port: 6230, ...}"
            )
        return str(addr)

    def chassis_control(self) -> str:
        """The command ipmi_sim runs for power and boot-device requests (it appends
        ``get ...`` / ``set ...``)."""
        argv = [
            sys.executable,
            "-m",
            "harness.lab.powershim",
            "--node",
            self.node.name,
            "--qmp",
            str(self.qmp_socket),
            "--bootdev",
            str(self.bootdev),
            "--log",
            str(self.power_log),
            "0x20",
        ]
        return shlex.join(argv)

    def render(self, password: str) -> str:
        spec = self.spec
        user = _config_string(spec.user, "user name", MAX_USER)
        secret = _config_string(password, "password", MAX_PASSWORD[spec.interface])
        control = self.chassis_control()
        if '"' in control:
            raise LabError(f"the emulated BMC's chassis command cannot hold '\"': {control}")
        guid = hashlib.md5(self.node.mac.encode(), usedforsecurity=False).hexdigest()  # per node
        auths = "md5"  # IPMI 1.5 logins; RMCP+ (lanplus) uses its own RAKP exchange
        lines = [
            f"# Emulated BMC of {self.node.name} - generated by netboot-harness.",
            "# Holds the BMC password (mode 0600), as a real BMC's storage does.",
            f'name "{self.name}"',
            "set_working_mc 0x20",
            "  startlan 1",
            f"    addr {self.listen_address()} {spec.port}",
            "    priv_limit admin",
            f"    allowed_auths_callback {auths}",
            f"    allowed_auths_user {auths}",
            f"    allowed_auths_operator {auths}",
            f"    allowed_auths_admin {auths}",
            f"    guid {guid}",
            "  endlan",
            f'  chassis_control "{control}"',
            f"  user 2 true {user} {secret} admin 10 {auths}",
        ]
        if self.node.console.kind == "sol":
            # serial-over-LAN to the node's serial port, which QEMU serves on TCP
            port = sol_serial_port(self.testbed, self.node)
            lines.append(f'  sol "tcp:127.0.0.1:{port}" 115200')
        return "\n".join(lines) + "\n"

    @staticmethod
    def render_emu() -> str:
        """The simulated hardware: one BMC at IPMB address 0x20, nothing else."""
        return (
            "# the BMC management controller - generated by netboot-harness\n"
            "mc_setbmc 0x20\n"
            "mc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02\n"
            "mc_enable 0x20\n"
        )

    def prepare(self) -> None:
        require_tools(BMC_TOOLS)
        text = self.render(self.password())
        self.conf.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(self.conf, 0o600)  # also when the file was there with another mode
        self.emu.write_text(self.render_emu())
        self.state_dir.mkdir(parents=True, exist_ok=True)

    def argv(self) -> list[str]:
        # -n: no console on stdin/stdout (the lab has none to give it)
        return [
            "ipmi_sim",
            "-n",
            "-c",
            str(self.conf),
            "-f",
            str(self.emu),
            "-s",
            str(self.state_dir),
        ]

    def spawn(self, ns: NetworkNamespace, *argv: str, output: Path | None = None) -> Spawned:
        """Run ipmi_sim; return once it answers on its port.  It writes no line of its
        own when ready (its start-up output precedes binding), so it is asked."""
        proc = Spawned(self.name, ns.command(*argv), log=output or self.log)
        try:
            wait_answering(ns, self.listen_address(), self.spec.port, proc.pid, self.name, self.log)
        except BaseException:
            proc.stop(grace=2.0)
            raise
        return proc


def wait_answering(
    ns: NetworkNamespace,
    host: str,
    port: int,
    pid: int,
    what: str,
    log: Path,
    timeout: float = START_TIMEOUT,
) -> None:
    """Wait until the BMC at ``host:port`` in ``ns`` answers an RMCP presence ping.

    A port nobody listens on refuses at once (ICMP), so each try ends on an answer or a
    refusal; between tries the wait is on the process, which ends it if ipmi_sim dies.
    """
    deadline = Deadline(timeout)
    sock = ns.open_socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.connect((host, port))
        while True:
            if not alive(pid):
                raise LabError(f"{what} exited during start-up; its log ends:\n{tail(log)}")
            if deadline.expired():
                raise LabError(
                    f"{what} did not answer on {host}:{port} within {timeout:g} s; "
                    f"its log ends:\n{tail(log)}"
                )
            try:
                sock.send(ASF_PING)
                sock.settimeout(max(0.01, min(0.5, deadline.remaining())))
                reply = sock.recv(512)
            except ConnectionRefusedError:
                wait_exit(pid, min(0.05, deadline.remaining()))  # not bound yet
                continue
            except TimeoutError:
                continue
            if len(reply) > 8 and reply[3] == 0x06 and reply[8] == ASF_PONG_TYPE:
                return
    finally:
        sock.close()


def bmc_daemons(layout: LabLayout, testbed: Testbed) -> list[EmulatedBmc]:
    """One emulated BMC per IPMI-powered node of an emulated testbed; two nodes cannot
    share one address."""
    if not testbed.is_emulated:
        return []
    bmcs = [EmulatedBmc(layout, testbed, n) for n in testbed.nodes if n.power.kind == "ipmi"]
    seen: dict[str, str] = {}
    for bmc in bmcs:
        other = seen.setdefault(bmc.address, bmc.node.name)
        if other != bmc.node.name:
            raise LabError(
                f"nodes {other} and {bmc.node.name} both have their BMC at {bmc.address}; "
                "fix: give each node its own port (6230, 6231, ...)"
            )
    return bmcs


def sol_serial_port(testbed: Testbed, node: Node) -> int:
    """Where an emulated node's serial line waits for its BMC (``console: {kind: sol}``)."""
    return SOL_SERIAL_BASE + testbed.nodes.index(node)
