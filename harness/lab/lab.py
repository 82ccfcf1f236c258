"""The emulated lab: a server module in a network namespace, and QEMU nodes on its taps.

``EmulatedLab(testbed).up()`` builds (or takes from the cache) the node images, lays out
the server module's filesystem as the testbed names it (``/pxe/boot``, ``/pxe/root``, ...
under the lab directory), creates the namespace with one bridge per testbed network and
one tap per node, and starts dnsmasq, nfs-ganesha and sshd.  ``down()`` removes all of
it.  A lab left behind by a crashed run is found through its state file and removed
when the next one starts.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import shutil
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path, PurePosixPath
from typing import Any

import filelock

from harness.errors import LabError
from harness.lab import relays
from harness.lab.accel import choose_accel
from harness.lab.bmc import sol_serial_port
from harness.lab.host import require_root, require_tools
from harness.lab.layout import LabLayout, run_base
from harness.lab.netns import NetworkNamespace
from harness.lab.process import ProcessRecord, Spawned, terminate_all
from harness.lab.qemu import QemuConfig, QemuMachine, aarch64_config
from harness.lab.serverfs import PI_ZERO, ServerFilesystem, node_arch
from harness.lab.services import (
    daemons_for,
    ensure_key,
    ipv6_ula,
    server_interface_address,
)
from harness.lab.state import LabState, Owner
from harness.provision.apply import Provisioner
from harness.provision.files import Reloads
from harness.provision.server import Current, ServerPaths, ServerSetup, server_setup
from harness.provision.transport import SshTarget, SshTransport
from harness.testbed import Node, Testbed

Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


def default_lab_name(testbed: Testbed) -> str:
    cleaned = "".join(c if c.isalnum() else "-" for c in testbed.name.lower()).strip("-")
    return (cleaned or "lab")[:20]


def testbed_digest(testbed: Testbed) -> str:
    if testbed.path and Path(testbed.path).exists():
        return hashlib.sha256(Path(testbed.path).read_bytes()).hexdigest()
    return ""


class EmulatedLab:
    """One emulated lab for one testbed."""

    def __init__(
        self,
        testbed: Testbed,
        name: str | None = None,
        *,
        progress: Progress | None = None,
        persistent: bool = False,
        cache_dir: Path | None = None,
        provision: bool = True,
        run: str | None = None,
    ) -> None:
        if not testbed.is_emulated:
            raise LabError(
                f"{testbed.path}: testbed {testbed.name!r} has no `lab:` section, so it "
                "describes real hardware; the emulated lab needs an emulated testbed "
                "such as devices/emulated.yaml"
            )
        self.testbed = testbed
        self.layout = LabLayout(name or default_lab_name(testbed))
        self.ns = NetworkNamespace(self.layout.namespace)
        self.client = NetworkNamespace(self.layout.client_namespace)
        self.progress = progress or _quiet
        self.persistent = persistent
        self.cache_dir = cache_dir
        # False: leave the server module unconfigured (dnsmasq and NFS not running), to
        # provision it from empty as a test of provisioning itself
        self.provision = provision
        self.accel = "tcg"
        self.accel_reason = ""
        self.attached = False  # True when reusing a lab someone else brought up
        # The test run this session belongs to (pytest-xdist's testrunuid): the workers
        # of one run share one lab; the first brings it up, the last tears it down.
        self.run = run
        self.shared = False  # True when a worker of our run brought the lab up
        self._state: LabState | None = None
        self._machines: dict[str, QemuMachine] = {}
        self.images: dict[str, Any] = {}
        self.daemons: dict[str, Any] = {}
        self._services: list[Spawned] = []
        self.ssh_key = self.layout.keys / "harness_ed25519"

    # --- lifecycle ----------------------------------------------------------------------

    def _lock(self, timeout: float = 120) -> filelock.FileLock:
        return lab_lock(self.layout.name, timeout=timeout)

    def up(self) -> EmulatedLab:
        require_root()
        require_tools()
        # Workers of one run wait here while the first one builds the lab.
        with self._lock(timeout=UP_LOCK_TIMEOUT):
            existing = LabState.load(self.layout.state_file)
            if existing is not None:
                if self._can_attach(existing):
                    self.progress(
                        f"lab {self.layout.name}: reusing the lab brought up with `harness lab up`"
                    )
                    self._attach(existing)
                    return self
                if self._can_share(existing):
                    self._share(existing)
                    return self
                user = existing.live_user()
                if user is not None:
                    raise LabError(
                        f"lab {self.layout.name} is in use by pid {user.pid}; "
                        "fix: wait for that run, or use another lab name (--lab-name)"
                    )
                what = "stale lab left by a crashed run" if existing.is_stale() else "lab"
                self.progress(f"lab {self.layout.name}: removing {what} ({existing.namespace})")
                self._teardown(existing)
            elif self.ns.exists():
                self.progress(
                    f"lab {self.layout.name}: removing namespace {self.ns.name} left without state"
                )
                self._teardown(None)
            self._state = LabState(
                lab=self.layout.name,
                namespace=self.ns.name,
                dir=str(self.layout.dir),
                testbed=str(Path(self.testbed.path).resolve()) if self.testbed.path else "",
                testbed_digest=testbed_digest(self.testbed),
                owner=None if self.persistent else Owner.me(),
                run=None if self.persistent else self.run,
                users=[] if self.persistent else [Owner.me()],
            )
            self._state.save(self.layout.state_file)
            try:
                self._build()
            except BaseException:
                self._teardown(self._state)
                self._state = None
                raise
            LabState.update(self.layout.state_file, lambda state: setattr(state, "ready", True))
        return self

    def _can_attach(self, state: LabState) -> bool:
        return (
            not self.persistent
            and state.owner is None
            and state.ready
            and state.testbed_digest == testbed_digest(self.testbed)
            and self.ns.exists()
            and all(p.is_running() for p in state.processes if not p.name.startswith("qemu-"))
        )

    def _can_share(self, state: LabState) -> bool:
        """The lab is up for our own run (another xdist worker brought it up)."""
        return (
            self.run is not None
            and state.run == self.run
            and state.ready
            and state.live_user() is not None
            and state.testbed_digest == testbed_digest(self.testbed)
            and self.ns.exists()
        )

    def _share(self, state: LabState) -> None:
        me = Owner.me()

        def join(st: LabState) -> None:
            st.users = [u for u in st.users if u != me and u.alive()] + [me]

        self._state = LabState.update(self.layout.state_file, join) or state
        self.shared = True
        self.daemons = daemons_for(self.layout, self.testbed)
        self._load_images()
        self.progress(
            f"lab {self.layout.name}: sharing the lab of this run "
            f"({len(self._state.users)} users)"
        )

    def _attach(self, state: LabState) -> None:
        self.attached = True
        self._state = state
        self._load_images()

    def _load_images(self) -> None:
        """The node images the testbed's nodes need (built once, then from the cache),
        and the accelerator: KVM only if a real x86 boot works with it; aarch64 nodes on
        this x86 host always run under TCG."""
        import harness.images

        arches = {node_arch(n) for n in self.testbed.nodes}
        if "x86_64" in arches:
            ensure_x86_images = harness.images.ensure_x86_images
            self.images["x86_64"] = ensure_x86_images(self.cache_dir, progress=self.progress)
            wanted = self.testbed.lab.accel if self.testbed.lab else "auto"
            x86 = self.images["x86_64"]
            self.accel, self.accel_reason = choose_accel(
                str(wanted), x86.kernel, x86.initrd, run_base() / "accel" / "verdict.json"
            )
        if "aarch64" in arches:
            self.images["aarch64"] = harness.images.ensure_arm64_images(
                self.cache_dir, progress=self.progress
            )

    def _build(self) -> None:
        self._load_images()
        if self.accel_reason:
            self.progress(f"lab {self.layout.name}: accelerator {self.accel} ({self.accel_reason})")
        self.layout.create_dirs()
        ensure_key(self.ssh_key)
        public_key = Path(f"{self.ssh_key}.pub").read_text()
        self.serverfs = ServerFilesystem(
            self.layout, self.testbed, self.images, public_key, self.progress
        )
        self.serverfs.create()
        relays.install(self.layout, self.testbed)  # powerall.py and its relay board
        self.progress(f"lab {self.layout.name}: namespace {self.ns.name}")
        self.ns.create()
        for index, net in enumerate(self.testbed.networks.values()):
            self.ns.add_bridge(
                net.interface,
                server_interface_address(self.testbed, net.name),
                ipv6=ipv6_ula(index),
            )
        for net in self.testbed.networks.values():
            # A Pi 3B's ROM stops answering ARP once TFTP starts.  The server's entry for
            # it (put there by dnsmasq with the offer) is used unconfirmed: DELAY, then
            # unicast probes after delay_first_probe_time, then FAILED and dropped
            # replies.  On hardware the TFTP phase ends first; emulated (a 33 MB kernel in
            # 512-byte blocks, TCG, a shared host) it may not, so probe only after a boot.
            self.ns.sysctl(f"net.ipv4.neigh.{net.interface}.delay_first_probe_time", "300")
        self.client = NetworkNamespace(self.layout.client_namespace)
        self.client.create()
        for index, net in enumerate(self.testbed.networks.values()):
            self.ns.add_veth(
                f"nbv{index}",
                net.interface,
                self.client,
                f"eth{index}",
                f"{client_address(self.testbed, net.name)}/{net.subnet.prefixlen}",
            )
        for index, node in enumerate(self.testbed.nodes):
            self.ns.add_tap(
                self.layout.tap_name(index), self.testbed.networks[node.network].interface
            )
        # sshd's StrictModes refuses key files below a world-writable directory (/var/tmp)
        authorized = self.layout.run / "authorized_keys"
        authorized.write_text(public_key)
        self.daemons = daemons_for(self.layout, self.testbed)
        # The surroundings first: the server module's sshd, other devices' DHCP, the
        # broadcast ping.  dnsmasq and the NFS server are started by provisioning.
        for name, daemon in self.daemons.items():
            if name not in SERVER_DAEMONS:
                self.progress(f"lab {self.layout.name}: starting {name}")
                self._add_service(daemon.start(self.ns))
        if not self.provision:
            self.progress(f"lab {self.layout.name}: server module left unprovisioned")
            return
        self.progress(f"lab {self.layout.name}: provisioning the server module over SSH")
        result = self.provisioner().apply()
        self.progress(f"lab {self.layout.name}: {result.summary()}")
        result.raise_for_status()

    # --- the server module, provisioned like hardware -----------------------------------

    def server_setup(self, current: Current | None = None) -> ServerSetup:
        """What provisioning manages on the emulated server module: the testbed's files,
        below the lab directory, plus what only the lab needs in dnsmasq.conf; reloads
        are ``harness lab reload`` run over SSH on the server module."""
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
            if str(net.dhcp) != "none":
                extra.append(f"dhcp-range=::,constructor:{net.interface},ra-only,64,1h")
        reloads = Reloads(
            {"dnsmasq": self.reload_command("dnsmasq"), "exports": self.reload_command("ganesha")}
        )
        return server_setup(
            self.testbed,
            paths=ServerPaths(PurePosixPath(self.layout.server_dir)),
            reloads=reloads,
            dnsmasq_extra=extra,
            conf_dir=None,
            current=current,
        )

    def reload_command(self, daemon: str) -> str:
        env = " ".join(
            f"{k}={shlex.quote(v)}"
            for k in ("NBH_LAB_DIR", "NBH_RUN_DIR")
            if (v := os.environ.get(k))
        )
        python = shlex.quote(sys.executable)
        cli = f"{python} -m harness.cli lab reload {daemon} --name {self.layout.name}"
        return f"{env} {cli}".strip()

    def ssh_target(self) -> SshTarget:
        """The server module's sshd, as provisioning logs in to it."""
        first = next(iter(self.testbed.networks))
        return SshTarget(
            host=str(self.testbed.server_address(first)),
            user="root",
            key_file=self.ssh_key,
            host_keys="accept-new",
            known_hosts=self.layout.keys / "known_hosts",
        )

    def provisioner(self, progress: Callable[[Any], None] | None = None) -> Provisioner:
        transport = SshTransport(self.ssh_target(), sock_factory=self.ns.open_socket)
        setup = self.server_setup(current=transport.read)
        return Provisioner(
            transport,
            setup.files,
            setup.reloads,
            setup.journal_dir,
            read_whole_dirs=(),
            progress=progress,
        )

    def restart(self, name: str) -> None:
        """Stop a daemon by PID and start it again from its configuration as it is on
        disk now (fault tests edit it on purpose)."""
        if name not in self.daemons:
            known = ", ".join(self.daemons)
            raise LabError(f"lab {self.layout.name} has no daemon {name!r}; daemons: {known}")
        reload_daemon(self.layout, self.testbed, name, prepare=False)

    def _add_service(self, proc: Spawned) -> None:
        self._services.append(proc)
        if proc.record:
            self._record(proc.record)

    def _record(self, record: ProcessRecord) -> None:
        LabState.update(self.layout.state_file, lambda state: state.record(record))

    def down(self) -> None:
        """Remove everything this lab created.  A reused lab is left as it was found, and
        so is one this object never brought up (``up`` refused: another session owns
        it), whatever its name."""
        with self._lock():
            for machine in self._machines.values():
                machine.stop()
            self._machines.clear()
            if self.attached or self._state is None:
                return
            state = LabState.load(self.layout.state_file)
            if state is not None and self.run is not None and state.run == self.run:
                me = Owner.me()
                if any(u != me and u.alive() for u in state.users):
                    # other workers of our run still use it: the last one removes it

                    def leave(st: LabState) -> None:
                        st.users = [u for u in st.users if u != me and u.alive()]

                    LabState.update(self.layout.state_file, leave)
                    self._state = None
                    return
            else:
                owner = state.owner if state is not None else None
                if owner is not None and owner.pid != os.getpid() and owner.alive():
                    return  # no longer ours: someone removed ours and brought up their own
            self._teardown(state or self._state)
            self._state = None

    def _teardown(self, state: LabState | None) -> None:
        for proc in self._services:
            proc.stop(grace=1.0)
        self._services.clear()
        remove_lab(self.layout, state)

    def __enter__(self) -> EmulatedLab:
        return self.up()

    def __exit__(self, *exc: object) -> None:
        self.down()

    # --- use ----------------------------------------------------------------------------

    def machine(self, node: Node) -> QemuMachine:
        """The QEMU machine of ``node`` (not started).  A netbooting Pi's machine gets
        its kernel later, from what its emulated boot ROM fetched."""
        if node.name not in self._machines:
            tap = self.layout.tap_name(self.testbed.nodes.index(node))
            # a node powered otherwise (powerall, ipmi) gets what its kind of board has:
            # 512 MiB for a Pi (a Zero's RAM), 256 MiB for an x86 node
            default = 512 if node_arch(node) == "aarch64" else 256
            memory = getattr(node.power, "memory_mb", default)
            if node_arch(node) == "x86_64":
                config = QemuConfig(
                    mac=node.mac,
                    tap=tap,
                    accel=self.accel,
                    memory_mb=memory,
                    nic=getattr(node.power, "nic", "virtio-net-pci"),
                )
            else:
                machine = getattr(node.power, "machine", None) or "virt"
                config = aarch64_config(node.mac, tap, memory_mb=memory, machine=machine)
                if node.profile == PI_ZERO:
                    images = self.images["aarch64"]
                    config = replace(
                        config,
                        kernel=images.kernel,
                        initrd=images.initrd,
                        disk=self.layout.dir / "disks" / f"{node.name}.img",
                        append="console=ttyAMA0,115200 root=/dev/vda rw rootwait",
                    )
            if node.power.kind == "ipmi":
                config = replace(config, bmc_monitor=True)  # its emulated BMC switches it
                if node.console.kind == "sol":  # and its BMC reads the serial port
                    config = replace(config, console_port=sol_serial_port(self.testbed, node))
            self._machines[node.name] = QemuMachine(
                node.name,
                config,
                self.ns,
                self.layout.run,
                self.layout.log / f"qemu-{node.name}.log",
                on_start=self._record_machine,
            )
        return self._machines[node.name]

    def _record_machine(self, record: ProcessRecord) -> None:
        if not self.attached:
            self._record(record)

    def tftp_path(self, name: str) -> Path:
        """A file in the server module's TFTP root, on this host."""
        return self.layout.server_path(self.testbed.server.tftp_root) / name

    @property
    def dnsmasq_log(self) -> Path:
        return self.layout.log / "dnsmasq.log"


