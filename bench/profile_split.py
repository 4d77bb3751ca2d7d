"""Where the proxy's CPU goes per page: a cProfile of ``tandem serve`` split by concern.

``python -m bench --resource pages --profile`` runs Tandem under cProfile while it serves the
corpus pages and prints this split; ``python -m bench.profile_split FILE.prof [REQUESTS]`` prints
it for a saved profile. Each function's own time (``tottime``) goes to the concern of the file it
lives in (:data:`CONCERNS`, first match wins); the time of built-ins (``len``, ``socket.send``,
regex methods, ...) goes to their callers' concerns, in proportion to what each caller spent in
them. With REQUESTS, the figures are also given per request.

The concerns are the ones issue 14 names: tokenizing (the HTML rewriter), URL mapping, header
policy, the cookie jar, the upstream client, response writing and injection, plus the CSS/JS
rewriters, the server's own request handling and the event loop.
"""

from __future__ import annotations

import pstats
import sys
from collections import defaultdict

# (concern, substrings of the file path or function name); the first concern that matches wins
CONCERNS: list[tuple[str, tuple[str, ...]]] = [
    ("injection", ("rewriter.py:_inject_now", "rewriter.py:xml_safe_markup", "rewriter.py:_emit_text")),
    ("tokenizing (HTML rewriter)", ("rewriter/html/", "difflib.py")),  # difflib: values.diff_many
    ("JS parse thread (waited on)", ("threading.py",)),  # rewriter/js.py's big-stack parse worker
    ("URL mapping", ("rewriter/urls.py", "rewriter/labels.py", "/idna/", "ipaddress.py")),
    ("CSS / JS rewriters", ("rewriter/css", "rewriter/js", "tree_sitter", "rewriter/manifest", "rewriter/jsonurls")),
    ("header policy", ("rewriter/headers.py", "proxy/cors.py", "proxy/decide.py", "proxy/guard.py",
                       "rewriter/cache.py", "proxy/cache.py")),
    ("cookie jar", ("rewriter/cookies.py", "tandem/live/", "http/cookies.py")),
    ("upstream client", ("aiohttp/client", "aiohttp/connector.py", "proxy/upstream.py", "proxy/egress.py",
                         "aiohttp/http_parser.py:HttpResponseParser", "aiohttp/streams.py", "proxy/decoding.py",
                         "aiohttp/resolver.py", "proxy/watchdog.py")),
    ("response writing", ("aiohttp/web_response.py", "aiohttp/http_writer.py", "proxy/respond.py",
                          "asyncio/selector_events.py", "asyncio/sslproto.py")),
    ("request handling (server, session)", ("aiohttp/web", "aiohttp/http_parser.py", "aiohttp/helpers.py",
                                            "multidict", "yarl", "proxy/", "tandem/", "aiohttp/")),
    ("event loop", ("asyncio/", "selectors.py")),
]
OTHER = "other"

# The per-page path, stage by stage (issue 14): cumulative time of the functions of each stage per
# proxied request, the request count being the URL mappers built (one per proxied request). Stages
# nest (the exchange's time is inside the handler's), so they are read one by one, not summed.
STAGES: list[tuple[str, tuple[tuple[str, str], ...]]] = [
    ("server + middlewares (whole request)", (("aiohttp/web_protocol.py", "_handle_request"),)),
    ("  proxy handler (admit .. respond)", (("proxy/handler.py", "handle"),)),
    ("  middlewares outside it (policy, metrics)", (("tandem/policy.py", "refresh"), ("tandem/metrics.py", "proxied"),
                                                   ("tandem/app.py", "expire_junk_cookies"))),
    ("admit (label, credential, role, mapper)", (("proxy/admit.py", "admit"),)),
    ("  credential check (HMAC)", (("proxy/credentials.py", "participant"),)),
    ("decide (facts + rules, twice)", (("proxy/handler.py", "facts"), ("proxy/decide.py", "decide"))),
    ("request headers + cookie jar", (("proxy/exchange.py", "request_context"), ("proxy/exchange.py", "upstream_headers"))),
    ("exchange (upstream client, to headers in)", (("proxy/exchange.py", "open_exchange"),)),
    ("  address guard on the client (trace)", (("proxy/guard.py", "check_host"),)),
    ("respond (all, rewriter included)", (("proxy/respond.py", "respond"),)),
    ("  plan + response header table", (("proxy/respond.py", "peek"), ("proxy/respond.py", "plan"),
                                        ("rewriter/headers.py", "browser_response_headers"),
                                        ("proxy/respond.py", "_response_object"))),
    ("  HTML rewriter (new, feed, close)", (("rewriter/html/rewriter.py", "__init__"), ("rewriter/html/rewriter.py", "feed"),
                                            ("rewriter/html/rewriter.py", "close"), ("rewriter/js.py", "js_rewriter"))),
    ("  recorder tag", (("proxy/cobrowse.py", "recorder_tag"),)),
    ("  body in (upstream stream, decoding)", (("proxy/respond.py", "_chunks"), ("proxy/decoding.py", "feed"),
                                               ("proxy/decoding.py", "finish"))),
    ("  response writing (prepare, write, eof)", (("aiohttp/web_response.py", "prepare"), ("aiohttp/web_response.py", "write"),
                                                  ("aiohttp/web_response.py", "write_eof"))),
    ("  metrics on the body path", (("tandem/metrics.py", "observe_rewrite"), ("tandem/metrics.py", "bytes_in"))),
]
REQUEST_MARK = ("proxy/admit.py", "__init__")  # Mapper.__init__: once per proxied request


