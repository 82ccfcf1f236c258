"""The pytest plugin: options, markers and fixtures that wire the harness into a test run.

It owns no behaviour of its own: it loads the testbed (``--testbed``), brings the
emulated lab up once per session when the testbed is emulated, parametrises tests over
the testbed's nodes, runs boots through :class:`~harness.boot.run.BootRun`, and reports:
progress lines while nodes boot, a per-node stage table at the end, per-stage JUnit
properties, and the run's report directory.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import replace
from functools import partial
from pathlib import Path
from types import FrameType
from typing import Any

import pytest

from harness import __version__
from harness.boot.expect import expectations_for
from harness.boot.profiles import get_profile
from harness.boot.record import BootRecord
from harness.boot.run import BootRun
from harness.boot.table import stage_table
from harness.errors import HarnessError
from harness.report.live import LiveBoot
from harness.testbed import Node, Testbed, load_testbed

MARKERS = {
    "boot": "boots nodes of the testbed and asserts every boot stage",
    "provision": "provisions and verifies the testbed's boot server",
    "regression": "regression checks of a candidate root (canary boots)",
    "smoke": "checks on a booted node over SSH",
    "fault": "injects a fault into the emulated lab and checks its diagnosis",
    "lab": "needs the emulated lab (root, network namespaces, QEMU)",
    "slow": "takes minutes",
}

TESTBED = pytest.StashKey[Testbed]()
RUN_DIR = pytest.StashKey[Path]()
RECORDS = pytest.StashKey[list[BootRecord]]()
BOOTS = pytest.StashKey[list[tuple[str, BootRecord]]]()  # (test node id, record)
RUN_ID = pytest.StashKey[str]()
FINISHED = pytest.StashKey[Any]()  # harness.report.session.Finished, for the summary


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("netboot-harness")
    group.addoption(
        "--testbed", help="testbed file (default: devices/emulated.yaml under the rootdir)"
    )
    group.addoption("--lab-name", help="name of the emulated lab (default: from the testbed name)")
    group.addoption(
        "--deadline-scale",
        type=float,
        default=float(os.environ.get("NBH_DEADLINE_SCALE", "1")),
        help="multiply every stage deadline (slow hosts; default 1, or $NBH_DEADLINE_SCALE)",
    )
    group.addoption(
        "--reports", help="directory for run reports (default: reports/ under the rootdir)"
    )
    group.addoption("--node", action="append", default=[], help="only these nodes (repeatable)")
    group.addoption(
        "--observe",
        choices=("local", "ssh"),
        help="take packet capture and the dnsmasq log on this host (local) or on the server "
        "module over SSH (ssh); default: the testbed's server.observe",
    )
    group.addoption(
        "--boot-history",
        metavar="FILE",
        help="boot-time history the run's stage timings are added to "
        "(default: history.sqlite in the reports directory)",
    )
    from harness.canary.fixture import add_options

    add_options(group)
    group.addoption(
        "--hold-timeout",
        type=float,
        default=3600.0,
        help="seconds to wait for a node another session holds (default 3600)",
    )
    group.addoption(
        "--no-boot-history",
        action="store_true",
        help="do not add this run to the boot-time history (trial runs, fault experiments)",
    )


def pytest_configure(config: pytest.Config) -> None:
    for name, text in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {text}")
    config.stash[RECORDS] = []
    # A bad --testbed or --node is a usage error before anything runs, not a
    # collection error per test; the default testbed is loaded if it is there.
    if config.getoption("--testbed") or _default_testbed(config).exists():
        _testbed(config)
        _nodes(config)


def _default_testbed(config: pytest.Config) -> Path:
    return config.rootpath / "devices" / "emulated.yaml"


def _testbed(config: pytest.Config) -> Testbed:
    if TESTBED not in config.stash:
        option = config.getoption("--testbed")
        path = Path(option) if option else _default_testbed(config)
        try:
            config.stash[TESTBED] = load_testbed(path)
        except HarnessError as exc:
            raise pytest.UsageError(f"testbed: {exc}") from None
    return config.stash[TESTBED]


def _nodes(config: pytest.Config) -> list[Node]:
    testbed = _testbed(config)
    wanted = config.getoption("--node")
    if not wanted:
        return list(testbed.nodes)
    unknown = set(wanted) - {n.name for n in testbed.nodes}
    if unknown:
        known = ", ".join(n.name for n in testbed.nodes)
        raise pytest.UsageError(
            f"--node {', '.join(sorted(unknown))}: not in testbed {testbed.name} (nodes: {known})"
        )
    return [n for n in testbed.nodes if n.name in wanted]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "node" in metafunc.fixturenames:
        nodes = _nodes(metafunc.config)
        metafunc.parametrize("node", nodes, ids=[n.name for n in nodes], scope="function")


def _run_id(config: pytest.Config) -> str:
    """The run's id: the xdist controller's, handed to its workers (one run directory)."""
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None and "nbh_run_id" in workerinput:
        return str(workerinput["nbh_run_id"])
    if RUN_ID not in config.stash:
        config.stash[RUN_ID] = (
            os.environ.get("NBH_RUN_ID") or time.strftime("%Y%m%d-%H%M%S") + f"-{os.getpid()}"
        )
    return config.stash[RUN_ID]


def shared_run_dir(config: pytest.Config) -> Path:
    """``reports/<run-id>/``: shared by the xdist workers of a run (the allocation log)."""
    base = config.getoption("--reports")
    root = Path(base) if base else config.rootpath / "reports"
    return root / _run_id(config)


def _run_dir(config: pytest.Config) -> Path:
    """This session's report directory: the run's, or ``<run>/<gwN>/`` for an xdist
    worker (each worker writes its own run.json and artifacts)."""
    if RUN_DIR not in config.stash:
        shared = shared_run_dir(config)
        worker = os.environ.get("PYTEST_XDIST_WORKER") if hasattr(config, "workerinput") else None
        config.stash[RUN_DIR] = shared / worker if worker else shared
    return config.stash[RUN_DIR]


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """pytest-xdist controller: every worker gets the controller's run id."""
    node.workerinput["nbh_run_id"] = _run_id(node.config)