#: Daemons of the server module itself, started and restarted through provisioning.
SERVER_DAEMONS = frozenset({"dnsmasq", "ganesha"})


def reload_daemon(
    layout: LabLayout, testbed: Testbed, name: str, *, prepare: bool = True
) -> ProcessRecord:
    """(Re)start daemon ``name`` of lab ``layout``: stop the recorded process by PID,
    configure (``prepare``) and run it, record the new PID in the state file.

    This is what the emulated server module does for ``systemctl restart dnsmasq`` and
    ``exportfs -ra``; ``harness lab reload`` runs it over SSH.  The daemon runs in its
    own session, so it outlives the SSH command that started it.
    """
    daemons = daemons_for(layout, testbed)
    if name not in daemons:
        raise LabError(f"lab {layout.name} has no daemon {name!r}; daemons: {', '.join(daemons)}")
    daemon = daemons[name]
    state = LabState.load(layout.state_file)
    if state is not None:
        terminate_all([p for p in state.processes if p.name == name], grace=5.0)
    ns = NetworkNamespace(layout.namespace)
    proc = daemon.start(ns) if prepare else daemon.run(ns)
    if proc.record is None:
        raise LabError(f"{name} exited right after it was started; see {daemon.log}")
    record = proc.record
    LabState.update(layout.state_file, lambda st: st.record(record))
    _running.append(proc)  # keep the Popen: it reaps the process when it ends
    return record


