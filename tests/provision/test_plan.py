"""Plans: each managed file compared with the server, a diff per file, and a summary."""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

import pytest

from harness.provision.apply import Provisioner
from harness.provision.errors import ProvisionError
from harness.provision.files import ManagedFile, Reloads
from harness.provision.plan import Change
from harness.provision.transport import LocalTransport

from .conftest import ReloadLog, server_files, sha_tree


def provisioner(server: Path, files: list[ManagedFile], reload_log: ReloadLog) -> Provisioner:
    return Provisioner(LocalTransport(), files, reload_log.reloads(), server / "journal")


def test_new_changed_unchanged_and_summary(server: Path, reload_log: ReloadLog) -> None:
    before = sha_tree(server)
    plan = provisioner(server, server_files(server), reload_log).plan()
    assert [(f.path.name, f.change) for f in plan.files] == [
        ("dnsmasq.conf", Change.CHANGED),
        ("mac_nodes", Change.NEW),
        ("exports", Change.UNCHANGED),
    ]
    assert plan.summary() == "3 files: 1 new, 1 changed, 1 unchanged; would reload dnsmasq"
    assert plan.reloads == ("dnsmasq",)  # named by two files, run once
    assert sha_tree(server) == before  # planning writes nothing, not even the journal
    assert not (server / "journal").exists()


def test_unified_diff_per_file(server: Path, reload_log: ReloadLog) -> None:
    plan = provisioner(server, server_files(server), reload_log).plan()
    conf = f"{server}/etc/dnsmasq.conf"
    nodes = f"{server}/etc/dnsmasq.d/mac_nodes"
    assert plan.files[0].diff == (
        f"diff a{conf} b{conf}\n"
        f"--- a{conf}\n"
        f"+++ b{conf}\n"
        "@@ -1,3 +1,4 @@\n"
        " port=0\n"
        "-interface=eth0\n"
        "+interface=br0\n"
        " tftp-root=/pxe/boot\n"
        "+conf-file=/etc/dnsmasq.d/mac_table\n"
    )
    assert plan.files[1].diff == (
        f"diff a{nodes} b{nodes}\n"
        "new file mode 100644\n"
        f"--- a{nodes}\n"
        f"+++ b{nodes}\n"
        "@@ -0,0 +1 @@\n"
        "+b8:27:eb:fc:6a:59 node35\n"
    )
    assert plan.files[2].diff == ""
    assert plan.diff() == plan.files[0].diff + plan.files[1].diff


def test_missing_final_newline_is_marked(server: Path, reload_log: ReloadLog) -> None:
    f = ManagedFile(server / "etc" / "exports", b"/pxe/root 10.42.0.0/24(rw)", reload=("exports",))
    diff = provisioner(server, [f], reload_log).plan().files[0].diff
    assert diff.endswith("+/pxe/root 10.42.0.0/24(rw)\n\\ No newline at end of file\n")


def test_binary_and_sensitive_content_is_summarised(server: Path, reload_log: ReloadLog) -> None:
    (server / "boot.bin").write_bytes(b"\x7fELF\0\0old")
    (server / "secret.conf").write_text("password=old-secret\n")
    files = [
        ManagedFile(server / "boot.bin", b"\x7fELF\0\0new!"),
        ManagedFile.text(server / "secret.conf", "password=new-secret\n", sensitive=True),
    ]
    binary, secret = provisioner(server, files, reload_log).plan().files
    assert binary.diff.splitlines()[-1] == (
        f"Binary files a{server}/boot.bin and b{server}/boot.bin differ (9 -> 10 bytes,"
        f" sha256 {binary.current.sha256[:12]} -> {binary.desired.sha256[:12]})"  # type: ignore[union-attr]
    )
    assert "secret" not in secret.diff.replace(str(server), "").replace("secret.conf", "")
    assert secret.diff.splitlines()[-1] == (
        f"Content of {server}/secret.conf is not shown (sensitive): 20 -> 20 bytes"
    )


def test_mode_only_change(server: Path, reload_log: ReloadLog) -> None:
    text = (server / "etc" / "exports").read_text()
    f = ManagedFile.text(server / "etc" / "exports", text, mode=0o600)
    (fp,) = provisioner(server, [f], reload_log).plan().files
    assert fp.change is Change.CHANGED
    assert fp.describe() == f"changed   {server}/etc/exports (mode 0644->0600)"
    assert fp.diff == (
        f"diff a{server}/etc/exports b{server}/etc/exports\nold mode 100644\nnew mode 100600\n"
    )