# --- fixtures ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def testbed(pytestconfig: pytest.Config) -> Testbed:
    """The testbed of this run (``--testbed``)."""
    return _testbed(pytestconfig)


@pytest.fixture(scope="session")
def run_dir(pytestconfig: pytest.Config) -> Path:
    """This run's report directory, ``reports/<run-id>/``."""
    path = _run_dir(pytestconfig)
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def lab(pytestconfig: pytest.Config, testbed: Testbed) -> Iterator[Any]:
    """The emulated lab for an emulated testbed, up for the whole session."""
    if not testbed.is_emulated:
        pytest.fail(
            f"testbed {testbed.name} describes hardware; booting hardware needs the power and "
            "console backends of the control layer, which this version does not have yet",
            pytrace=False,
        )
    from harness.lab.lab import EmulatedLab

    def say(message: str) -> None:
        live_line(pytestconfig, f"[harness] {message}")

    # xdist workers of one run share the lab (PYTEST_XDIST_TESTRUNUID identifies the run)
    worker = hasattr(pytestconfig, "workerinput")
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID") if worker else None
    lab = EmulatedLab(testbed, pytestconfig.getoption("--lab-name"), progress=say, run=run)
    previous = _sigterm_as_interrupt()
    try:
        try:
            lab.up()
        except HarnessError as exc:
            pytest.fail(f"emulated lab: {exc}", pytrace=False)
        yield lab
    finally:
        lab.down()
        signal.signal(signal.SIGTERM, previous)


