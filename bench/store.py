"""``python -m bench.store``: what one store call costs on each database, measured in one run.

1. SQLite inline (the default: the statement runs on the event loop) vs the same call through
   ``asyncio.to_thread`` (what running SQLite "off the loop" would cost): the baseline for
   deciding to run SQLite inline.
2. PostgreSQL (``--database-url``; a throwaway server from the Debian package on loopback,
   fsync off) through the psycopg 3 async pool, against SQLite inline.
3. The live-state write-through (one Set-Cookie: ``live_write``), SQLite vs PostgreSQL.

Flags: ``--quick`` (fewer samples).
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import tempfile
import time
from pathlib import Path


def _p(samples: list[float]) -> dict:
    s = sorted(samples)
    return {"p50_us": statistics.median(s) * 1e6, "p99_us": s[int(len(s) * 0.99)] * 1e6}


async def _time(n: int, call) -> dict:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        await call()
        out.append(time.perf_counter() - t)
    return _p(out)


def _time_sync(n: int, call) -> dict:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        call()
        out.append(time.perf_counter() - t)
    return _p(out)


async def measure(store, n: int) -> dict:
    sid = "benchbench" + store.dialect[:2]
    await store.add_session(sid, "https://shop.example/", expires_at=time.time() + 3600)
    i = iter(range(10 ** 9))
    return {
        "get_session": await _time(n, lambda: store.get_session(sid)),
        "add_participant": await _time(n, lambda: store.add_participant(sid, f"p{next(i)}", "follower", "customer", "Ann")),
        "live_write": _time_sync(n, lambda: store.live_write(sid, "jar", {"sess": f"v{next(i)}"})),
    }


async def run(quick: bool) -> None:
    from tandem.store import open_store
    from tests.servers.postgres import PostgresServer, available

    n = 300 if quick else 2000
    tmp = Path(tempfile.mkdtemp(prefix="tandem-bench-store-"))
    results = {}
    try:
        sqlite = await open_store(tmp / "sqlite")
        results["SQLite inline"] = await measure(sqlite, n)
        sid = "benchbenchsq"
        inline = _time_sync(n, lambda: _sync_get(sqlite, sid))
        thread = await _time(n, lambda: asyncio.to_thread(_sync_get, sqlite, sid))
        print(f"SQLite statement (get_session's SELECT): inline p50 {inline['p50_us']:.1f} µs, through asyncio.to_thread "
              f"p50 {thread['p50_us']:.1f} µs (x{thread['p50_us'] / inline['p50_us']:.1f})")
        await sqlite.close()
        if available() is None:
            pgdir = Path(tempfile.mkdtemp(prefix="tandem-pg-"))  # its own: the server runs as the postgres user
            with PostgresServer(pgdir) as pg:
                store = await open_store(tmp / "pgkeys", pg.new_database())
                results["PostgreSQL (psycopg pool)"] = await measure(store, n)
                await store.close()
            shutil.rmtree(pgdir, ignore_errors=True)
        else:
            print("PostgreSQL not installed:", available())
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    base = results["SQLite inline"]
    for name, ops in results.items():
        for op, f in ops.items():
            ratio = f["p50_us"] / base[op]["p50_us"]
            print(f"{name:28s} {op:16s} p50 {f['p50_us']:8.1f} µs  p99 {f['p99_us']:8.1f} µs  x{ratio:5.1f} vs SQLite inline")


def _sync_get(store, sid: str):
    """The statement get_session runs, called synchronously (for the thread hop)."""
    return store.db.execute(f"SELECT {store._SESSION_COLS} FROM sessions WHERE id=?", (sid,)).fetchone()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    asyncio.run(run(ap.parse_args().quick))


if __name__ == "__main__":
    main()
