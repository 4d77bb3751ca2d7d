"""Failures still open when the suite was last run, one reason per (target, check), each written up
with its evidence in /work/notes/realpages-findings.md. Marked xfail(strict=True) by the tests: when
a fix makes one pass, the XPASS fails the run and the entry here must go."""

KNOWN: dict[tuple[str, str], str] = {}
