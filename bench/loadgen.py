"""Load generation: ``wrk`` when installed, else an aiohttp load loop in its own process.

Both return a :class:`Result`. The aiohttp loop is also the client for the 1 GiB
download (``download`` mode), so the process whose memory is sampled never
shares an interpreter with the client.

``python -m bench.loadgen load URL --host H --cookie C --connections N --duration S [--cycle K]``
(with ``--cycle K``, ``{page}`` in URL takes the values 0..K-1 in turn, request after request)
``python -m bench.loadgen download URL --host H --cookie C``
``python -m bench.loadgen rooms`` (spec on stdin: a share of the rooms of ``bench.sync --load``)
each print one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass

import aiohttp

from .procs import pinner

WRK_TIMEOUT = "10s"  # per request; a 1 MB response under load can exceed wrk's 2 s default
WRK_GRACE = 30.0  # seconds past the planned duration before a stuck wrk is killed
DOWNLOAD_READ_TIMEOUT = 30.0  # seconds of silence before the 1 GiB download gives up
DOWNLOAD_TOTAL_TIMEOUT = 600.0  # hard bound on the 1 GiB download

_UNITS_TIME = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}
_UNITS_SIZE = {"B": 1, "KB": 1024, "MB": 1024 ** 2, "GB": 1024 ** 3, "TB": 1024 ** 4}


@dataclass
class Result:
    tool: str
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float
    bad_status: int  # responses outside 2xx (wrk: outside 2xx/3xx; the preflight rules out 3xx)
    errors: int  # socket errors / timeouts / client exceptions
    bytes_per_s: float


def wrk_path() -> str | None:
    return shutil.which("wrk")


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text)
    if not m:
        raise ValueError(f"unparsed wrk latency {text!r}")
    return float(m.group(1)) * _UNITS_TIME[m.group(2)]


def parse_wrk(out: str) -> Result:
    def find(pattern: str) -> re.Match:
        m = re.search(pattern, out, re.M)
        if not m:
            raise ValueError(f"wrk output lacks {pattern!r}:\n{out}")
        return m

    rps = float(find(r"^Requests/sec:\s+([\d.]+)").group(1))
    p50 = _ms(find(r"^\s+50%\s+(\S+)").group(1))
    p99 = _ms(find(r"^\s+99%\s+(\S+)").group(1))
    m = find(r"^\s+(\d+) requests in ([\d.]+)(us|ms|s|m|h)")
    requests, seconds = int(m.group(1)), _ms(m.group(2) + m.group(3)) / 1e3
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    t = find(r"^Transfer/sec:\s+([\d.]+)(B|KB|MB|GB|TB)")
    return Result(
        tool="wrk", requests=requests, seconds=seconds, rps=rps, p50_ms=p50, p99_ms=p99,
        bad_status=int(bad.group(1)) if bad else 0,
        errors=sum(int(g) for g in sock.groups()) if sock else 0,
        bytes_per_s=float(t.group(1)) * _UNITS_SIZE[t.group(2)],
    )


def run_wrk(url: str, headers: dict[str, str], connections: int, duration: float, cpus=None) -> Result:
    cmd = [wrk_path() or "wrk", "-t1", f"-c{connections}", f"-d{max(1, round(duration))}s",
           "--latency", "--timeout", WRK_TIMEOUT]
    for k, v in headers.items():
        cmd += ["-H", f"{k}: {v}"]
    cmd.append(url)
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + WRK_GRACE, preexec_fn=pinner(cpus))
    if proc.returncode != 0:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {proc.stderr.strip() or proc.stdout.strip()}")
    return parse_wrk(proc.stdout)


def run_python(url: str, headers: dict[str, str], connections: int, duration: float, cpus=None,
               cycle: int = 0) -> Result:
    """The aiohttp load loop, in a child process (never in the orchestrator's interpreter)."""
    cmd = [sys.executable, "-m", "bench.loadgen", "load", url, "--connections", str(connections),
           "--duration", str(duration), "--cycle", str(cycle)]
    for k, v in headers.items():
        cmd += ["--header", f"{k}: {v}"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + WRK_GRACE, preexec_fn=pinner(cpus))
    if proc.returncode != 0:
        raise RuntimeError(f"load loop failed: {proc.stderr.strip()[-2000:]}")
    return Result(**json.loads(proc.stdout))


def run_load(url: str, headers: dict[str, str], connections: int, duration: float, use_wrk: bool,
             cpus: set[int] | None = None, cycle: int = 0) -> Result:
    """``cycle`` > 0: ``{page}`` in ``url`` cycles over 0..cycle-1 (the aiohttp loop does that)."""
    if cycle:
        return run_python(url, headers, connections, duration, cpus, cycle)
    return (run_wrk if use_wrk else run_python)(url, headers, connections, duration, cpus)


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    i = min(len(sorted_values) - 1, max(0, round(q / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[i]


def _session(connections: int, read_timeout: float | None = None, total: float | None = None) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=connections),
        cookie_jar=aiohttp.DummyCookieJar(),
        auto_decompress=False,
        timeout=aiohttp.ClientTimeout(total=total, sock_read=read_timeout),
    )


async def _load(url: str, headers: dict[str, str], connections: int, duration: float, cycle: int = 0) -> Result:
    latencies: list[float] = []
    bad = errors = nbytes = 0
    turn = 0
    async with _session(connections, read_timeout=10.0) as client:
        start = time.perf_counter()
        deadline = start + duration

        async def worker() -> None:
            nonlocal bad, errors, nbytes, turn
            while time.perf_counter() < deadline:
                t0 = time.perf_counter()
                target = url
                if cycle:
                    target = url.replace("{page}", str(turn % cycle))
                    turn += 1
                try:
                    async with client.get(target, headers=headers) as r:
                        async for chunk in r.content.iter_any():
                            nbytes += len(chunk)
                        if not 200 <= r.status < 300:
                            bad += 1
                except (aiohttp.ClientError, asyncio.TimeoutError):
                    errors += 1
                    continue
                latencies.append((time.perf_counter() - t0) * 1e3)

        await asyncio.gather(*(worker() for _ in range(connections)))
        elapsed = time.perf_counter() - start
    latencies.sort()
    return Result("aiohttp", len(latencies), elapsed, len(latencies) / elapsed, percentile(latencies, 50),
                  percentile(latencies, 99), bad, errors, nbytes / elapsed)


async def _download(url: str, headers: dict[str, str]) -> dict:
    nbytes = 0
    async with _session(1, read_timeout=DOWNLOAD_READ_TIMEOUT, total=DOWNLOAD_TOTAL_TIMEOUT) as client:
        t0 = time.perf_counter()
        async with client.get(url, headers=headers) as r:
            async for chunk in r.content.iter_any():
                nbytes += len(chunk)
            status, length = r.status, r.content_length
        elapsed = time.perf_counter() - t0
    return {"status": status, "content_length": length, "bytes": nbytes, "seconds": elapsed}


def download(url: str, headers: dict[str, str], cpus: set[int] | None = None) -> subprocess.Popen:
    """Start the streaming download in a child process; its stdout will hold one JSON object."""
    cmd = [sys.executable, "-m", "bench.loadgen", "download", url]
    for k, v in headers.items():
        cmd += ["--header", f"{k}: {v}"]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=pinner(cpus))


# -- co-browsing rooms (bench.sync --load): leaders and followers of some rooms, in a child process --------
# The orchestrator (bench/sync.py) makes the sessions and credentials, starts a few of these, each with a
# share of the rooms, and samples the server. A worker's frames are made from templates (no json.dumps per
# event) and a follower reads only what it measures (two regular expressions, no json.loads), so the CPU
# the bench needs stays small next to the server's. Protocol on stdin/stdout, one line each:
#   -> the spec (JSON)   <- "ready"   -> "go"   <- the result (JSON)   -> "bye" (sockets close, exit)
STAMP_FRAME = ('{"t":"ev","e":[{"type":3,"data":{"source":0,"texts":[{"id":7,"value":"%d@%.6f"}],'
               '"attributes":[],"removes":[],"adds":[]},"timestamp":0}]}')
PING_FRAME = '{"t":"ping"}'
ROOM_PING_EVERY = 15.0  # seconds between a participant's pings (the room closes a socket silent for 45 s)
DRAIN_TIMEOUT = 20.0  # seconds after the sending for every follower to have every event
_STAMP = re.compile(r'"value":"(\d+)@([\d.]+)"')
_UPTO = re.compile(r'"upto":(\d+)')
_SNAPSHOT_ASK = '"t":"snapshot"'
PROBE_INTERVAL = 0.01  # seconds between a client's own lag probe wake-ups (as tandem/pauses.py does in the server)
STALL = 0.1  # seconds late past which a wake-up counts as a stall


def snapshot_frame(pad: int, upto: int | None = None) -> str:
    """A Meta and a FullSnapshot event; ``upto``: every event sent before it is covered by it."""
    full = {"node": {"type": 0, "id": 1, "childNodes": [], "pad": "x" * pad}}
    if upto is not None:
        full["upto"] = upto
    return json.dumps({"t": "ev", "e": [{"type": 4, "data": {"href": "http://x/", "width": 1280, "height": 800},
                                         "timestamp": 0}, {"type": 2, "data": full, "timestamp": 0}]})


class _Resolver(aiohttp.abc.AbstractResolver):
    async def resolve(self, host, port=0, family=0):
        import socket
        return [{"hostname": host, "host": "127.0.0.1", "port": port, "family": socket.AF_INET, "proto": 0, "flags": 0}]

    async def close(self):
        pass


async def _rooms(spec: dict) -> None:
    loop = asyncio.get_running_loop()
    stdin = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
    base, rate, duration, pad = spec["base"], spec["rate"], spec["duration"], spec.get("pad", 5_000)
    rooms = spec["rooms"]
    sent = [0] * len(rooms)
    hist: dict[int, int] = {}  # delivery latency in 0.1 ms steps -> count
    worst = [0.0]
    views: list[tuple[int, aiohttp.ClientWebSocketResponse]] = []
    seen: list[bytearray] = []  # per follower: 1 at event n when it arrived
    covered: list[int] = []
    resyncs = [0]
    closed = [0]
    closed_tabs = [0]
    ending = [False]
    http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(resolver=_Resolver(), limit=0))

    async def open_socket(cookie, kind):
        ws = await http.ws_connect(f"http://{base}/s/{cookie['sid']}/ws", origin=f"http://{base}",
                                   headers={"Cookie": f"{cookie['name']}={cookie['value']}"}, compress=15,
                                   max_msg_size=0, autoping=True)
        await ws.send_str('{"t":"hello","kind":"%s"}' % kind)
        return ws

    capacity = int(rate * duration) + 16
    tabs = []
    for r, room in enumerate(rooms):
        tab = await open_socket(room["leader"], "tab")
        await tab.send_str(snapshot_frame(pad))
        tabs.append(tab)
        for c in room["followers"]:
            views.append((r, await open_socket(c, "view")))
            seen.append(bytearray(capacity))
            covered.append(0)

    async def reader(i: int, ws) -> None:
        got, hist_, perf = seen[i], hist, time.perf_counter
        async for msg in ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                continue
            data = msg.data
            now = perf()
            for m in _STAMP.finditer(data):
                n = int(m.group(1))
                if n < len(got):
                    got[n] = 1
                ms = (now - float(m.group(2))) * 1000
                k = int(ms * 10)
                hist_[k] = hist_.get(k, 0) + 1
                if ms > worst[0]:
                    worst[0] = ms
            if '"upto":' in data:
                for m in _UPTO.finditer(data):
                    covered[i] = max(covered[i], int(m.group(1)))
        if not ending[0]:
            closed[0] += 1  # the server closed it during the run

    async def drain(r: int, ws) -> None:
        """The tab owner's page: answers the room's requests for a fresh snapshot (a follower resyncs)."""
        async for msg in ws:
            if msg.type == aiohttp.WSMsgType.TEXT and _SNAPSHOT_ASK in msg.data:
                resyncs[0] += 1
                try:
                    await ws.send_str(snapshot_frame(pad, upto=sent[r]))
                except (ConnectionError, aiohttp.ClientError):
                    return

    async def leader(r: int, ws, start: float) -> None:
        n = 0
        perf = time.perf_counter
        while perf() - start < duration:
            try:
                await ws.send_str(STAMP_FRAME % (n, perf()))
            except (ConnectionError, aiohttp.ClientError):
                closed_tabs[0] += 1  # the server closed the tab owner's socket: this room stops here
                return
            n += 1
            sent[r] = n
            await asyncio.sleep(max(0.0, start + n / rate - perf()))

    async def pinger() -> None:
        while True:
            await asyncio.sleep(ROOM_PING_EVERY)
            for ws in [w for _, w in views] + tabs:
                if not ws.closed:
                    await ws.send_str(PING_FRAME)

    def missing(i: int, r: int) -> int:
        got = seen[i]
        return sum(1 for n in range(covered[i], sent[r]) if not got[n])

    lag = [0.0, 0]  # this process's own event-loop lag: the longest, and wake-ups over STALL late (a client
    # that stalls delays what it measures: the delivery figures are the server's only when this stays small)

    async def probe() -> None:
        while True:
            planned = loop.time() + PROBE_INTERVAL
            await asyncio.sleep(PROBE_INTERVAL)
            late = loop.time() - planned
            lag[0] = max(lag[0], late)
            lag[1] += late > STALL

    tasks = [asyncio.create_task(reader(i, ws)) for i, (_, ws) in enumerate(views)]
    tasks += [asyncio.create_task(drain(r, t)) for r, t in enumerate(tabs)]
    tasks.append(asyncio.create_task(pinger()))
    print("ready", flush=True)
    await stdin.readline()  # "go"
    tasks.append(asyncio.create_task(probe()))
    cpu0 = time.process_time()
    start = time.perf_counter()
    # the rooms' first events are spread over one interval, as independent pages would be
    await asyncio.gather(*(leader(r, t, start + r / max(1, len(tabs)) / rate) for r, t in enumerate(tabs)))
    cpu = time.process_time() - cpu0
    wall = time.perf_counter() - start
    deadline = time.perf_counter() + DRAIN_TIMEOUT
    while time.perf_counter() < deadline and any(missing(i, r) for i, (r, _) in enumerate(views)):
        await asyncio.sleep(0.2)
    print(json.dumps({"sent": sent, "expected": sum(sent[r] for r, _ in views),
                      "lost": sum(missing(i, r) for i, (r, _) in enumerate(views)),
                      "hist": hist, "max_ms": worst[0], "resyncs": resyncs[0], "closed": closed[0], "tabs_closed": closed_tabs[0],
                      "cpu": cpu, "wall": wall, "lag_max_s": lag[0], "stalls": lag[1]}), flush=True)
    await stdin.readline()  # "bye"
    ending[0] = True
    for ws in [w for _, w in views] + tabs:
        await ws.close()
    for t in tasks:
        t.cancel()
    await http.close()


