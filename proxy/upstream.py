"""The one pooled upstream client, and mapping of client failures to ProxyErrors."""

from __future__ import annotations

import asyncio
import ssl
from typing import AsyncIterator

import aiohttp
from aiohttp import web

from tandem import appkeys

from . import errors
from .guard import AddressBlocked, GuardedResolver

POOL_LIMIT = 200  # open upstream connections in all; past it requests queue
POOL_LIMIT_PER_HOST = 32  # per upstream host, roughly what six browser tabs would open
DNS_CACHE_TTL = 60  # seconds; the guard checks every fresh resolution


async def upstream_ctx(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx: the upstream ClientSession lives exactly as long as the app."""
    settings = app[appkeys.SETTINGS]
    connector = aiohttp.TCPConnector(
        resolver=GuardedResolver(settings.allow_private),
        limit=POOL_LIMIT,
        limit_per_host=POOL_LIMIT_PER_HOST,
        ttl_dns_cache=DNS_CACHE_TTL,
        enable_cleanup_closed=True,
    )
    session = aiohttp.ClientSession(
        connector=connector,
        cookie_jar=aiohttp.DummyCookieJar(),  # cookies belong to the session jars, never to the client
        auto_decompress=False,  # bodies pass through as sent unless we rewrite them
        skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
        trust_env=False,
    )
    app[appkeys.UPSTREAM] = session
    yield
    await session.close()


def classify(exc: BaseException, host: str) -> errors.ProxyError:
    """Turn an aiohttp/asyncio failure into the ProxyError people will see."""
    os_error = getattr(exc, "os_error", None)
    if isinstance(exc, AddressBlocked) or isinstance(os_error, AddressBlocked):
        blocked = exc if isinstance(exc, AddressBlocked) else os_error
        return errors.AddressRefused(
            f"{host} points to a private or internal address, which Tandem does not fetch.",
            detail=f"resolved to {blocked.address}",
        )
    if isinstance(exc, (asyncio.TimeoutError, aiohttp.ServerTimeoutError)):
        return errors.UpstreamTimeout(f"{host} did not answer in time.")
    if isinstance(exc, (aiohttp.ClientConnectorCertificateError, aiohttp.ClientSSLError, ssl.SSLError)):
        return errors.UpstreamTLS(f"The secure connection to {host} failed.", detail=str(exc)[:200])
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return errors.UpstreamDNS(f"The name {host} could not be resolved.")
    if isinstance(exc, aiohttp.ClientConnectorError):
        if isinstance(os_error, ConnectionRefusedError):
            return errors.UpstreamRefused(f"{host} refused the connection.")
        return errors.UpstreamRefused(f"Could not connect to {host}.", detail=str(os_error or exc)[:200])
    if isinstance(exc, (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError, aiohttp.ClientResponseError)):
        return errors.UpstreamBroken(f"{host} closed the connection or sent a malformed response.")
    if isinstance(exc, aiohttp.InvalidURL):
        return errors.UpstreamBroken(f"The address for {host} is not valid.")
    return errors.UpstreamBroken(f"The request to {host} failed.", detail=type(exc).__name__)