@pytest.fixture(scope="session")
def provisioned_server(testbed: Testbed, request: pytest.FixtureRequest) -> Iterator[Any]:
    """The testbed's boot server, freshly provisioned from the testbed file and verified:
    boot tests that use it start from the generated configuration.  Emulated testbeds:
    the session's lab (which provisions itself over SSH when it comes up)."""
    from harness.provision.access import hardware_access, lab_access

    if testbed.is_emulated:
        access = lab_access(request.getfixturevalue("lab"))
    else:
        access = hardware_access(testbed)
    try:
        result = access.provisioner.apply()
        if not result.ok:
            pytest.fail(f"provisioning {testbed.name}: {result.report()}", pytrace=False)
        failed = [c for c in access.verify() if c.passed is False]
        if failed:
            pytest.fail(
                "the provisioned server does not serve what the testbed says:\n"
                + "\n".join(c.line() for c in failed),
                pytrace=False,
            )
        yield access
    finally:
        access.close()


@pytest.fixture(scope="session")
def canary_root(
    pytestconfig: pytest.Config, testbed: Testbed, request: pytest.FixtureRequest
) -> Iterator[Any]:
    """With ``--canary NODE [--candidate PATH]``: the canary (see
    :mod:`harness.canary.fixture`) - NODE boots the candidate; without: None."""
    from harness.canary.fixture import canary_session

    yield from canary_session(pytestconfig, testbed, request)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: Any
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Which node's tests passed: the canary's verdict (:mod:`harness.canary.fixture`)."""
    report = yield
    from harness.canary.fixture import record_outcome

    record_outcome(item, report)
    return report


def _sigterm_as_interrupt() -> Any:
    """A SIGTERM (CI cancelling a job) unwinds like Ctrl-C, so fixtures tear down."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    return signal.signal(signal.SIGTERM, handler)


@pytest.fixture(scope="session")
def node_holds(pytestconfig: pytest.Config, testbed: Testbed) -> Iterator[Any]:
    """Holds nodes for this session, one holder at a time per node: labgrid places
    through ``--lg-coordinator``, or a file lock per node on this host.  Every hold is a
    line in the run's allocation log (``reports/<run>/allocations.jsonl``)."""
    from harness.control.holds import ALLOCATION_LOG, AllocationLog, LocalHolds

    log = AllocationLog(shared_run_dir(pytestconfig) / ALLOCATION_LOG)
    timeout = pytestconfig.getoption("--hold-timeout")
    coordinator = lg_coordinator(pytestconfig)
    if coordinator:
        from harness.control.places import PlaceHolds

        places = PlaceHolds(coordinator, testbed.name, log, timeout=timeout)
        try:
            places.ensure_places([n.name for n in testbed.nodes])
        except HarnessError as exc:
            pytest.fail(f"labgrid coordinator {coordinator}: {exc}", pytrace=False)
        yield places
        return
    scope = pytestconfig.getoption("--lab-name") or testbed.name
    if testbed.is_emulated and not pytestconfig.getoption("--lab-name"):
        from harness.lab.lab import default_lab_name

        scope = default_lab_name(testbed)
    yield LocalHolds(scope, log, timeout=timeout)


def lg_coordinator(config: pytest.Config) -> str | None:
    """The labgrid coordinator that hands out the nodes: labgrid's own pytest option
    ``--lg-coordinator HOST:PORT`` (labgrid's plugin defines it), else $LG_COORDINATOR.
    None: nodes are held with a file lock per node on this host."""
    option = getattr(config.option, "lg_coordinator", None)
    return option or os.environ.get("LG_COORDINATOR") or None


