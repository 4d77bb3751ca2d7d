"""The pooled upstream clients, and mapping of client failures to ProxyErrors.

One guarded session for direct connections (``appkeys.UPSTREAM``); with an outbound
proxy configured, also one session per proxy and way of using it (see ``proxy.egress``),
all living exactly as long as the app. Every session refuses IP literals the guard
forbids on every request and redirect hop (``guard.guarded_request``), whoever makes it.

Two ways out: ``EGRESS`` may reach the private networks ``--allow-private-networks``
opened; ``PUBLIC_EGRESS`` never does. The proxy pipeline uses the first only for
hosts that are on the allowlist themselves (``proxy.decide``).
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from pathlib import Path
from typing import AsyncIterator

import aiohttp
import aiohttp_socks
from aiohttp import web
from aiohttp.abc import AbstractResolver
from aiohttp.resolver import DefaultResolver

from tandem import appkeys

from . import errors
from .egress import EGRESS, Egress, EgressConfig, ProxySpec, proxy_auth_message
from .guard import AddressBlocked, GuardedResolver, guarded_request

POOL_LIMIT = 200  # open upstream connections in all; past it requests queue
POOL_LIMIT_PER_HOST = 32  # per upstream host, roughly what six browser tabs would open
DNS_CACHE_TTL = 60  # seconds; the guard checks every fresh resolution


def tls_context(ca_file: Path | None) -> ssl.SSLContext | bool:
    """System trust, plus ``ca_file`` (e.g. a TLS-inspecting proxy's root). Raises ValueError if unusable."""
    if ca_file is None:
        return True
    ctx = ssl.create_default_context()
    try:
        ctx.load_verify_locations(cafile=str(ca_file))
    except (OSError, ssl.SSLError) as exc:
        raise ValueError(f"cannot load CA certificates from {ca_file}: {getattr(exc, 'strerror', None) or exc}") from None
    return ctx


class ProxyOnlyResolver(AbstractResolver):
    """Resolves the configured proxy's name and nothing else.

    The operator named the proxy, so its (usually private) address is not subject to the
    guard; every request on this session carries ``proxy=``, so no other name is ever
    looked up here, and one that were would be refused.
    """

    def __init__(self, proxy_host: str):
        self.proxy_host = proxy_host
        self._inner = DefaultResolver()

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET):
        if host.lower().rstrip(".") != self.proxy_host:
            raise AddressBlocked(host, "not resolved by Tandem: requests go through the proxy")
        return await self._inner.resolve(host, port, family)

    async def close(self) -> None:
        await self._inner.close()


PUBLIC_EGRESS: web.AppKey[Egress] = web.AppKey("public_egress", Egress)  # no private network, whatever is configured


def _session(settings, connector: aiohttp.BaseConnector, headers: dict[str, str] | None = None,
             allowed=None) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        connector=connector,
        request_class=guarded_request(settings.allow_private if allowed is None else allowed),
        headers=headers,
        # Requests pass their own timeouts; this bounds WebSocket handshakes (and proxy tunnels for them).
        timeout=aiohttp.ClientTimeout(total=None, sock_connect=settings.connect_timeout, sock_read=settings.read_timeout),
        cookie_jar=aiohttp.DummyCookieJar(),  # cookies belong to the session jars, never to the client
        auto_decompress=False,  # bodies pass through as sent unless we rewrite them
        skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
        trust_env=False,  # proxies come from Tandem's own settings (--upstream-proxy env reads the variables)
    )


def _tunnel_connector(proxy: ProxySpec, tls) -> aiohttp.BaseConnector:
    kind = aiohttp_socks.ProxyType.SOCKS5 if proxy.scheme == "socks5" else aiohttp_socks.ProxyType.HTTP
    return aiohttp_socks.ProxyConnector(
        proxy_type=kind, host=proxy.host, port=proxy.port, username=proxy.username, password=proxy.password,
        rdns=True,  # the proxy resolves names: Tandem never does for proxied targets
        ssl=tls, limit=POOL_LIMIT, limit_per_host=POOL_LIMIT_PER_HOST, enable_cleanup_closed=True,
    )


