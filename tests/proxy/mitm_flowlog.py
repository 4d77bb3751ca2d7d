"""mitmproxy addon for the egress tests: the proxy's own record of what passed through it.

Loaded by ``mitmdump -s`` (in its own virtual environment, not by pytest). Appends one
JSON object per event to the file named by ``TANDEM_FLOWLOG``:

* ``listening``: the port mitmdump bound (it is started on port 0);
* ``connect``: a CONNECT request (method, host, port);
* ``request``: method, URL and framing of every request seen in clear;
* ``response``: method, URL, status and ``Content-Length`` of every HTTP exchange seen
  in clear (plain http, and https/wss after mitmproxy's TLS interception);
* ``websocket`` and ``ws_message``: a WebSocket opened, and each message's text;
* ``error``: a flow mitmproxy could not complete.

Like browsers, it resolves ``*.localhost`` to loopback itself (glibc does not), so the
demo site's names work through it.
"""

import json
import os

_PATH = os.environ["TANDEM_FLOWLOG"]


def _write(record: dict) -> None:
    with open(_PATH, "a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")


def running() -> None:
    from mitmproxy import ctx

    addrs = ctx.master.addons.get("proxyserver").listen_addrs()
    _write({"event": "listening", "port": addrs[0][1]})


def _is_localhost(host: str) -> bool:
    return host == "localhost" or host.endswith(".localhost")


def _to_loopback(flow) -> None:
    """Connect to 127.0.0.1 for a *.localhost name, keeping the name in the Host header."""
    if _is_localhost(flow.request.host):
        host_header = flow.request.host_header
        flow.request.host = "127.0.0.1"
        flow.request.host_header = host_header


def http_connect(flow) -> None:
    _write({"event": "connect", "method": flow.request.method, "host": flow.request.host, "port": flow.request.port})
    _to_loopback(flow)


def requestheaders(flow) -> None:
    _write({"event": "request", "method": flow.request.method, "url": flow.request.pretty_url,
            "length": flow.request.headers.get("content-length"), "chunked": "chunked" in flow.request.headers.get("transfer-encoding", "")})
    _to_loopback(flow)


def responseheaders(flow) -> None:
    _write({"event": "response", "method": flow.request.method, "url": flow.request.pretty_url,
            "status": flow.response.status_code, "length": flow.response.headers.get("content-length")})


def websocket_start(flow) -> None:
    _write({"event": "websocket", "url": flow.request.pretty_url})


def websocket_message(flow) -> None:
    message = flow.websocket.messages[-1]
    _write({"event": "ws_message", "url": flow.request.pretty_url, "from_client": message.from_client,
            "text": message.text if message.is_text else None})


def error(flow) -> None:
    _write({"event": "error", "url": flow.request.pretty_url if flow.request else None, "message": str(flow.error)})