@pytest.fixture
def boot_node(
    request: pytest.FixtureRequest,
    pytestconfig: pytest.Config,
    testbed: Testbed,
    run_dir: Path,
    node_holds: Any,
) -> Iterator[Callable[..., BootRecord]]:
    """Boot a node and judge every stage: ``record = boot_node(node)``.

    The node is held for the test first (see ``node_holds``: no other worker or session
    boots it meanwhile).  It boots in the session's lab, or in ``boot_node(node,
    lab=other)``, and is switched off again and released when the test ends.  Per-stage
    status and duration become JUnit properties; the record joins the end-of-run stage
    table.
    """
    from harness.lab.target import EmulatedTarget, target_for

    targets: list[EmulatedTarget] = []
    held = contextlib.ExitStack()
    held_nodes: set[str] = set()

    def boot(node: Node, lab: Any = None) -> BootRecord:
        if lab is None:
            lab = request.getfixturevalue("lab")
        if node.name not in held_nodes:
            try:
                held.enter_context(node_holds.hold(node.name, request.node.nodeid))
            except HarnessError as exc:
                pytest.fail(str(exc), pytrace=False)
            held_nodes.add(node.name)
        target = target_for(lab, node)
        target.observe = pytestconfig.getoption("--observe") or lab.testbed.server.observe
        targets.append(target)
        profile = get_profile(node.profile)
        artifacts = run_dir / _safe(request.node.nodeid)
        canary = request.getfixturevalue("canary_root")
        own_boot = canary.boot_dir_for(node) if canary else None
        tftp = lab.layout.server_path(own_boot or lab.testbed.server.tftp_root)
        exp = expectations_for(lab.testbed, node, tftp_root=str(tftp))
        exp = replace(exp, file_sizes=target.file_sizes(exp.firmware_files + exp.kernel_files))
        if canary and canary.root_for(node) and exp.root:  # the canary boots the candidate
            exp = replace(exp, root=f"{exp.server_ip}:{canary.root_for(node)}")
            exp = replace(exp, file_sizes=_sizes(tftp, exp.firmware_files + exp.kernel_files))
        progress = live_boot(pytestconfig, node.name, profile.name, len(profile.stages))
        record = BootRun(
            target,
            profile,
            exp,
            artifacts,
            deadline_scale=pytestconfig.getoption("--deadline-scale"),
            progress=progress,
        ).run()
        report_boot(request, record, artifacts)
        return record

    with held:
        yield boot
        for target in targets:
            target.power_off()


def _sizes(tftp: Path, names: tuple[str, ...]) -> dict[str, int]:
    return {n: (tftp / n).stat().st_size for n in names if (tftp / n).is_file()}


def report_boot(request: pytest.FixtureRequest, record: BootRecord, artifacts: Path) -> None:
    """Make a boot part of the run's results: the stage table at the end, and the
    per-stage status and duration as JUnit properties of the test."""
    request.config.stash[RECORDS].append(record)
    request.config.stash.setdefault(BOOTS, []).append((request.node.nodeid, record))
    props = request.node.user_properties
    props.append(("node", record.node))
    for stage in record.stages:
        props.append((f"stage.{stage.stage}.status", str(stage.status)))
        if stage.duration is not None:
            props.append((f"stage.{stage.stage}.duration", f"{stage.duration:.3f}"))
    if record.diagnosis is not None:
        props.append(("diagnosis", f"{record.diagnosis.stage}: {record.diagnosis.cause}"))
    props.append(("artifacts", str(artifacts)))


def live_boot(config: pytest.Config, node: str, profile: str, stages: int) -> LiveBoot:
    """The progress of a boot on the terminal (see :mod:`harness.report.live`): a line per
    stage in logs, one status line rewritten in place on a terminal."""

    def line(text: str, red: bool) -> None:
        live_line(config, text, red=red)

    reporter = config.pluginmanager.get_plugin("terminalreporter")
    tty = reporter is not None and reporter.isatty() and os.environ.get("TERM") != "dumb"
    live = LiveBoot(
        node, profile, stages, line=line, status=partial(_live_status, config) if tty else None
    )
    live.start()
    return live


