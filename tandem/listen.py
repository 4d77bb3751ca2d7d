"""Where the server listens: the configured address and, for a base domain under ``localhost``,
the other loopback address too, on the same port.

Browsers resolve ``localhost`` and every ``*.localhost`` name themselves, to both loopback
addresses, and connect to ``[::1]`` first (Chromium: a listener there takes the request; only a
refused connection makes it try ``127.0.0.1``). With the dev default (``--host 127.0.0.1``, base
``tandem.localhost:PORT``) Tandem was reachable only because nothing else listened on
``[::1]:PORT``: a program that does (a dev server bound to ``localhost``, another test's server)
received the browser's requests for Tandem's hosts, and pages waited for answers that never
came (a hang with an idle browser and an idle Tandem). So when the base domain is under
``localhost`` and Tandem listens on one loopback address, it also listens on the other; when
another program holds it, Tandem does not start and says which address and port.
"""

from __future__ import annotations

import errno
import ipaddress
import socket

from aiohttp import web

IPV4_LOOPBACK, IPV6_LOOPBACK = "127.0.0.1", "::1"


class ListenError(OSError):
    """Another program holds the loopback address browsers use for the base domain (an OSError: `tandem
    serve` reports it as "cannot start: ...")."""


def loopback_twin(host: str, base_hostname: str) -> str | None:
    """The other loopback address browsers use for ``base_hostname`` while the server listens on
    ``host``; None when browsers reach ``host`` alone (a public base domain, an address on every
    interface of both families)."""
    name = base_hostname.lower().rstrip(".")
    if name != "localhost" and not name.endswith(".localhost"):
        return None
    try:
        ip = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None  # a name ("localhost"): aiohttp already binds every address it resolves to
    if ip.version == 4 and (ip.is_loopback or ip.is_unspecified):
        return IPV6_LOOPBACK
    if ip.version == 6 and ip.is_loopback:
        return IPV4_LOOPBACK
    return None  # "::" binds both families (dual stack)


def bind_twin(address: str, port: int) -> socket.socket | None:
    """A bound socket on ``(address, port)`` for a site to listen on; None when this machine has no
    such address (no IPv6: browsers cannot connect there either). Raises :class:`ListenError` when
    another program holds it."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    try:
        sock = socket.socket(family, socket.SOCK_STREAM)
    except OSError:
        return None
    try:
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as aiohttp's sites: a TIME_WAIT is no owner
        sock.bind((address, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise ListenError(
                f"port {port} on {address} is used by another program, and browsers connect there for the "
                f"base domain's *.localhost names; stop that program or choose another --port") from None
        if exc.errno in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT):
            return None
        raise
    return sock


def twins(host: str, base_hostname: str) -> tuple[str, ...]:
    """The loopback twin of ``host`` for ``base_hostname`` when this machine has it (for a balancer's
    configuration: HAProxy's ``bind`` lines), else nothing."""
    twin = loopback_twin(host, base_hostname)
    if twin is None:
        return ()
    try:
        probe = bind_twin(twin, 0)
    except ListenError:
        return (twin,)
    if probe is None:
        return ()
    probe.close()
    return (twin,)


async def start_sites(runner: web.BaseRunner, host: str, port: int, base_hostname: str) -> list[web.BaseSite]:
    """Listen on ``(host, port)`` and, when browsers also use it for the base domain, on its loopback twin."""
    twin = loopback_twin(host, base_hostname) if port else None
    sock = bind_twin(twin, port) if twin else None  # before the main site: a refusal leaves nothing started
    sites: list[web.BaseSite] = [web.TCPSite(runner, host, port)]
    if sock is not None:
        sites.append(web.SockSite(runner, sock))
    try:
        for site in sites:
            await site.start()
    except BaseException:
        if sock is not None:
            sock.close()
        raise
    return sites
