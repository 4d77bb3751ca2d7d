"""The SQLite store's statements that stand alone run on one worker thread (tandem/storedb.py): the
event loop keeps running while one waits for SQLite, and they still run in the order they were called."""

from __future__ import annotations

import asyncio
import time

from tandem.storedb import SqliteDatabase

# ~3 million rows counted by a recursive CTE: a statement that takes SQLite a while (0.3-1 s), no sleep.
SLOW = ("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 3000000) "
        "SELECT count(*) FROM c")


async def test_the_loop_keeps_running_while_a_statement_runs(tmp_path):
    """Before: every statement ran inline on the event loop; a slow one (or a write waiting for its fsync)
    held every socket of the process until it finished."""
    db = SqliteDatabase(tmp_path / "t.db")
    try:
        ticks: list[float] = []
        stop = False

        async def ticker():
            while not stop:
                ticks.append(time.perf_counter())
                await asyncio.sleep(0.01)

        task = asyncio.create_task(ticker())
        await asyncio.sleep(0.05)
        started = time.perf_counter()
        assert await db.fetchone(SLOW) == (3000000,)
        ended = time.perf_counter()
        stop = True
        await task
        during = [t for t in ticks if started < t < ended]
        assert len(during) >= 3, f"the loop ran {len(during)} times in a {ended - started:.2f} s statement"
    finally:
        await db.close()


async def test_statements_run_in_the_order_called_and_transactions_see_them(tmp_path):
    db = SqliteDatabase(tmp_path / "t.db")
    try:
        await db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER)")
        calls = [asyncio.create_task(db.execute("INSERT INTO t (n) VALUES (?)", (n,))) for n in range(300)]
        # a transaction queued among them sees every insert called before it, none after
        async def tx_count():
            async with db.transaction() as tx:
                return (await tx.fetchone("SELECT count(*) FROM t"))[0]

        counted = asyncio.create_task(tx_count())
        calls += [asyncio.create_task(db.execute("INSERT INTO t (n) VALUES (?)", (n,))) for n in range(300, 400)]
        assert await asyncio.gather(*calls) == [1] * 400
        assert await counted == 300
        rows = await db.fetchall("SELECT n FROM t ORDER BY id")
        assert [r[0] for r in rows] == list(range(400))
        # the live-state write-through (inline, its own connection) sees what the worker committed
        with db.live_transaction() as tx:
            assert tx.fetchone("SELECT count(*) FROM t") == (400,)
    finally:
        await db.close()


async def test_a_live_write_waits_for_a_worker_write_instead_of_failing(tmp_path):
    """The worker commits between the live write-through's read and its write: the live transaction
    begins IMMEDIATE, so it waits for the lock rather than failing with a stale snapshot."""
    db = SqliteDatabase(tmp_path / "t.db")
    try:
        await db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER)")
        await db.execute("CREATE TABLE live (k TEXT PRIMARY KEY, v INTEGER)")
        writes = [asyncio.create_task(db.execute(
            "INSERT INTO t (n) SELECT x FROM (WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "
            "WHERE x < 20000) SELECT x FROM c)")) for _ in range(20)]
        done = 0
        while not all(w.done() for w in writes):
            with db.live_transaction() as tx:
                seen = tx.fetchone("SELECT count(*) FROM t")[0]
                tx.execute("INSERT INTO live (k, v) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET v=excluded.v",
                           (f"k{done}", seen))
            done += 1
            await asyncio.sleep(0.001)
        await asyncio.gather(*writes)
        assert done >= 1
        assert (await db.fetchone("SELECT count(*) FROM live"))[0] == done
    finally:
        await db.close()


async def test_a_transaction_commits_on_the_worker_thread_and_rolls_back_on_error(tmp_path):
    """The COMMIT waits for the fsync (synchronous=FULL): it runs on the worker, not the loop's thread.
    Before: inline, every audit record and participant held the loop for its fsync (1-10 ms)."""
    import threading

    db = SqliteDatabase(tmp_path / "t.db")
    try:
        await db.execute("CREATE TABLE t (n INTEGER)")
        seen: list[tuple[str, bool]] = []
        db.conn.set_trace_callback(lambda sql: seen.append((sql, threading.get_ident() == threading.main_thread().ident)))
        async with db.transaction() as tx:
            await tx.execute("INSERT INTO t VALUES (1)")
        assert ("COMMIT", False) in seen and ("COMMIT", True) not in seen, seen
        try:
            async with db.transaction() as tx:
                await tx.execute("INSERT INTO t VALUES (2)")
                raise ValueError("the caller failed half-way")
        except ValueError:
            pass
        assert await db.fetchall("SELECT n FROM t") == [(1,)]
        assert not db.conn.in_transaction
    finally:
        db.conn.set_trace_callback(None)
        await db.close()
