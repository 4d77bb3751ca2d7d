"""Private-address guard: the proxy never connects to internal addresses unless told to.

The check runs on *resolved* addresses, inside the resolver the upstream client
uses, so there is no gap between checking a name and connecting to it (DNS
rebinding), and every redirect hop is checked because each hop is a new request.
IP literals never reach a resolver in aiohttp, so :func:`check_host` covers them
before a request is made, and :func:`guarded_request` checks them again on every
request any upstream client session makes (page fetches, WebSockets, webhooks), and on
every redirect hop: there is no path by which a literal skips the guard. ``*.localhost`` names resolve
to loopback here, as they do in browsers (RFC 6761), and are then subject to the
same check.

IPv6 addresses that carry an IPv4 address reach that IPv4 host (or are deprecated
forms some stacks still treat so): IPv4-mapped ``::ffff:a.b.c.d``, IPv4-compatible
``::a.b.c.d``, IPv4-translated ``::ffff:0:a.b.c.d``, NAT64 ``64:ff9b::a.b.c.d``,
6to4 ``2002:AABB:CCDD::`` and Teredo. Each is judged by the IPv4 address inside it.
Legacy IPv4 spellings (``127.1``, ``0x7f.1``, ``2130706433``) are literals too.
"""

from __future__ import annotations

import functools
import ipaddress
import re
import socket
from typing import Iterable, Sequence

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class Networks(tuple):
    """A tuple of networks that hashes in one step: the guard's memo is keyed by it on every request,
    and ``ipaddress`` hashes each network in Python (two int conversions apiece) every time."""

    def __new__(cls, items: Iterable[IPNetwork] = ()):
        self = super().__new__(cls, items)
        self._hash = tuple.__hash__(self)  # the tuple's own hash: equal to a tuple's of the same networks
        return self

    def __hash__(self) -> int:
        return self._hash


def networks(items: Iterable[IPNetwork]) -> Networks:
    return items if type(items) is Networks else Networks(items)