def test_owner_is_compared_only_where_declared(server: Path, reload_log: ReloadLog) -> None:
    if os.geteuid() != 0:
        pytest.skip("files owned by root only when running as root")
    text = (server / "etc" / "exports").read_text()
    p = server / "etc" / "exports"
    free, owned, by_name = (
        ManagedFile.text(p, text),
        ManagedFile.text(p, text, owner=1, group=0),
        ManagedFile.text(p, text, owner="root", group="root"),
    )
    assert provisioner(server, [free], reload_log).plan().files[0].change is Change.UNCHANGED
    fp = provisioner(server, [owned], reload_log).plan().files[0]
    assert fp.change is Change.CHANGED
    assert "old owner 0:0\nnew owner 1:0\n" in fp.diff
    assert provisioner(server, [by_name], reload_log).plan().files[0].change is Change.UNCHANGED
    nobody = ManagedFile.text(p, text, owner="nbhprov-no-such-user")
    with pytest.raises(ProvisionError, match="user 'nbhprov-no-such-user' does not exist on local"):
        provisioner(server, [nobody], reload_log).plan()


def test_a_symlink_is_refused_not_replaced(server: Path, reload_log: ReloadLog) -> None:
    (server / "etc" / "real.conf").write_text("x\n")
    (server / "etc" / "link.conf").symlink_to(server / "etc" / "real.conf")
    f = ManagedFile.text(server / "etc" / "link.conf", "y\n")
    with pytest.raises(ProvisionError) as info:
        provisioner(server, [f], reload_log).plan()
    assert str(info.value).endswith(
        "link.conf on local host "
        + os.uname().nodename
        + " is a symbolic link; manage the file it points to"
    )


def test_bad_input_is_refused_with_the_fix(server: Path, reload_log: ReloadLog) -> None:
    f = ManagedFile.text(server / "a", "x", reload=("nfs",))
    with pytest.raises(ProvisionError) as info:
        provisioner(server, [f], reload_log).plan()
    assert str(info.value) == (
        f"managed file {server}/a names reload action 'nfs', which has no command"
        " (known: dnsmasq, exports); add it to the reloads"
    )
    twice = [ManagedFile.text(server / "a", "x"), ManagedFile.text(server / "a", "y")]
    with pytest.raises(ProvisionError, match="is listed twice"):
        provisioner(server, twice, reload_log).plan()
    inside = ManagedFile.text(server / "journal" / "x.json", "{}")
    with pytest.raises(ProvisionError, match="inside the journal directory"):
        provisioner(server, [inside], reload_log).plan()
    with pytest.raises(ProvisionError, match="needs an absolute path"):
        ManagedFile.text("etc/dnsmasq.conf", "x")
    with pytest.raises(ProvisionError, match="content must be bytes"):
        ManagedFile(PurePosixPath("/etc/x"), "text")  # type: ignore[arg-type]


def test_managed_file_repr_shows_no_content() -> None:
    f = ManagedFile.text("/etc/dnsmasq.conf", "secret-ish content\n", reload=("dnsmasq",))
    assert repr(f) == "ManagedFile('/etc/dnsmasq.conf', 19 bytes, mode=0644, reload=dnsmasq)"


def test_reloads_default_to_a_debian_server_module_and_can_be_overridden() -> None:
    r = Reloads()
    assert dict(r.commands) == {"dnsmasq": "systemctl restart dnsmasq", "exports": "exportfs -ra"}
    lab = r.override({"dnsmasq": "kill -HUP $(cat /run/lab/dnsmasq.pid)"})
    assert lab.command("dnsmasq") == "kill -HUP $(cat /run/lab/dnsmasq.pid)"
    assert lab.command("exports") == "exportfs -ra"
    assert lab.order(frozenset({"exports", "dnsmasq"})) == ("dnsmasq", "exports")


def test_a_new_file_in_a_missing_directory_is_refused_before_anything_is_written(
    server: Path, reload_log: ReloadLog
) -> None:
    files = [*server_files(server), ManagedFile.text(server / "pxe" / "boot" / "cmdline.txt", "x")]
    tree = sha_tree(server)
    with pytest.raises(ProvisionError) as info:
        provisioner(server, files, reload_log).apply()
    assert str(info.value) == (
        f"the directory of managed file {server}/pxe/boot/cmdline.txt on"
        f" {LocalTransport().where} does not exist; create it on the server (or fix the path)"
    )
    assert sha_tree(server) == tree
