"""What a canary plans to change: paths, commands and the server's configuration files."""

from __future__ import annotations

import subprocess
from pathlib import Path, PurePosixPath

import pytest

from harness.canary.plan import (
    UNIQUE_ROOT,
    boot_copy_command,
    canary_node,
    canary_paths,
    config_files,
    dnsmasq_with_unique_root,
    exchange_command,
    rsync_command,
)
from harness.canary.state import CanaryError
from harness.provision.server import DNSMASQ_CONF, EXPORTS, ServerPaths
from harness.testbed import Testbed

P = PurePosixPath


def test_the_default_candidate_is_the_seeds_name(testbed: Testbed) -> None:
    paths = canary_paths(testbed, canary_node(testbed, "node02"))
    assert paths.candidate == P("/pxe/root_node02")
    assert paths.boot_dir == P("/pxe/boot/10.42.0.2")
    assert paths.state_dir == P("/pxe/.canary")
    assert paths.backup(86400 * 365).name.startswith("root.1971")


@pytest.mark.parametrize("bad", ["/pxe/root", "/pxe/root/x", "/pxe", "relative", "/pxe/../x"])
def test_candidates_that_overlap_the_root_are_refused(testbed: Testbed, bad: str) -> None:
    with pytest.raises(CanaryError):
        canary_paths(testbed, canary_node(testbed, "node02"), bad)


def test_an_unknown_node_lists_the_known_ones(testbed: Testbed) -> None:
    with pytest.raises(CanaryError, match=r"no node 'node99' \(nodes: node02, node17, zero01\)"):
        canary_node(testbed, "node99")


def test_unique_root_is_added_once() -> None:
    conf = "port=0\ntftp-root=/pxe/boot\n"
    once = dnsmasq_with_unique_root(conf)
    assert once.startswith(conf) and UNIQUE_ROOT in once.splitlines()
    assert dnsmasq_with_unique_root(once) == once
    assert dnsmasq_with_unique_root(f"{conf}{UNIQUE_ROOT}\n") == f"{conf}{UNIQUE_ROOT}\n"


def test_commands_keep_links_acls_xattrs_and_owners() -> None:
    assert rsync_command(P("/pxe/root"), P("/pxe/c")) == (
        "rsync -aHAX --numeric-ids /pxe/root/ /pxe/c/"
    )
    copy = boot_copy_command(P("/pxe/boot"), P("/pxe/boot/10.42.0.2"))
    assert "--exclude=/cmdline.txt" in copy and "--exclude='/[0-9]*.[0-9]*.[0-9]*.[0-9]*'" in copy


def test_exchange_swaps_two_directories(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "mark").write_text("a")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "mark").write_text("b")
    done = subprocess.run(
        exchange_command(P(str(tmp_path / "a")), P(str(tmp_path / "b"))),
        shell=True, capture_output=True, text=True, check=False,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "a" / "mark").read_text() == "b"
    assert (tmp_path / "b" / "mark").read_text() == "a"
    failed = subprocess.run(
        exchange_command(P(str(tmp_path / "a")), P(str(tmp_path / "none"))),
        shell=True, capture_output=True, text=True, check=False,
    )
    assert failed.returncode == 1 and "No such file" in failed.stderr


def test_config_files_of_a_pi_canary(testbed: Testbed) -> None:
    node = canary_node(testbed, "node02")
    paths = canary_paths(testbed, node)
    at = ServerPaths(P("/lab"))
    read = {DNSMASQ_CONF: b"port=0\n", EXPORTS: b"/pxe 10.42.0.0/24(rw)\n"}
    files = {str(f.path): f for f in config_files(testbed, node, paths, at, read)}
    assert set(files) == {"/lab/etc/dnsmasq.conf", "/lab/pxe/boot/10.42.0.2/cmdline.txt"}
    assert files["/lab/etc/dnsmasq.conf"].reload == ("dnsmasq",)
    cmdline = files["/lab/pxe/boot/10.42.0.2/cmdline.txt"].content.decode()
    assert "nfsroot=10.42.0.250:/pxe/root_node02,vers=4.2" in cmdline
    assert not cmdline.endswith("\n")


def test_a_candidate_outside_the_exports_is_exported_like_the_root(testbed: Testbed) -> None:
    node = canary_node(testbed, "node02")
    paths = canary_paths(testbed, node, "/srv/candidate")
    read = {DNSMASQ_CONF: b"port=0\n", EXPORTS: b"/home *(ro)\n"}
    files = {str(f.path): f for f in config_files(testbed, node, paths, ServerPaths(), read)}
    exports = files["/etc/exports"].content.decode()
    assert exports.startswith("/home *(ro)\n")
    assert "/srv/candidate" in exports and "no_root_squash" in exports
    assert files["/etc/exports"].reload == ("exports",)


def test_a_canary_without_dnsmasq_conf_says_to_provision(testbed: Testbed) -> None:
    node = canary_node(testbed, "node02")
    with pytest.raises(CanaryError, match="provision it first"):
        config_files(testbed, node, canary_paths(testbed, node), ServerPaths(), {})
