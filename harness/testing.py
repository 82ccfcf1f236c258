"""For test modules that bring up an emulated lab of their own.

The session's ``lab`` fixture shares one lab between all boot tests; a module that changes
its lab (provisioning from empty, a canary root, BMCs, labgrid drivers) wants one of its
own, under its own name.  :func:`own_lab` brings it up (a lab that cannot come up fails
the test with its one-line reason, not a traceback), takes it down however the module
ends, and can prove nothing of it is left.  :func:`lab_secret` puts a fresh lab-only
password where a testbed's ``password_env`` looks for it.  :func:`worker_lab_name` gives
such a lab a name of its own per pytest-xdist worker: under ``-n`` a module's tests are
spread over workers, and two workers must not bring up one lab name twice.  (To wait for
console output, use :class:`harness.consoles.qemu.QemuConsole` and its ``expect``.)
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from harness.errors import HarnessError
from harness.lab.lab import EmulatedLab
from harness.lab.leaks import lab_leftovers, namespace_inode
from harness.testbed import Testbed

#: The longest lab name (:class:`harness.lab.layout.LabLayout` checks it).
_LAB_NAME_MAX = 20


def worker_lab_name(name: str) -> str:
    """``name`` as it is, or with the pytest-xdist worker appended (``canary-gw1``),
    shortened to fit the lab name limit."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker:
        return name
    suffix = f"-{worker}"
    return name[: _LAB_NAME_MAX - len(suffix)] + suffix


@contextmanager
def own_lab(
    testbed: Testbed, name: str, *, check_leftovers: bool = False, **options: Any
) -> Iterator[EmulatedLab]:
    """Lab ``name`` of ``testbed`` up for the ``with`` block (``options`` go to
    :class:`EmulatedLab`); with ``check_leftovers``, after it is down nothing of it may
    remain (namespace, taps, processes, files)."""
    lab = EmulatedLab(testbed, name, **options)
    try:
        lab.up()
    except HarnessError as exc:
        pytest.fail(f"emulated lab: {exc}", pytrace=False)
    inode = namespace_inode(lab.ns.name)
    try:
        yield lab
    finally:
        lab.down()
    if check_leftovers:
        left = lab_leftovers(name, inode)
        assert left == [], f"lab {name} left behind: {left}"


@contextmanager
def lab_secret(variable: str, prefix: str = "T") -> Iterator[str]:
    """A fresh lab-only secret in environment variable ``variable`` for the block."""
    value = prefix + secrets.token_hex(7)
    with pytest.MonkeyPatch.context() as env:
        env.setenv(variable, value)
        yield value

