"""The balancer in front of several nodes: the HAProxy configuration Tandem is tested with.

Round-robin with no stickiness (nothing depends on a participant reaching "their" node),
WebSockets passed through (HAProxy switches a connection to a tunnel on the 101), health
checks on ``GET /readyz`` (a node that lost Redis or its store answers 503 and is taken
out until it answers 200 again). A request that cannot reach a node (refused: the node
just died) is sent to another (``retries`` + ``redispatch``): nothing reached the dead one, so
the origin still sees each action once. ``make cluster`` and the cluster tests use this text.
"""

from __future__ import annotations

CHECK_INTER_MS = 1000  # a dead node is out of rotation after FALL checks
CHECK_FALL = 2
CHECK_RISE = 2
TUNNEL_TIMEOUT = "1h"  # an idle session socket (clients ping every 15 s) is never cut by the balancer


def haproxy_config(port: int, nodes: list[tuple[str, int]], *, bind: str = "127.0.0.1", log: bool = True,
                   also: tuple[str, ...] = ()) -> str:
    """``nodes``: (host, port) of each ``tandem serve``; the balancer listens on ``bind:port`` and on each
    address of ``also`` (the loopback twin browsers try first for *.localhost: tandem.listen.twins)."""
    servers = "\n".join(
        f"    server n{i} {host}:{p} check inter {CHECK_INTER_MS} fall {CHECK_FALL} rise {CHECK_RISE}"
        for i, (host, p) in enumerate(nodes, 1))
    logging = ("    log stdout format raw local0\n" if log else "")
    more_binds = "".join(f"    bind {f'[{a}]' if ':' in a else a}:{port}\n" for a in also)
    return f"""global
{logging}    maxconn 4000

defaults
    mode http
{"    log global" if log else ""}
    option logasap
    option http-server-close
    option forwardfor
    option redispatch 1
    retries 3
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    timeout tunnel {TUNNEL_TIMEOUT}
    timeout http-request 20s
    log-format "%b/%s %ST %HM %[capture.req.hdr(0)] %HU"

frontend tandem
    bind {bind}:{port}
{more_binds}    http-request capture req.hdr(host) len 255
    default_backend nodes

backend nodes
    balance roundrobin
    option httpchk GET /readyz
    http-check expect status 200
{servers}
"""