_running: list[Spawned] = []


def client_address(testbed: Testbed, network: str) -> str:
    """The lab client's address on ``network``: the highest one no one else uses."""
    net = testbed.networks[network]
    used = {testbed.server_address(network), *(n.ip for n in testbed.nodes)}
    low, high = net.dhcp_range if net.dhcp_range else (None, None)
    for host in reversed(list(net.subnet.hosts())):
        if host in used or (low is not None and high is not None and low <= host <= high):
            continue
        return str(host)
    raise LabError(f"network {network} has no address left for the lab's client")


def reload_by_name(lab_name: str, daemon: str) -> ProcessRecord:
    """``harness lab reload``: the lab's testbed comes from its state file."""
    from harness.testbed import load_testbed

    layout = LabLayout(lab_name)
    state = LabState.load(layout.state_file)
    if state is None or not state.testbed:
        raise LabError(f"lab {lab_name} is not up (no state file {layout.state_file})")
    return reload_daemon(layout, load_testbed(state.testbed), daemon)


def remove_lab(layout: LabLayout, state: LabState | None) -> None:
    """Remove a lab from what its state file records, and whatever still runs in its
    namespace; works for a lab left by a crashed run as for our own."""
    ns = NetworkNamespace(layout.namespace)
    client = NetworkNamespace(layout.client_namespace)
    terminate_all(list(state.processes) if state else [], grace=5.0)
    # Anything else still inside the namespace was started by this lab (a QEMU whose
    # record a crash kept from being written): stop those PIDs too.
    leftovers = []
    for pid in ns.pids():
        try:
            leftovers.append(ProcessRecord.of(f"pid {pid}", pid))
        except LabError:
            pass  # exited meanwhile
    terminate_all(leftovers, grace=2.0)
    ns.delete()
    client.delete()
    shutil.rmtree(layout.run, ignore_errors=True)
    shutil.rmtree(layout.dir, ignore_errors=True)
    layout.state_file.unlink(missing_ok=True)
    Path(str(layout.state_file) + ".lock").unlink(missing_ok=True)