async def upstream_ctx(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx: the upstream ClientSessions live exactly as long as the app."""
    settings = app[appkeys.SETTINGS]
    tls = tls_context(settings.upstream_ca)
    config: EgressConfig = settings.egress
    direct = _session(settings, aiohttp.TCPConnector(
        resolver=GuardedResolver(settings.allow_private),
        ssl=tls,
        limit=POOL_LIMIT,
        limit_per_host=POOL_LIMIT_PER_HOST,
        ttl_dns_cache=DNS_CACHE_TTL,
        enable_cleanup_closed=True,
    ))
    forward, tunnel = {}, {}
    for proxy in config.proxies:
        if proxy.scheme == "http":
            forward[proxy] = _session(settings, aiohttp.TCPConnector(
                resolver=ProxyOnlyResolver(proxy.host), ssl=tls, limit=POOL_LIMIT,
                limit_per_host=POOL_LIMIT_PER_HOST, ttl_dns_cache=DNS_CACHE_TTL, enable_cleanup_closed=True,
            ), headers={"Proxy-Authorization": proxy.basic_auth} if proxy.has_credentials else None)
        tunnel[proxy] = _session(settings, _tunnel_connector(proxy, tls))
    app[appkeys.UPSTREAM] = direct
    app[EGRESS] = Egress(config, settings.allow_private, direct, forward, tunnel)
    public = direct
    if settings.allow_private:
        public = _session(settings, aiohttp.TCPConnector(
            resolver=GuardedResolver(()), ssl=tls, limit=POOL_LIMIT, limit_per_host=POOL_LIMIT_PER_HOST,
            ttl_dns_cache=DNS_CACHE_TTL, enable_cleanup_closed=True,
        ), allowed=())
        app[PUBLIC_EGRESS] = Egress(config, (), public, forward, tunnel)
    else:
        app[PUBLIC_EGRESS] = app[EGRESS]
    yield
    for session in {direct, public, *forward.values(), *tunnel.values()}:
        await session.close()


def classify(exc: BaseException, host: str, proxy: ProxySpec | None = None) -> errors.ProxyError:
    """Turn an aiohttp/asyncio failure into the ProxyError people will see.

    With ``proxy`` (the request went through it), failures at the proxy name it as the
    cause. Messages are built from known fields only: never an exception's text that
    could carry a proxy credential.
    """
    os_error = getattr(exc, "os_error", None)
    if isinstance(exc, AddressBlocked) or isinstance(os_error, AddressBlocked):
        blocked = exc if isinstance(exc, AddressBlocked) else os_error
        if proxy is not None:
            return errors.AddressRefused(
                f"{host} is a private or internal address, which Tandem does not send to its outbound proxy.",
                detail=f"{host} is {blocked.address}",
            )
        return errors.AddressRefused(
            f"{host} points to a private or internal address, which Tandem does not fetch.",
            detail=f"resolved to {blocked.address}",
        )
    if proxy is not None:
        found = _classify_proxy(exc, host, proxy)
        if found is not None:
            return found
    via = f" (through the outbound proxy {proxy.display})" if proxy is not None else ""
    if isinstance(exc, (asyncio.TimeoutError, aiohttp.ServerTimeoutError)):
        return errors.UpstreamTimeout(f"{host} did not answer in time{via}.")
    if isinstance(exc, (aiohttp.ClientConnectorCertificateError, aiohttp.ClientSSLError, ssl.SSLError)) or (
        isinstance(exc, aiohttp.ClientOSError) and isinstance(exc.__cause__, ssl.SSLError)  # TLS inside a proxy tunnel
    ):
        if proxy is not None:  # the certificate may be the proxy's own, if it inspects TLS
            return errors.UpstreamTLS(f"The secure connection to {host}{via} failed.",
                                      detail="If the proxy inspects TLS, give Tandem its CA certificate with --upstream-ca.")
        return errors.UpstreamTLS(f"The secure connection to {host} failed.", detail=str(exc)[:200])
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return errors.UpstreamDNS(f"The name {host} could not be resolved.")
    if isinstance(exc, aiohttp.ClientConnectorError):
        if isinstance(os_error, ConnectionRefusedError):
            return errors.UpstreamRefused(f"{host} refused the connection.")
        return errors.UpstreamRefused(f"Could not connect to {host}.", detail=str(os_error or exc)[:200])
    if isinstance(exc, (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError, aiohttp.ClientResponseError)):
        return errors.UpstreamBroken(f"{host} closed the connection or sent a malformed response{via}.")
    if isinstance(exc, aiohttp.InvalidURL):
        return errors.UpstreamBroken(f"The address for {host} is not valid.")
    return errors.UpstreamBroken(f"The request to {host} failed{via}.", detail=type(exc).__name__)


def _classify_proxy(exc: BaseException, host: str, proxy: ProxySpec) -> errors.ProxyError | None:
    """Failures that happened at the proxy itself, or None."""
    name = proxy.display
    if isinstance(exc, aiohttp_socks.ProxyTimeoutError):
        return errors.ProxyTimeout(f"Tandem's outbound proxy {name} did not answer in time while connecting to {host}.")
    if isinstance(exc, aiohttp_socks.ProxyConnectionError):
        return errors.ProxyUnreachable(f"Tandem could not connect to its outbound proxy {name}.",
                                       detail="The proxy refused the connection, or its name could not be resolved.")
    if isinstance(exc, aiohttp_socks.ProxyError):
        code = exc.error_code
        text = str(exc).lower()
        if code == 407 or "authentication" in text:
            return errors.ProxyAuthRequired(proxy_auth_message(proxy))
        if isinstance(code, int) and code >= 100:  # an HTTP status in answer to CONNECT
            return errors.ProxyTunnelFailed(f"Tandem's outbound proxy {name} could not open a connection to {host}.",
                                            detail=f"The proxy answered CONNECT with status {code}.")
        return errors.ProxyTunnelFailed(f"Tandem's outbound proxy {name} could not open a connection to {host}.",
                                        detail=f"SOCKS reply code {code}." if code is not None else "")
    if isinstance(exc, aiohttp.ClientHttpProxyError):
        if exc.status == 407:
            return errors.ProxyAuthRequired(proxy_auth_message(proxy))
        return errors.ProxyTunnelFailed(f"Tandem's outbound proxy {name} could not open a connection to {host}.",
                                        detail=f"The proxy answered CONNECT with status {exc.status}.")
    if isinstance(exc, (aiohttp.ClientSSLError, ssl.SSLError)) or isinstance(exc.__cause__, ssl.SSLError):
        return None  # TLS with the site, end to end through the tunnel
    if isinstance(exc, aiohttp.ClientProxyConnectionError) or (
        isinstance(exc, aiohttp.ClientConnectorError) and proxy.scheme == "http"
    ):  # the forwarding session connects to nothing but the proxy
        if isinstance(exc, aiohttp.ClientConnectorDNSError):
            return errors.ProxyUnreachable(f"Tandem could not resolve the name of its outbound proxy {name}.")
        return errors.ProxyUnreachable(f"Tandem could not connect to its outbound proxy {name}.",
                                       detail="The proxy refused the connection." if isinstance(exc.os_error, ConnectionRefusedError) else "")
    return None
