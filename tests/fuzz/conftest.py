"""Reports how many inputs the fuzz tests ran, and holds the CI profile to its promise: when every
fuzz test ran and passed in the ``ci`` profile at scale 1, fewer than ``CI_MINIMUM`` inputs fail the run
(a target whose example count was lowered, or whose inputs stopped being counted, is caught here)."""

from pathlib import Path

import pytest

from .strategies import COUNTS, PROFILE, SCALE

CI_MINIMUM = 100_000
HERE = Path(__file__).resolve().parent
_state = {"items": set(), "passed": set(), "deselected": False}


def _ours(nodeid: str) -> bool:
    return "tests/fuzz/" in nodeid.replace("\\", "/")


def pytest_deselected(items):
    if any(_ours(i.nodeid) for i in items):
        _state["deselected"] = True


def pytest_collection_finish(session):
    _state["items"] = {i.nodeid for i in session.items if _ours(i.nodeid)}


def pytest_runtest_logreport(report):
    if _ours(report.nodeid) and report.when == "call" and report.passed:
        _state["passed"].add(report.nodeid)


def _whole_ci_run() -> bool:
    if PROFILE != "ci" or SCALE != 1 or _state["deselected"] or not _state["items"]:
        return False
    files = {p.name for p in HERE.glob("test_*.py")}
    ran = {nodeid.split("::", 1)[0].rsplit("/", 1)[-1] for nodeid in _state["items"]}
    return ran == files and _state["passed"] == _state["items"]


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    """pytest-xdist (``make test``): each worker's inputs and results are added up here, in the
    controller, which alone decides the run's exit status and prints the summary."""
    got = getattr(node, "workeroutput", {}).get("fuzz")
    if got:
        for name, n in got["counts"].items():
            COUNTS[name] = COUNTS.get(name, 0) + n
        _state["items"] |= set(got["items"])
        _state["passed"] |= set(got["passed"])
        _state["deselected"] = _state["deselected"] or got["deselected"]


def pytest_sessionfinish(session, exitstatus):
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # a pytest-xdist worker: hand this worker's part to the controller
        workeroutput["fuzz"] = {"counts": dict(COUNTS), "items": sorted(_state["items"]),
                                "passed": sorted(_state["passed"]), "deselected": _state["deselected"]}
        return
    total = sum(COUNTS.values())
    if _whole_ci_run() and total < CI_MINIMUM:
        session.exitstatus = 1
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        reporter.ensure_newline()
        reporter.write_line(
            f"fuzz (ci profile): only {total} inputs ran; the CI profile promises at least {CI_MINIMUM}", red=True)


def pytest_terminal_summary(terminalreporter):
    if COUNTS:
        total = sum(COUNTS.values())
        parts = ", ".join(f"{k} {v}" for k, v in sorted(COUNTS.items()))
        terminalreporter.write_line(f"fuzz ({PROFILE} profile): {total} inputs — {parts}")
