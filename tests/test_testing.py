"""The helpers for test modules with a lab of their own: a lab that cannot come up fails
the test with its reason, a lab is always taken down, leftovers fail the module."""

from __future__ import annotations

import os
from typing import Any

import pytest

import harness.testing as testing
from harness.errors import HarnessError
from harness.testbed import Testbed


class FakeLab:
    """Stands for EmulatedLab: records what the helper did with it."""

    made: list[FakeLab] = []  # noqa: RUF012

    def __init__(self, testbed: Any, name: str, **options: Any) -> None:
        self.name, self.options, self.calls = name, options, []
        self.ns = type("Ns", (), {"name": f"nbh-{name}"})()
        FakeLab.made.append(self)

    def up(self) -> FakeLab:
        self.calls.append("up")
        if self.options.get("fail"):
            raise HarnessError("dnsmasq did not start: address in use")
        return self

    def down(self) -> None:
        self.calls.append("down")


@pytest.fixture(autouse=True)
def fake_lab(monkeypatch: pytest.MonkeyPatch) -> None:
    FakeLab.made.clear()
    monkeypatch.setattr(testing, "EmulatedLab", FakeLab)
    monkeypatch.setattr(testing, "namespace_inode", lambda name: 4242)


TESTBED: Any = object.__new__(Testbed)


def test_a_lab_is_up_in_the_block_and_down_after_it_even_on_error() -> None:
    with pytest.raises(RuntimeError), testing.own_lab(TESTBED, "t1", provision=False) as lab:
        assert lab.calls == ["up"] and lab.options == {"provision": False}
        raise RuntimeError("the test failed")
    assert FakeLab.made[0].calls == ["up", "down"]


def test_a_lab_that_cannot_come_up_fails_the_test_with_its_reason() -> None:
    failed = pytest.raises(pytest.fail.Exception, match="emulated lab: dnsmasq did not start")
    with failed, testing.own_lab(TESTBED, "t2", fail=True):
        pytest.fail("the block must not run")


def test_leftovers_fail_the_module_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[str, int | None]] = []

    def leftovers(name: str, inode: int | None) -> list[str]:
        seen.append((name, inode))
        return ["namespace nbh-t3"]

    monkeypatch.setattr(testing, "lab_leftovers", leftovers)
    with testing.own_lab(TESTBED, "t3"):
        pass
    assert seen == []  # not asked: not checked
    left = pytest.raises(AssertionError, match="lab t3 left behind")
    with left, testing.own_lab(TESTBED, "t3", check_leftovers=True):
        pass
    assert seen == [("t3", 4242)]


def test_lab_secret_is_fresh_and_gone_after_the_block() -> None:
    before = os.environ.get("NBH_TEST_SECRET")
    with testing.lab_secret("NBH_TEST_SECRET", "X") as one:
        assert os.environ["NBH_TEST_SECRET"] == one and one.startswith("X")
        assert len(one) == 15
    with testing.lab_secret("NBH_TEST_SECRET") as two:
        assert two != one
    assert os.environ.get("NBH_TEST_SECRET") == before



def test_worker_lab_name_is_unique_per_xdist_worker_and_a_valid_lab_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from harness.lab.layout import LabLayout

    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    assert testing.worker_lab_name("canary") == "canary"
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw1")
    assert testing.worker_lab_name("canary") == "canary-gw1"
    longest = testing.worker_lab_name("p-emulated-pi-machin")
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw12")
    other = testing.worker_lab_name("p-emulated-pi-machin")
    assert longest == "p-emulated-pi-ma-gw1" and other == "p-emulated-pi-m-gw12"
    for name in (longest, other):
        assert LabLayout(name).name == name