def remove_lab_by_name(name: str, *, force: bool = False) -> None:
    """``harness lab down``: remove lab ``name`` using only its state file.

    A lab owned by a running test session is refused (that session removes it when it
    ends; removing it under its feet breaks the run) unless ``force``.
    """
    layout = LabLayout(name)
    with lab_lock(name):
        state = LabState.load(layout.state_file)
        user = state.live_user() if state is not None else None
        if user is not None and not force:
            raise LabError(
                f"lab {name} belongs to a running session (pid {user.pid}), which "
                "removes it when it ends; fix: wait for it, or use --force"
            )
        remove_lab(layout, state)


def lab_lock(name: str, timeout: float = 120) -> filelock.FileLock:
    """Serialises bringing a lab up and down between processes."""
    locks = run_base() / "locks"
    locks.mkdir(parents=True, exist_ok=True)
    return filelock.FileLock(str(locks / f"{name}.lock"), timeout=timeout)


#: How long ``up`` waits for the lab lock: another worker of the run may be building the
#: lab (images from the cache, the server module provisioned over SSH) meanwhile.
UP_LOCK_TIMEOUT = 900.0


def lab_status(name: str) -> dict[str, Any]:
    """What is known about lab ``name``: its state file and what is actually running."""
    layout = LabLayout(name)
    state = LabState.load(layout.state_file)
    ns = NetworkNamespace(layout.namespace)
    return {
        "lab": name,
        "state_file": str(layout.state_file) if state else None,
        "namespace": ns.name if ns.exists() else None,
        "links": ns.link_names() if ns.exists() else [],
        "owner": _owner_pid(state),
        "stale": bool(state and state.is_stale()),
        "ready": bool(state and state.ready),
        "processes": [
            {"name": p.name, "pid": p.pid, "running": p.is_running()}
            for p in (state.processes if state else [])
        ],
        "pids_in_namespace": ns.pids(),
    }


def known_labs() -> list[str]:
    """Labs with a state file or a namespace of ours on this host."""
    from harness.lab.layout import NAMESPACE_PREFIX
    from harness.lab.netns import list_namespaces

    names = {p.stem for p in run_base().glob("*.json")} if run_base().exists() else set()
    names |= {
        n[len(NAMESPACE_PREFIX) :] for n in list_namespaces() if n.startswith(NAMESPACE_PREFIX)
    }
    return sorted(names)


def _owner_pid(state: LabState | None) -> int | None:
    """The pid of the session a lab belongs to: a worker of its run still using it, or
    the one that brought it up."""
    if state is None or state.owner is None:
        return None
    user = state.live_user()
    return (user or state.owner).pid