def hist_percentile(hist: dict, q: float) -> float:
    """The q-th percentile (ms) of a histogram of 0.1 ms steps."""
    total = sum(hist.values())
    if not total:
        return float("nan")
    want = q / 100 * total
    acc = 0
    for k in sorted(hist, key=int):
        acc += hist[k]
        if acc >= want:
            return (int(k) + 0.5) / 10
    return float("nan")


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.loadgen")
    p.add_argument("mode", choices=("load", "download", "rooms"))
    p.add_argument("url", nargs="?", default="")
    p.add_argument("--header", action="append", default=[], help="'Name: value' (repeatable)")
    p.add_argument("--connections", type=int, default=16)
    p.add_argument("--duration", type=float, default=8.0)
    p.add_argument("--cycle", type=int, default=0, help="'{page}' in the URL cycles over 0..N-1")
    args = p.parse_args()
    headers = dict(h.split(": ", 1) for h in args.header)
    if args.mode == "rooms":  # the spec comes as the first line on stdin
        asyncio.run(_rooms(json.loads(sys.stdin.buffer.readline())))
        return
    if args.mode == "load":
        print(json.dumps(asdict(asyncio.run(_load(args.url, headers, args.connections, args.duration, args.cycle)))))
    else:
        print(json.dumps(asyncio.run(_download(args.url, headers))))


if __name__ == "__main__":
    main()