# Ranges that are not the public internet. The stdlib's is_private/is_global cover
# most; these are listed so the policy reads as data and survives stdlib changes.
BLOCKED_NETWORKS: tuple[IPNetwork, ...] = Networks(
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8",  # "this network"
        "10.0.0.0/8",  # RFC 1918
        "100.64.0.0/10",  # carrier-grade NAT; 100.100.100.200 is Alibaba's metadata service
        "127.0.0.0/8",  # loopback
        "169.254.0.0/16",  # link-local; 169.254.169.254 is the cloud metadata service
        "172.16.0.0/12",  # RFC 1918
        "192.0.0.0/24",  # IETF protocol assignments
        "192.0.2.0/24",  # documentation
        "192.88.99.0/24",  # 6to4 relay anycast
        "192.168.0.0/16",  # RFC 1918
        "198.18.0.0/15",  # benchmarking
        "198.51.100.0/24",  # documentation
        "203.0.113.0/24",  # documentation
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, incl. broadcast
        "168.63.129.16/32",  # Azure's wire server: public address, internal service
        "::/128",  # unspecified
        "::1/128",  # loopback
        "64:ff9b:1::/48",  # local-use NAT64
        "100::/64",  # discard-only
        "2001:db8::/32",  # documentation
        "fc00::/7",  # unique local
        "fe80::/10",  # link-local
        "fec0::/10",  # old site-local
        "ff00::/8",  # multicast
        "fd00:ec2::254/128",  # AWS metadata over IPv6 (inside fc00::/7, listed for clarity)
    )
)
LOOPBACK_ONLY: tuple[IPNetwork, ...] = Networks((ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128")))
ALL_PRIVATE: tuple[IPNetwork, ...] = BLOCKED_NETWORKS


MEMO_SIZE = 4096  # hosts and addresses whose answers are remembered (pure functions below)
MEMO_KEY = 256  # longer hosts are not remembered (no DNS name is longer): the memo's memory stays small


class AddressBlocked(OSError):
    """The upstream resolves to an address the guard does not allow."""

    def __init__(self, host: str, address: str):
        super().__init__(f"{host} resolves to {address}, a private or reserved address")
        self.host = host
        self.address = address


_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # well-known NAT64 prefix (RFC 6052)
_V4_TRANSLATED = 0xFFFF0000  # ::ffff:0:a.b.c.d (RFC 2765 SIIT): the 96-bit prefix as an integer


def _embedded_v4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (and would reach), or None."""
    n = int(ip)
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if n >> 32 == 0 and n > 1:  # IPv4-compatible ::a.b.c.d (deprecated); not :: and ::1 themselves
        return ipaddress.IPv4Address(n)
    if n >> 32 == _V4_TRANSLATED:
        return ipaddress.IPv4Address(n & 0xFFFFFFFF)
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.teredo is not None:
        return ip.teredo[1]
    return None


def address_allowed(address: str, allowed: Sequence[IPNetwork] = ()) -> bool:
    """True if the proxy may connect to ``address`` (an IP literal without brackets)."""
    allowed = networks(allowed)
    return _address_allowed(address, allowed) if len(address) <= MEMO_KEY else _address_allowed.__wrapped__(address, allowed)


@functools.lru_cache(maxsize=MEMO_SIZE)  # pure; asked for the same few addresses on every request
def _address_allowed(address: str, allowed: tuple[IPNetwork, ...]) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        # An IPv6 address that carries an IPv4 one (mapped, 6to4, NAT64, Teredo) reaches that
        # IPv4 host: judge it by the embedded address.
        ip = _embedded_v4(ip) or ip
    if any(ip in net for net in allowed if net.version == ip.version):
        return True
    if any(ip in net for net in BLOCKED_NETWORKS if net.version == ip.version):
        return False
    return ip.is_global


def is_localhost_name(host: str) -> bool:
    host = host.lower().rstrip(".")
    return host == "localhost" or host.endswith(".localhost")


_LEGACY_V4 = re.compile(r"(?:0x[0-9a-f]*|[0-9]+)(?:\.(?:0x[0-9a-f]*|[0-9]+)){0,3}\.?", re.I)


def ip_literal(host: str) -> str | None:
    """The address an IP-literal host names (brackets, zone and legacy IPv4 spellings allowed), or None."""
    return _ip_literal(host) if len(host) <= MEMO_KEY else _ip_literal.__wrapped__(host)


@functools.lru_cache(maxsize=MEMO_SIZE)  # pure; every proxied request asks it three times for its host
def _ip_literal(host: str) -> str | None:
    literal = (host[1:-1] if host.startswith("[") and host.endswith("]") else host).strip()
    try:
        return str(ipaddress.ip_address(literal.split("%", 1)[0]))
    except ValueError:
        pass
    if _LEGACY_V4.fullmatch(literal):  # 127.1, 0177.0.0.1, 0x7f000001, 2130706433: what inet_aton accepts
        try:
            return socket.inet_ntoa(socket.inet_aton(literal.rstrip(".")))
        except OSError:
            return None
    return None


def check_host(host: str, allowed: Sequence[IPNetwork] = ()) -> None:
    """Raise AddressBlocked for an IP-literal host (with or without brackets) that is not allowed."""
    address = ip_literal(host)
    if address is None:
        return  # a name: checked after resolution
    if not address_allowed(address, allowed):
        raise AddressBlocked(host, address)


def guarded_request(allowed: Sequence[IPNetwork] = ()):
    """An aiohttp ``ClientRequest`` class (a session's ``request_class``) that refuses, as each request is
    made and again for each redirect hop, before connecting, an IP literal the guard forbids.

    aiohttp never hands IP literals to the resolver, so every client session Tandem
    sends upstream requests with makes its requests with this: the check cannot be forgotten
    by a caller. (A trace hook, :func:`literal_guard`, checks the same but costs a trace
    object and its signals on every request, and sees only a request's first URL.)
    """
    import aiohttp

    allowed = networks(allowed)

    class GuardedRequest(aiohttp.ClientRequest):
        def __init__(self, method: str, url, *args, **kwargs):
            check_host(url.raw_host or "", allowed)
            super().__init__(method, url, *args, **kwargs)

    return GuardedRequest


def literal_guard(allowed: Sequence[IPNetwork] = ()):
    """An aiohttp TraceConfig that refuses, before connecting, any request to an IP literal the guard
    forbids (a request's first URL; :func:`guarded_request` also checks every redirect hop)."""
    import aiohttp

    allowed = networks(allowed)

    async def on_start(_session, _ctx, params) -> None:
        check_host(params.url.raw_host or "", allowed)

    config = aiohttp.TraceConfig()
    config.on_request_start.append(on_start)
    return config


def parse_networks(spec: str | Iterable[str]) -> tuple[IPNetwork, ...]:
    """``"all"`` → every private range; else comma-separated CIDRs (``"127.0.0.0/8,::1"``)."""
    items = [s.strip() for s in (spec.split(",") if isinstance(spec, str) else spec) if s.strip()]
    if items == ["all"]:
        return ALL_PRIVATE
    if items == ["loopback"]:
        return LOOPBACK_ONLY
    return Networks(ipaddress.ip_network(s, strict=False) for s in items)


class GuardedResolver(AbstractResolver):
    """Resolves like the default resolver, then drops addresses the guard forbids.

    If nothing allowed is left, raises AddressBlocked (an OSError, so aiohttp wraps
    it in ClientConnectorDNSError with ``os_error`` set to it).
    """

    def __init__(self, allowed: Sequence[IPNetwork] = (), inner: AbstractResolver | None = None):
        self.allowed = networks(allowed)
        self._inner = inner

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        if is_localhost_name(host):
            results: list[ResolveResult] = [
                {"hostname": host, "host": addr, "port": port, "family": fam, "proto": 0, "flags": socket.AI_NUMERICHOST}
                for addr, fam in (("127.0.0.1", socket.AF_INET), ("::1", socket.AF_INET6))
                if family in (socket.AF_UNSPEC, fam)
            ]
        else:
            if self._inner is None:
                self._inner = DefaultResolver()
            results = await self._inner.resolve(host, port, family)
        kept = [r for r in results if address_allowed(r["host"], self.allowed)]
        if not kept:
            raise AddressBlocked(host, results[0]["host"] if results else "?")
        return kept

    async def close(self) -> None:
        if self._inner is not None:
            await self._inner.close()