def concern_of(filename: str, funcname: str) -> str | None:
    """The concern of a Python function, or None for a built-in (charged to its callers)."""
    if filename == "~" or filename.startswith("<"):
        return None
    where = f"{filename}:{funcname}"
    for name, keys in CONCERNS:
        if any(k in where for k in keys):
            return name
    return OTHER


def split(stats: pstats.Stats) -> dict[str, float]:
    """Own seconds per concern; built-ins go to their callers' concerns (by what each caller spent)."""
    raw = stats.stats  # type: ignore[attr-defined]
    out: dict[str, float] = defaultdict(float)
    for (filename, _line, func), (_cc, _nc, tt, _ct, callers) in raw.items():
        mine = concern_of(filename, func)
        if mine is not None:
            out[mine] += tt
            continue
        shares: dict[str, float] = defaultdict(float)
        for (cf, _cl, cfn), caller_stats in callers.items():
            spent = caller_stats[2] if isinstance(caller_stats, tuple) else 0.0
            shares[concern_of(cf, cfn) or OTHER] += spent
        total = sum(shares.values())
        if total <= 0:
            out[OTHER] += tt
            continue
        for name, spent in shares.items():
            out[name] += tt * spent / total
    return dict(out)


def print_split(path: str, requests: int = 0, top: int = 12) -> None:
    stats = pstats.Stats(path)
    parts = split(stats)
    total = sum(parts.values()) or 1e-9
    per = f"{'ms/request':>11}" if requests else ""
    print(f"\nTandem's CPU by concern (cProfile own time; built-ins charged to their callers){':' if not requests else f', {requests} requests:'}")
    print(f"  {'concern':<38}{'seconds':>9}{'share':>8}{per}")
    for name, secs in sorted(parts.items(), key=lambda kv: -kv[1]):
        line = f"  {name:<38}{secs:9.2f}{100 * secs / total:7.1f}%"
        if requests:
            line += f"{1e3 * secs / requests:11.2f}"
        print(line)
    print(f"\nTop {top} functions by own time:")
    stats.sort_stats("tottime")
    width = max(1, total)
    for func in stats.fcn_list[:top]:  # type: ignore[attr-defined]
        _cc, nc, tt, ct, _ = stats.stats[func]  # type: ignore[attr-defined]
        filename, line, name = func
        short = filename.rsplit("site-packages/", 1)[-1].replace("/work/main/", "")
        print(f"  {100 * tt / width:5.1f}%  {tt:7.2f}s own {ct:7.2f}s cum {nc:>9} calls  {short}:{line}({name})")


def stages(stats: pstats.Stats) -> tuple[int, list[tuple[str, float]]]:
    """(proxied requests, [(stage, cumulative seconds)]) from a profile of the running proxy."""
    raw = stats.stats  # type: ignore[attr-defined]

    def cum(fragment: str, func: str) -> tuple[int, float]:
        calls, secs = 0, 0.0
        for (filename, _line, name), (_cc, nc, _tt, ct, _callers) in raw.items():
            if name == func and fragment in filename:
                calls, secs = calls + nc, secs + ct
        return calls, secs

    requests = cum(*REQUEST_MARK)[0]
    return requests, [(label, sum(cum(f, fn)[1] for f, fn in funcs)) for label, funcs in STAGES]


def print_stages(path: str) -> None:
    requests, rows = stages(pstats.Stats(path))
    if not requests:
        return
    print(f"\nThe per-page path by stage ({requests} proxied requests; cumulative, so stages nest):")
    print(f"  {'stage':<46}{'ms/request':>11}")
    for label, secs in rows:
        print(f"  {label:<46}{1e3 * secs / requests:11.3f}")


if __name__ == "__main__":
    print_split(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 0)
    print_stages(sys.argv[1])
