"""Reports how many inputs the fuzz tests ran (the CI profile promises more than 100,000)."""

from .strategies import COUNTS, PROFILE


def pytest_terminal_summary(terminalreporter):
    if COUNTS:
        total = sum(COUNTS.values())
        parts = ", ".join(f"{k} {v}" for k, v in sorted(COUNTS.items()))
        terminalreporter.write_line(f"fuzz ({PROFILE} profile): {total} inputs — {parts}")
