"""``python -m tests.e2e.probes [NAME ...]``: run probes, print the table; ``--readme`` rewrites README.md's table."""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
from pathlib import Path

from .runner import run_suite
from .server import probe_names

README = Path(__file__).parent / "README.md"
BEGIN, END = "<!-- probe-table -->", "<!-- /probe-table -->"


def _stable(text: str) -> str:
    """Observed details without this run's session id, ports and keys, so the table only changes when results do."""
    text = re.sub(r"\b[a-z2-7]{12}-([hs])\d*-", r"SID-\1PORT-", text)
    text = re.sub(r"(localhost):\d+", r"\1:PORT", text)
    return re.sub(r"-[dt][0-9a-f]{6}\b", "-KEY", text)


def table(results) -> str:
    lines = ["| probe | what it checks | through Tandem | direct |", "|---|---|---|---|"]
    for r in results.values():
        tandem = r.tandem_text
        if r.xfail:
            tandem = f"**expected failure**: {r.xfail} (observed: {tandem})"
        direct = r.direct.describe() if r.direct else "not run"
        lines.append(f"| `{r.name}` | {r.what} | {_stable(tandem).replace('|', '/')} | {_stable(direct).replace('|', '/')} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.e2e.probes")
    parser.add_argument("names", nargs="*", help="probes to run (default: all)")
    parser.add_argument("--readme", action="store_true", help="write the table into README.md")
    args = parser.parse_args()
    unknown = {n.split("/")[0] for n in args.names} - set(probe_names())
    if unknown:
        print(f"unknown probe(s): {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    results = asyncio.run(run_suite(sorted({n.split("/")[0] for n in args.names}) or None))
    text = table(results)
    print(text)
    bad = [f"{r.name}: {r.verdict}" for r in results.values() if r.verdict not in ("ok", "xfail", "n/a")]
    print(f"\n{len(results) - len(bad)} passed, {len(bad)} failed")
    for line in bad:
        print("  " + line)
    if args.readme:
        readme = README.read_text()
        start, end = readme.index(BEGIN) + len(BEGIN), readme.index(END)
        README.write_text(readme[:start] + "\n" + text + "\n" + readme[end:])
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
