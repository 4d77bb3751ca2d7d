"""``python -m bench.pathcpu``: Tandem's CPU per request, variants side by side, in one sitting.

For before/after figures of a change to the per-page path on a shared, busy machine. Each variant
is a Tandem server in its own process, all pinned to the same CPU (with two or more), all behind
one upstream (``bench.upstream``):

* this tree (always, named ``this``);
* ``--tree NAME=DIR``: the code of another work tree, e.g. ``git worktree add /tmp/base HEAD~1``
  (build its C core there first: ``python setup.py build_ext --inplace``, or it runs the
  pure-Python fallback and the comparison is not fair; the table says which core each variant runs);
* ``--uvloop`` (or ``NAME=DIR:uvloop``): the first variant's code on uvloop's event loop;
* ``--no-this``: only the ``--tree`` variants (this tree may hold others' unfinished edits).

Requests go over ``--connections`` keep-alive connections (1 by default: a loaded machine then
stretches the wall clock, not the work per request). Rounds alternate between the variants, in a
rotating order, and each round reads the server's CPU time (utime + stime, /proc) over
``--requests`` requests: the table gives each variant's median and best round in CPU ms per
request (with the kernel's share: system time), and the ratio of medians to the first variant. Resources: ``small`` (a 2.5 KB page:
mostly the path outside the rewriter), ``html`` (the dense 50 KB page), ``pages`` (the corpus,
cycled).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from .__main__ import CORPUS_PAGES, Endpoint, enter_session
from .procs import Children, cpu_seconds, free_port, wait_ready
from .upstream import corpus_pages

ROOT = Path(__file__).resolve().parents[1]
PATHS = {"small": "/small.html", "html": "/page.html", "pages": "/corpus/{page}.html"}
LAUNCH = """import os, sys
root = {root!r}
os.chdir(root)
sys.path.insert(0, root)
if {uvloop!r}:
    import asyncio, uvloop
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
import rewriter.html.core as core, tandem.cli
print('pathcpu: tandem from', os.path.dirname(os.path.dirname(tandem.cli.__file__)) + ';',
      core.describe() if hasattr(core, 'describe') else 'core: unknown', flush=True)
