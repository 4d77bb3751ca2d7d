"""Run ``tandem`` with a stall sampler: ``python -m bench.stalls_tandem OUT.json serve ...``.

What holds the event loop, seen from inside the server (used by ``python -m bench.sync --load ...
--stalls OUT.json``). A thread samples the main thread's Python stack every ``SAMPLE`` seconds; the
loop is idle while the main thread waits in the selector (``epoll``). A *stall* is a stretch in which
the main thread was never seen idle for longer than ``STALL``. For each stall the sampler keeps its
wall time, what the main thread spent of it on a CPU and waiting for one (``/proc/self/task/TID/
schedstat``: a stall with little CPU time was the machine's other processes, not Tandem), the time
in garbage collections inside it (``gc.callbacks``), and the stacks sampled during it. Written when
Tandem exits (SIGTERM) as JSON: the totals and the most frequent stacks (innermost frame last).

The sampler needs the GIL to look, so it sees a long C call (a collection, a big compression) only
when it ends; the GC time is measured separately for that reason.

A stall in that sense may be many short turns of the loop back to back (a busy loop that still
polls its sockets every few milliseconds, between two looks at its stack). So the selector is also
timed exactly: a *turn* is the time from one return of ``select`` to the next call, the callbacks
one iteration of the loop runs while no socket is polled; each turn over ``TURN`` is kept with its
CPU time (``time.thread_time``). What the process did before the loop first polled (imports,
opening the store) is start-up, not a stall of a serving loop: such stalls are marked ``startup``.
"""

from __future__ import annotations

import gc
import json
import re
import selectors
import sys
import threading
import time
from collections import Counter
from pathlib import Path

SAMPLE = 0.005  # seconds between looks at the main thread's stack
STALL = 0.1  # seconds busy without a pause in the selector: a stall (issue 12: no pause over 100 ms)
DEPTH = 14  # innermost frames kept per sampled stack
TOP = 25  # stacks written out
CENSUS_EVERY = 20.0  # seconds between censuses of what the collector tracks
TURN = 0.05  # seconds: loop turns at least this long are kept (the report counts those over STALL)


def _schedstat(tid: int) -> tuple[int, int]:
    """(ns on a CPU, ns waiting for one) of thread ``tid`` so far; (0, 0) where /proc does not tell."""
    try:
        with open(f"/proc/self/task/{tid}/schedstat") as fh:
            run, wait, _ = fh.read().split()
        return int(run), int(wait)
    except (OSError, ValueError):
        return 0, 0


def _idle(frame) -> bool:
    """Whether the main thread waits for I/O in the event loop's selector."""
    code = frame.f_code
    return code.co_name == "select" and (code.co_filename.endswith("selectors.py") or code.co_filename == __file__)


_PREFIX = re.compile(r"^.*/(?:site-packages|lib/python3\.\d+)/|^" + re.escape(str(Path(__file__).resolve().parents[1])) + "/")


def _stack(frame) -> str:
    parts = []
    while frame is not None and len(parts) < DEPTH:
        code = frame.f_code
        name = _PREFIX.sub("", code.co_filename)
        parts.append(f"{name}:{code.co_name}:{frame.f_lineno}")
        frame = frame.f_back
    return ";".join(reversed(parts))


