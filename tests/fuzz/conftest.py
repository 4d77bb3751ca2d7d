"""Reports how many inputs the fuzz tests ran, and holds the CI profile to its promise: when every
fuzz test ran and passed in the ``ci`` profile at scale 1, fewer than ``CI_MINIMUM`` inputs fail the run
(a target whose example count was lowered, or whose inputs stopped being counted, is caught here)."""

from pathlib import Path

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


def pytest_sessionfinish(session, exitstatus):
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