sys.argv[0] = 'tandem'
tandem.cli.main()
"""


@dataclass
class Variant:
    name: str
    root: Path
    uvloop: bool = False
    endpoint: Endpoint | None = None
    pid: int = 0
    rounds: list[float] = field(default_factory=list)  # CPU ms per request, one per round
    system: list[float] = field(default_factory=list)  # of it in the kernel (stime): sends, receives, polls
    said: str = ""


def system_seconds(pid: int) -> float:
    """The kernel's share (stime) of ``pid``'s CPU time so far, in seconds."""
    with open(f"/proc/{pid}/stat") as fh:
        return int(fh.read().rsplit(")", 1)[1].split()[12]) / os.sysconf("SC_CLK_TCK")


def parse_variant(spec: str) -> Variant:
    name, _, rest = spec.partition("=")
    where, _, flag = rest.partition(":")
    if not name or not where or flag not in ("", "uvloop"):
        raise SystemExit(f"--tree wants NAME=DIR or NAME=DIR:uvloop, not {spec!r}")
    root = Path(where).resolve()
    if not (root / "tandem" / "cli.py").exists():
        raise SystemExit(f"{root} is not a Tandem work tree")
    return Variant(name, root, flag == "uvloop")


async def run_round(ep: Endpoint, path: str, n_pages: int, requests: int, connections: int, start: int) -> int:
    """``requests`` GETs over ``connections`` connections; the next page index."""
    conn = aiohttp.TCPConnector(limit=connections, force_close=False)
    timeout = aiohttp.ClientTimeout(total=120)
    counter = iter(range(start, start + requests))
    async with aiohttp.ClientSession(connector=conn, timeout=timeout, cookie_jar=aiohttp.DummyCookieJar()) as client:
        async def worker() -> None:
            for i in counter:
                url = f"http://127.0.0.1:{ep.port}" + path.format(page=i % max(1, n_pages))
                async with client.get(url, headers=ep.headers) as r:
                    body = await r.read()
                    if r.status != 200 or b"/__tandem/runtime.js" not in body:
                        raise RuntimeError(f"{url}: status {r.status}, {'not ' if r.status == 200 else ''}rewritten")

        await asyncio.gather(*(worker() for _ in range(connections)))
    return start + requests


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.pathcpu", description=__doc__.split("\n\n")[0])
    p.add_argument("--tree", action="append", default=[], metavar="NAME=DIR[:uvloop]", help="another variant")
    p.add_argument("--uvloop", action="store_true", help="also the first variant on uvloop")
    p.add_argument("--no-this", action="store_true", help="only the --tree variants (this tree may hold others' unfinished edits)")
    p.add_argument("--resource", choices=sorted(PATHS), default="small")
    p.add_argument("--requests", type=int, default=300, help="requests per round and variant")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--connections", type=int, default=1)
    args = p.parse_args()
    if not 1 <= args.rounds <= 50 or not 1 <= args.requests <= 100_000 or not 1 <= args.connections <= 64:
        p.error("bounded runs only: 1..50 rounds, 1..100000 requests, 1..64 connections")
    variants = ([] if args.no_this else [Variant("this", ROOT)]) + [parse_variant(s) for s in args.tree]
    if not variants:
        p.error("--no-this needs at least one --tree")
    if args.uvloop:
        variants.append(Variant(variants[0].name + "+uvloop", variants[0].root, True))
    if any(v.uvloop for v in variants):
        try:
            import uvloop  # noqa: F401  (not a dependency of Tandem: measured, not adopted)
        except ImportError:
            p.error("the uvloop variants need uvloop: pip install uvloop")
    n_pages = len(corpus_pages(str(CORPUS_PAGES))) if args.resource == "pages" else 0
    if args.resource == "pages" and not n_pages:
        raise SystemExit(f"no corpus pages at {CORPUS_PAGES}")
    affinity = sorted(os.sched_getaffinity(0))
    cpus = {affinity[-1]} if len(affinity) >= 2 else None
    path = PATHS[args.resource]
    print(f"bench.pathcpu: {args.resource} ({path}), {args.requests} requests x {args.rounds} rounds per variant, "
          f"{args.connections} connection(s); Tandem servers on CPU {sorted(cpus) if cpus else 'any'}; "
          f"load average before {os.getloadavg()[0]:.2f}", flush=True)
    tmp = Path(tempfile.mkdtemp(prefix="tandem-pathcpu-"))
    with Children(tmp) as children:
        uport = free_port()
        up = children.start("upstream", [sys.executable, "-m", "bench.upstream", "--port", str(uport),
                                         "--huge-size", "1024", "--corpus", str(CORPUS_PAGES)])
        wait_ready(up, uport)
        for v in variants:
            port, admin = free_port(), secrets.token_urlsafe(24)
            child = children.start(f"tandem-{v.name}", [sys.executable, "-c", LAUNCH.format(root=str(v.root), uvloop=v.uvloop),
                                                       "serve", "--port", str(port), "--allow-private-networks", "loopback",
                                                       "--data-dir", str(tmp / f"data-{v.name}")],
                                   env={"TANDEM_ADMIN_KEY": admin}, cpus=cpus)
            wait_ready(child, port, "/healthz", {"Host": f"tandem.localhost:{port}"})
            v.endpoint, v.pid = enter_session(port, uport, admin), child.pid
            v.said = next((ln for ln in child.log.read_text(errors="replace").splitlines() if ln.startswith("pathcpu:")), "")
            print(f"  {v.name:<14} {v.said.removeprefix('pathcpu: ')}" + (" (uvloop)" if v.uvloop else ""), flush=True)
        # warm-up: every corpus page once (memos and caches as in a running server), or 100 requests
        for v in variants:
            asyncio.run(run_round(v.endpoint, path, n_pages, n_pages or 100, 1, 0))
        start = 0
        for rnd in range(args.rounds):
            order = variants[rnd % len(variants):] + variants[:rnd % len(variants)]
            for v in order:
                cpu0, sys0 = cpu_seconds(v.pid), system_seconds(v.pid)
                asyncio.run(run_round(v.endpoint, path, n_pages, args.requests, args.connections, start))
                v.rounds.append(1e3 * (cpu_seconds(v.pid) - cpu0) / args.requests)
                v.system.append(1e3 * (system_seconds(v.pid) - sys0) / args.requests)
            start += args.requests  # every variant gets the same pages in a round
            print(f"  round {rnd + 1}: " + ", ".join(f"{v.name} {v.rounds[-1]:.3f}" for v in variants) + " ms/request",
                  flush=True)
    first = statistics.median(variants[0].rounds)
    print(f"\nCPU per request ({args.resource}), load average after {os.getloadavg()[0]:.2f}:")
    print(f"  {'variant':<14}{'median ms':>10}{'best ms':>9}{'vs ' + variants[0].name:>12}{'system ms':>11}")
    for v in variants:
        med = statistics.median(v.rounds)
        print(f"  {v.name:<14}{med:10.3f}{min(v.rounds):9.3f}{med / first:11.2f}x{statistics.median(v.system):11.3f}")


if __name__ == "__main__":
    main()