class Sampler:
    def __init__(self) -> None:
        self.main = threading.main_thread()
        self.stalls: list[dict] = []
        self.stacks: Counter[str] = Counter()  # stacks sampled inside stalls
        self.busy_stacks: Counter[str] = Counter()  # stacks sampled outside stalls while not idle
        self.samples = 0
        self._gc: list[tuple[float, float]] = []  # (start, end) of recent collections
        self._gc_start = 0.0
        self._gc_cpu_start = 0.0
        self.gc_cpu = [[0, 0.0, 0.0] for _ in range(3)]  # per generation: collections, CPU seconds, longest (CPU)
        self._full = 0  # full collections seen
        self._census_at = 0  # full collections seen when the last census was taken
        self._census_time = 0.0
        self.census: dict | None = None  # what the collector tracks: the latest census (see _take_census)
        self._stop = threading.Event()
        self.turns: list[dict] = []  # loop turns over TURN: {at, wall, cpu}
        self.turn_count = 0
        self.longest_turn = 0.0
        self._polled = False  # the loop has polled its sockets once: start-up is over

    def time_turns(self) -> None:
        """Time each turn of the event loop in the main thread (see the module's docstring)."""
        sampler = self
        original = selectors.DefaultSelector.select
        clock, cpu_clock = time.perf_counter, time.thread_time
        last = [0.0, 0.0]  # when select last returned, and the thread's CPU time then
        main = threading.main_thread().ident

        def select(self, timeout=None):
            if threading.get_ident() != main:
                return original(self, timeout)
            now = clock()
            if last[0]:
                wall = now - last[0]
                sampler.turn_count += 1
                if wall > sampler.longest_turn:
                    sampler.longest_turn = wall
                if wall >= TURN:
                    sampler.turns.append({"at": time.time() - wall, "wall": wall, "cpu": cpu_clock() - last[1]})
            sampler._polled = True
            try:
                return original(self, timeout)
            finally:
                last[0], last[1] = clock(), cpu_clock()

        selectors.DefaultSelector.select = select

    def _on_gc(self, phase: str, info: dict) -> None:
        now = time.perf_counter()
        if phase == "start":
            self._gc_start = now
            self._gc_cpu_start = time.thread_time()  # the callbacks run in the collecting (main) thread
        else:
            cpu = time.thread_time() - self._gc_cpu_start
            gen = info.get("generation", 0)
            self.gc_cpu[gen][0] += 1
            self.gc_cpu[gen][1] += cpu
            self.gc_cpu[gen][2] = max(self.gc_cpu[gen][2], cpu)
            self._gc.append((self._gc_start, now))
            if info.get("generation") == 2:
                self._full += 1
            if len(self._gc) > 10_000:
                del self._gc[:5_000]

    def _gc_within(self, a: float, b: float) -> float:
        return sum(max(0.0, min(e, b) - max(s, a)) for s, e in self._gc if e > a and s < b)

    def run(self) -> None:
        tid = self.main.native_id
        busy_since: float | None = None
        sched0 = (0, 0)
        pending: list[str] = []
        startup_over = False
        while not self._stop.wait(SAMPLE):
            frame = sys._current_frames().get(self.main.ident)
            if frame is None:
                continue
            if self._full > max(2, self._census_at) and time.perf_counter() - self._census_time > CENSUS_EVERY:
                self._take_census()
                busy_since, pending = None, []  # the census held the main thread: not Tandem's stall
                continue
            now = time.perf_counter()
            self.samples += 1
            if _idle(frame):
                if busy_since is not None and now - busy_since > STALL:
                    run, wait = _schedstat(tid)
                    self.stalls.append({"at": time.time() - (now - busy_since), "wall": now - busy_since,
                                        "cpu": (run - sched0[0]) / 1e9, "runqueue": (wait - sched0[1]) / 1e9,
                                        "gc": self._gc_within(busy_since, now),
                                        "startup": not startup_over, "stacks": Counter(pending).most_common(3)})
                    self.stacks.update(pending)
                else:
                    self.busy_stacks.update(pending)
                busy_since = None
                pending = []
                continue
            if busy_since is None:
                busy_since = now - SAMPLE / 2  # it left the selector somewhere since the last look
                sched0 = _schedstat(tid)
                startup_over = self._polled
            pending.append(_stack(frame))

    def _take_census(self) -> None:
        """Tracked objects by generation and the commonest types, after a full collection (not the two of
        start-up); it holds the GIL a while, so at most every CENSUS_EVERY seconds, and the stall it causes
        is not counted."""
        self._census_at = self._full
        t0 = self._census_time = time.perf_counter()
        kinds: Counter[str] = Counter()
        sizes = []
        for gen in range(3):
            objs = gc.get_objects(gen)
            sizes.append(len(objs))
            if gen == 2:
                kinds.update(type(o).__qualname__ for o in objs)
            del objs
        self.census = {"tracked_by_generation": sizes, "frozen": gc.get_freeze_count(),
                       "gen2_types": kinds.most_common(30), "took_s": time.perf_counter() - t0}

    def start(self) -> None:
        gc.callbacks.append(self._on_gc)
        threading.Thread(target=self.run, name="stall-sampler", daemon=True).start()

    def report(self) -> dict:
        self._stop.set()
        stalls = self.stalls
        wall = sum(s["wall"] for s in stalls)
        return {
            "sample_s": SAMPLE, "stall_s": STALL, "samples": self.samples, "stalls": len(stalls),
            "stall_wall_s": wall, "stall_cpu_s": sum(s["cpu"] for s in stalls),
            "stall_runqueue_s": sum(s["runqueue"] for s in stalls), "stall_gc_s": sum(s["gc"] for s in stalls),
            "longest": sorted(stalls, key=lambda s: -s["wall"])[:20], "all": stalls,
            "turn_s": TURN, "turns": self.turns, "turn_count": self.turn_count, "longest_turn_s": self.longest_turn,
            "gc_cpu_by_generation": self.gc_cpu, "census": self.census, "stall_stacks": self.stacks.most_common(TOP), "busy_stacks": self.busy_stacks.most_common(TOP),
        }


def main() -> None:
    out = sys.argv[1]
    sys.argv = ["tandem", *sys.argv[2:]]
    from tandem.cli import main as tandem_main

    sampler = Sampler()
    sampler.time_turns()
    sampler.start()
    try:
        tandem_main()
    finally:
        with open(out, "w") as fh:
            json.dump(sampler.report(), fh, indent=1)


if __name__ == "__main__":
    main()