def _live_status(config: pytest.Config, text: str, first: bool, done: bool, red: bool) -> None:
    """Rewrite the status line in place (``done``: end it, so it stays as a summary)."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None:
        return
    capman = config.pluginmanager.get_plugin("capturemanager")
    with capman.global_and_fixture_disabled() if capman else contextlib.nullcontext():
        tw = reporter._tw
        if first and tw.width_of_current_line:  # after a test's name or a progress dot
            tw.line()
        tw.write("\r\x1b[K" + text[: max(20, tw.fullwidth - 1)], red=red, flush=True)
        if done:
            tw.line()


def live_line(config: pytest.Config, text: str, **markup: bool) -> None:
    """Write a line to the terminal now, while a test runs (output capture is set aside
    for it, as pytest's live logging does)."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None:
        return
    capman = config.pluginmanager.get_plugin("capturemanager")
    with capman.global_and_fixture_disabled() if capman else contextlib.nullcontext():
        if reporter._tw.width_of_current_line:  # after a test's name or a progress dot
            reporter._tw.line()
        reporter.write_line(text, **markup)


def _safe(nodeid: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", nodeid).strip("_")[:120]


@pytest.fixture(scope="session", autouse=True)
def _junit_suite_properties(
    record_testsuite_property: Callable[[str, object], None], pytestconfig: pytest.Config
) -> None:
    """The testbed and harness version on the JUnit test suite (a no-op without
    ``--junitxml``)."""
    if TESTBED in pytestconfig.stash:
        record_testsuite_property("testbed", pytestconfig.stash[TESTBED].name)
    record_testsuite_property("harness_version", __version__)


# --- reporting --------------------------------------------------------------------------


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A run that used its report directory gets ``run.json``, ``report.html`` and its
    stage timings in the history (see :mod:`harness.report`)."""
    config = session.config
    if RUN_DIR not in config.stash or not config.stash[RUN_DIR].exists():
        return
    from harness.report.history import HISTORY
    from harness.report.session import finish_session

    run_dir = config.stash[RUN_DIR]
    history: Path | None = None
    if not config.getoption("--no-boot-history"):
        option = config.getoption("--boot-history")
        history = Path(option) if option else shared_run_dir(config).parent / HISTORY
    # Test outcomes as the terminal summary counts them (no terminal: boots only).
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    stats = getattr(reporter, "stats", {})
    reports = [r for rs in stats.values() for r in rs if isinstance(r, pytest.TestReport)]
    testbed = config.stash.get(TESTBED, None)
    config.stash[FINISHED] = finish_session(
        run_dir=run_dir,
        reports=reports,
        boots=config.stash.get(BOOTS, []),
        testbed=testbed.name if testbed else None,
        testbed_file=str(testbed.path) if testbed else None,
        exit_status=int(exitstatus),
        command=list(config.invocation_params.args),
        junitxml=getattr(config.option, "xmlpath", None),
        history=history,
    )


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    records = config.stash.get(RECORDS, [])
    if records:
        terminalreporter.section(f"boot stages (testbed {config.stash[TESTBED].name})")
        for line in stage_table(records):
            terminalreporter.write_line(line)
    if RUN_DIR in config.stash and config.stash[RUN_DIR].exists():
        terminalreporter.write_line(f"reports: {config.stash[RUN_DIR]}")
    finished = config.stash.get(FINISHED, None)
    if finished is not None:
        for line in finished.lines:
            terminalreporter.write_line(line)
        for problem in finished.problems:
            terminalreporter.write_line(f"report not written: {problem}", red=True)


def pytest_report_header(config: pytest.Config) -> list[str] | None:
    if TESTBED not in config.stash:
        return None
    tb = config.stash[TESTBED]
    kind = "emulated" if tb.is_emulated else "hardware"
    return [
        f"netboot-harness {__version__}: testbed {tb.name} ({kind}, {len(tb.nodes)} nodes) "
        f"from {tb.path}"
    ]


@pytest.hookimpl(trylast=True)  # after -m/-k have deselected
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Refuse early, with one clear line, when lab tests are selected without root."""
    needs_lab = [i for i in items if {"lab", "boot_node"} & set(getattr(i, "fixturenames", ()))]
    if needs_lab and _testbed(config).is_emulated and os.geteuid() != 0:
        raise pytest.UsageError(
            f"{len(needs_lab)} selected tests need the emulated lab, which needs root "
            "(network namespaces, taps, NFS server): run as root or with sudo, "
            "e.g. `sudo make boot`"
        )
