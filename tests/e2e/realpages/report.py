"""``python -m tests.e2e.realpages.report [results.jsonl]``: the real-page suite's figures.

Reads the records the suite wrote (default ``$REALPAGES_RESULTS`` or
``$TMPDIR/tandem-realpages/results.jsonl``; the last record per target wins) and prints, per check,
how many targets pass, then the mirror's word-similarity distribution and the live-update
latencies (p50/p95/max per kind of change), pages and apps apart and together.
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

from .cobrowse import CHECKS, SIMILARITY_MIN, results_path

LATENCY_KINDS = ("paragraph", "heading", "input", "scroll", "scroll_end")


def load(path: Path) -> list[dict]:
    records: dict[str, dict] = {}
    for line in path.read_text().splitlines():
        if line.strip():
            rec = json.loads(line)
            records[rec["target"]] = rec
    return list(records.values())


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))  # ceil
    return ordered[int(rank) - 1]


def applies(rec: dict, check: str) -> bool:
    return check != "app_state" or rec["kind"] == "app"


def table(records: list[dict]) -> str:
    groups = {"pages": [r for r in records if r["kind"] == "page"], "apps": [r for r in records if r["kind"] == "app"]}
    groups["all"] = records
    lines = [f"{'check':<16}" + "".join(f"{g:>14}" for g in groups)]
    for check in CHECKS:
        row = f"{check:<16}"
        for recs in groups.values():
            relevant = [r for r in recs if applies(r, check)]
            ok = sum(1 for r in relevant if check not in r["failures"])
            row += f"{f'{ok}/{len(relevant)}' if relevant else '-':>14}"
        lines.append(row)
    every = [sum(1 for r in recs if not r["failures"]) for recs in groups.values()]
    lines.append(f"{'every check':<16}" + "".join(f"{f'{n}/{len(recs)}':>14}" for n, recs in zip(every, groups.values())))
    return "\n".join(lines)


def similarity_line(records: list[dict]) -> str:
    sims = [r["similarity"] for r in records if r.get("similarity") is not None]
    if not sims:
        return "similarity: no figures"
    below = sum(1 for s in sims if s < SIMILARITY_MIN)
    exact = sum(1 for s in sims if s == 1.0)
    return (f"mirror word similarity over {len(sims)} targets: min {min(sims):.4f}, p5 {percentile(sims, 5):.4f}, "
            f"median {statistics.median(sims):.4f}; exactly 1.0: {exact}; below {SIMILARITY_MIN}: {below}")


def latency_lines(records: list[dict]) -> list[str]:
    out = [f"{'latency (ms)':<16}{'n':>6}{'p50':>9}{'p95':>9}{'max':>9}{'missed':>8}"]
    every: list[float] = []
    for kind in LATENCY_KINDS:
        ran = [r for r in records if kind in r.get("latency_ms", {})]
        values = [r["latency_ms"][kind] for r in ran if r["latency_ms"][kind] is not None]
        missed = len(ran) - len(values)
        if not kind.startswith("scroll"):
            every += values
        if values:
            out.append(f"{kind:<16}{len(values):>6}{percentile(values, 50):>9.1f}{percentile(values, 95):>9.1f}{max(values):>9.1f}{missed:>8}")
        else:
            out.append(f"{kind:<16}{0:>6}{'-':>9}{'-':>9}{'-':>9}{missed:>8}")
    if every:
        out.append(f"{'dom changes':<16}{len(every):>6}{percentile(every, 50):>9.1f}{percentile(every, 95):>9.1f}{max(every):>9.1f}")
    first = [r["first_view_ms"] for r in records if r.get("first_view_ms") is not None]
    if first:
        out.append(f"{'first view':<16}{len(first):>6}{percentile(first, 50):>9.0f}{percentile(first, 95):>9.0f}{max(first):>9.0f}"
                   "   (follower opens the link -> mirror shows the page)")
    return out


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    path = Path(args[0]) if args else results_path()
    if not path.exists():
        print(f"no results at {path}: run the suite first (make test-full, or pytest tests/e2e/realpages)", file=sys.stderr)
        return 2
    records = load(path)
    pages = sum(1 for r in records if r["kind"] == "page")
    print(f"Real-page co-browsing suite: {len(records)} targets ({pages} saved pages, {len(records) - pages} apps) from {path}\n")
    print(table(records))
    print()
    print(similarity_line(records))
    print()
    print("\n".join(latency_lines(records)))
    noisy = [r["target"] for r in records if r.get("errors_follower")]
    if noisy:
        print(f"\nfollower's session page logged errors on {len(noisy)} targets: " + ", ".join(noisy[:20]))
    crashed = [r["target"] for r in records if r.get("crash")]
    if crashed:
        print(f"\nruns that stopped early ({len(crashed)}): " + ", ".join(crashed))
    wall = sum(r.get("seconds", 0) for r in records)
    print(f"\nwall time of the runs: {wall:.0f} s ({wall / max(len(records), 1):.1f} s per target)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
