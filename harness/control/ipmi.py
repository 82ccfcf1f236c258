"""IPMI power through the real ``ipmitool``: chassis power on/off/status, boot device.

The same code drives a server's own BMC and the emulated lab's (OpenIPMI's ``ipmi_sim``,
see :mod:`harness.lab.bmc`); only the command prefix differs: an emulated BMC listens
inside the lab's network namespace, so ipmitool runs under ``ip netns exec <lab>``.

The password is read from the environment variable the testbed names and handed to
ipmitool as ``IPMI_PASSWORD`` (``-E``): never on a command line (``ps`` shows those),
never in an error message, log or report.  Every call is bounded by a timeout; a
failure is one line naming the BMC (``host:port``) and what ipmitool said.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from harness import clock
from harness.control.power import Emit, PowerError, _ignore
from harness.observe.events import PowerEvent
from harness.testbed.power import IpmiPower as IpmiPowerSpec

#: ``ipmitool chassis bootdev`` devices (the IPMI boot device selector).
BOOT_DEVICES = ("none", "pxe", "disk", "safe", "diag", "cdrom", "bios", "floppy")

#: ``chassis bootparam get 5`` "Boot Device Selector" text -> bootdev name.
_SELECTORS = {
    "no override": "none",
    "force pxe": "pxe",
    "force boot from default hard-drive": "disk",
    "force boot from default hard-drive, request safe-mode": "safe",
    "force boot from diagnostic partition": "diag",
    "force boot from cd/dvd": "cdrom",
    "force boot into bios setup": "bios",
    "force boot from floppy/primary removable media": "floppy",
}

DEFAULT_TIMEOUT = 30.0

# What -v adds to stderr on every call, the generic last line, and a warning ipmitool
# recovers from: none of them is the cause of a failure.
_NOISE = re.compile(
    r"^(Loading IANA PEN Registry|Running Get VSO Capabilities|Discovered IPMB address"
    r"|Invalid completion code received: Invalid command|Error: Unable to establish"
    r"|Unable to Get Channel Cipher Suites)"
)
# ipmitool's messages -> what they mean, most specific first.
_CAUSES: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(r"RAKP 2 HMAC is invalid|Activate Session command failed", re.I),
        "login refused: wrong password",
    ),
    (
        re.compile(r"unauthorized name|Invalid user name", re.I),
        "login refused: unknown user",
    ),
    (
        re.compile(r"insufficient privilege|privilege level", re.I),
        "login refused: the user may not use this privilege level",
    ),
    (
        re.compile(r"cipher suite|authentication algorithm|integrity algorithm", re.I),
        "the BMC does not offer this cipher suite (set cipher_suite, e.g. 3 or 17)",
    ),
    (
        re.compile(r"Address lookup for .* failed|Name or service not known", re.I),
        "the BMC's host name does not resolve",
    ),
    (
        re.compile(
            r"Get Auth Capabilities error|Get Channel Authentication Capabilities"
            r"|No response from remote controller",
            re.I,
        ),
        "no answer (BMC unreachable, wrong port, or IPMI over LAN disabled)",
    ),
)


@dataclass(frozen=True)
class Bmc:
    """Where a BMC is and who logs in: the testbed's ``power: {kind: ipmi}``."""

    host: str
    user: str
    password_env: str
    port: int = 623
    interface: str = "lanplus"
    cipher_suite: int | None = None

    @classmethod
    def of(cls, spec: IpmiPowerSpec) -> Bmc:
        return cls(
            host=spec.host,
            user=spec.user,
            password_env=spec.password_env,
            port=spec.port,
            interface=spec.interface,
            cipher_suite=spec.cipher_suite,
        )

    @property
    def address(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def explain_failure(output: str) -> str:
    """The cause of a failed ipmitool call, from what it printed: a known cause, else
    ipmitool's last meaningful line."""
    lines = [ln.strip().removeprefix("> ").strip() for ln in output.splitlines() if ln.strip()]
    meaningful = [ln for ln in lines if not _NOISE.match(ln)]
    for pattern, cause in _CAUSES:
        for line in meaningful or lines:
            if pattern.search(line):
                return f"{cause} (ipmitool: {line})"
    if meaningful:
        return f"ipmitool: {meaningful[-1]}"
    return f"ipmitool: {lines[-1]}" if lines else "ipmitool failed without a message"


class IpmiTool:
    """Runs ``ipmitool`` against one BMC; see the module docstring.

    ``prefix`` goes before ipmitool (``ip netns exec <ns>`` for an emulated BMC);
    ``environ`` is where the password variable is looked up (default: ``os.environ``).
    """

    def __init__(
        self,
        bmc: Bmc,
        *,
        prefix: Sequence[str] = (),
        timeout: float = DEFAULT_TIMEOUT,
        binary: str = "ipmitool",
        environ: Mapping[str, str] | None = None,
        lan_timeout: int | None = None,
        retries: int | None = None,
    ) -> None:
        self.bmc = bmc
        # ipmitool's own per-request timeout (-N) and retries (-R): by default it gives
        # up on a BMC that does not answer after about 20 s
        self.lan_timeout = lan_timeout
        self.retries = retries
        self.prefix = list(prefix)
        self.timeout = timeout
        self.binary = binary
        self.environ = os.environ if environ is None else environ

    def argv(self, *command: str) -> list[str]:
        """The command line: no password on it (``-E`` reads ``IPMI_PASSWORD``)."""
        b = self.bmc
        # -v: on failure ipmitool then says why (RAKP HMAC invalid vs no answer); on
        # success it only adds noise to stderr, which is not read.
        argv = [*self.prefix, self.binary, "-v", "-I", b.interface, "-H", b.host]
        argv += ["-p", str(b.port), "-U", b.user, "-E"]
        if self.lan_timeout is not None:
            argv += ["-N", str(self.lan_timeout)]
        if self.retries is not None:
            argv += ["-R", str(self.retries)]
        if b.cipher_suite is not None and b.interface == "lanplus":
            argv += ["-C", str(b.cipher_suite)]
        return [*argv, *command]

    def _password(self) -> str:
        password = self.environ.get(self.bmc.password_env, "")
        if not password:
            raise PowerError(
                f"ipmi BMC {self.bmc.address}: the password variable ${self.bmc.password_env} "
                f"is not set; fix: export {self.bmc.password_env}=<the BMC password of user "
                f"{self.bmc.user}>"
            )
        return password

    def run(self, *command: str) -> str:
        """Run one ipmitool command; its standard output, or :class:`PowerError`."""
        password = self._password()
        env = dict(self.environ)
        env["IPMI_PASSWORD"] = password
        what = " ".join(command)
        try:
            result = subprocess.run(
                self.argv(*command),
                capture_output=True,
                text=True,
                errors="replace",
                env=env,
                timeout=self.timeout,
                check=False,
            )
        except FileNotFoundError as exc:
            raise PowerError(
                f"ipmi BMC {self.bmc.address}: cannot run {exc.filename or self.binary} "
                "(fix: install the Debian package ipmitool, `make deps`)"
            ) from None
        except subprocess.TimeoutExpired:
            raise PowerError(
                f"ipmi BMC {self.bmc.address}: `{what}` got no answer within "
                f"{self.timeout:g} s (BMC unreachable or too slow)"
            ) from None
        if result.returncode != 0:
            cause = explain_failure(result.stderr + "\n" + result.stdout)
            raise PowerError(
                _scrub(
                    f"ipmi BMC {self.bmc.address}: `{what}` failed as user "
                    f"{self.bmc.user!r}: {cause}",
                    password,
                )
            )
        return _scrub(result.stdout, password)


def _scrub(text: str, secret: str) -> str:
    """``text`` with every occurrence of ``secret`` masked (belt and braces: ipmitool
    does not print it, but an error must never carry it)."""
    return text.replace(secret, "***") if secret else text


class IpmiPower:
    """A node's power through its BMC; implements the power protocol, plus the boot
    device (seed 002: ``chassis bootdev pxe`` before each network boot)."""

    backend = "ipmi"

    def __init__(self, node: str, tool: IpmiTool, emit: Emit = _ignore) -> None:
        self.node = node
        self.tool = tool
        self.emit = emit

    @property
    def bmc(self) -> Bmc:
        return self.tool.bmc

    def _event(self, action: str) -> None:
        self.emit(
            PowerEvent(
                t=clock.now(),
                node=self.node,
                action=action,
                backend=self.backend,
                detail=f"BMC {self.bmc.address}",
            )
        )

    def on(self) -> None:
        self.tool.run("chassis", "power", "on")
        self._event("on")

    def off(self) -> None:
        if self.get():
            self.tool.run("chassis", "power", "off")
            self._event("off")

    def cycle(self) -> None:
        self.off()
        self.on()

    def reset(self) -> None:
        """A hard reset of a running node (``chassis power reset``)."""
        self.tool.run("chassis", "power", "reset")
        self._event("reset")

    def get(self) -> bool:
        out = self.tool.run("chassis", "power", "status")
        match = re.search(r"Chassis Power is (on|off)", out)
        if match is None:
            raise PowerError(
                f"ipmi BMC {self.bmc.address}: unexpected power status {out.strip()[:80]!r}"
            )
        return match.group(1) == "on"

    def bootdev(self, device: str, *, persistent: bool = False, efi: bool = False) -> None:
        """Boot from ``device`` next time (``pxe``, ``disk``, ...)."""
        if device not in BOOT_DEVICES:
            raise PowerError(
                f"ipmi BMC {self.bmc.address}: unknown boot device {device!r}; "
                f"use one of {', '.join(BOOT_DEVICES)}"
            )
        options = [o for o, wanted in (("persistent", persistent), ("efiboot", efi)) if wanted]
        extra = [f"options={','.join(options)}"] if options else []
        self.tool.run("chassis", "bootdev", device, *extra)

    def boot_device(self) -> str:
        """The boot device the BMC holds (``chassis bootparam get 5``), as a bootdev name;
        a selector ipmitool names otherwise is returned as it prints it."""
        out = self.tool.run("chassis", "bootparam", "get", "5")
        match = re.search(r"Boot Device Selector\s*:\s*(.+)", out)
        if match is None:
            raise PowerError(
                f"ipmi BMC {self.bmc.address}: no boot device selector in boot parameter 5"
            )
        selector = match.group(1).strip()
        return _SELECTORS.get(selector.lower(), selector)
