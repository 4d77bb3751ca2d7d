"""Egress: whether a request to an upstream goes out directly or through the operator's proxy.

Theory of operation. On-premise deployments often may not reach the internet
directly; every outbound connection goes through a company proxy. The operator
gives one (``--upstream-proxy URL``, or ``env`` for the standard ``*_proxy``
variables) and a bypass list. For each upstream request, :meth:`Egress.route`
picks the client session to use and the options to pass it:

* ``direct``: the guarded session (``GuardedResolver``): Tandem resolves the name
  itself and checks every resolved address.
* ``http://`` proxy, plain ``http://`` target: aiohttp's own proxy support
  (absolute-form request line, ``Proxy-Authorization``), on a session whose
  resolver resolves nothing but the proxy's own name.
* ``http://`` proxy, ``https``/``ws``/``wss`` target: a ``CONNECT`` tunnel made by
  aiohttp-socks (python-socks). aiohttp would send a ``ws://`` upgrade through a
  proxy as ``GET ws://…``, which proxies refuse; browsers tunnel it with
  ``CONNECT``, and so do we. The tunnel's whole handshake is bounded by the
  connect timeout.
* ``socks5://`` proxy: every target through aiohttp-socks, names resolved by the
  proxy (``socks5h`` behaviour, whatever the URL says).

Through a proxy Tandem never resolves upstream names, so the address guard cannot
see where a name leads. What it can see, it checks before anything is sent:
private IP literals (``proxy.guard.check_host``, as for direct requests), the
``localhost`` names, and names that cannot be public because their top-level
domain is not one (``intranet``, ``db.internal``, ``printer.local``, ``x.corp``,
``*.home.arpa``): :func:`check_proxied_name`.

Everything here but :class:`Egress` is pure; nothing logs or renders a proxy
URL with its credentials (:attr:`ProxySpec.display`).
"""

from __future__ import annotations

import base64
import functools
import ipaddress
import re
from dataclasses import dataclass, field
from typing import Mapping, Sequence
from urllib.parse import unquote, urlsplit

from aiohttp import web

from .guard import ALL_PRIVATE, AddressBlocked, IPNetwork, address_allowed, is_localhost_name

PROXY_SCHEMES = {"http": 80, "socks5": 1080, "socks5h": 1080}  # scheme -> default port
# Standard variables, lowercase first as curl and Python read them; ALL_PROXY is the fallback.
ENV_HTTP = ("http_proxy", "HTTP_PROXY")
ENV_HTTPS = ("https_proxy", "HTTPS_PROXY")
ENV_ALL = ("all_proxy", "ALL_PROXY")
ENV_NO_PROXY = ("no_proxy", "NO_PROXY")
DEFAULT_PORTS = {"http": 80, "ws": 80, "https": 443, "wss": 443}
# Names under these are internal by definition even though their TLD is public (RFC 8375).
INTERNAL_SUFFIXES = ("home.arpa",)
_LABEL = re.compile(r"^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$")


class EgressConfigError(ValueError):
    """A proxy URL or bypass entry that cannot be used; the message never carries a password."""


# --- proxy URLs --------------------------------------------------------------------------


@dataclass(frozen=True)
class ProxySpec:
    scheme: str  # "http" or "socks5"
    host: str
    port: int
    username: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)

    @property
    def display(self) -> str:
        """The proxy as people may see it: never the credentials."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"

    @property
    def has_credentials(self) -> bool:
        return self.username is not None

    @property
    def basic_auth(self) -> str:
        """The ``Proxy-Authorization`` value (RFC 7617 Basic, UTF-8)."""
        token = base64.b64encode(f"{self.username or ''}:{self.password or ''}".encode("utf-8")).decode("ascii")
        return f"Basic {token}"


def parse_proxy_url(text: str) -> ProxySpec:
    """``http://user:pass@proxy:3128``, ``socks5://proxy:1080``; a bare ``proxy:3128`` means http."""
    raw = text.strip()
    if not raw:
        raise EgressConfigError("the proxy URL is empty")
    if "://" not in raw:
        raw = "http://" + raw  # how curl and Python read HTTP_PROXY=proxy:3128
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError as exc:
        raise EgressConfigError(f"the proxy URL {_redact(raw)!r} is not valid ({_port_hint(exc)})") from None
    scheme = parts.scheme.lower()
    shown = _redact(raw)
    if scheme == "https":
        raise EgressConfigError(f"{shown}: TLS to the proxy (https://) is not supported; use http:// (https sites are still tunnelled with CONNECT)")
    if scheme not in PROXY_SCHEMES:
        raise EgressConfigError(f"{shown}: the proxy scheme must be http, socks5 or socks5h")
    if not parts.hostname:
        raise EgressConfigError(f"{shown}: the proxy URL has no host")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise EgressConfigError(f"{shown}: a proxy URL is only scheme://[user:password@]host[:port]")
    username = unquote(parts.username) if parts.username is not None else None
    password = unquote(parts.password) if parts.password is not None else None
    if username is not None and password is None:
        password = ""
    if username is not None and ":" in username:
        raise EgressConfigError(f"{shown}: the proxy user name may not contain ':'")
    return ProxySpec("socks5" if scheme.startswith("socks5") else scheme, parts.hostname.lower(),
                     port or PROXY_SCHEMES[scheme], username, password)


def _port_hint(exc: ValueError) -> str:
    return "bad port" if "port" in str(exc).lower() else "malformed"


def _redact(url: str) -> str:
    """The URL with any ``user:password@`` replaced by ``***@``."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    authority, slash, tail = rest.partition("/")
    if "@" in authority:
        authority = "***@" + authority.rsplit("@", 1)[1]
    return f"{scheme}{sep}{authority}{slash}{tail}"


# --- the bypass list (NO_PROXY) ------------------------------------------------------------


@dataclass(frozen=True)
class BypassRule:
    kind: str  # "all", "domain" (apex and subdomains), "subdomains", "ip", "network"
    value: str = ""
    network: IPNetwork | None = None
    port: int | None = None


def parse_bypass(spec: str | Sequence[str]) -> tuple[BypassRule, ...]:
    """Entries separated by commas and/or spaces, in the conventions of curl, Python and Go.

    ``*`` everything; ``example.com`` or ``.example.com`` that host and its subdomains;
    ``*.example.com`` subdomains only (as in Tandem's allowlist); ``10.1.2.3``, ``::1``
    or ``[::1]`` that address; ``10.0.0.0/8`` addresses in the network; ``:PORT`` after
    a host or address narrows the rule to that port. Names are never resolved to
    match a network: a name matches only name rules.
    """
    items = spec.replace(",", " ").split() if isinstance(spec, str) else [s for x in spec for s in x.replace(",", " ").split()]
    return tuple(_bypass_rule(item) for item in items)


def _bypass_rule(item: str) -> BypassRule:
    entry = item.strip().lower()
    if entry == "*":
        return BypassRule("all")
    port = None
    host = entry
    if entry.startswith("["):  # [v6] or [v6]:port
        close = entry.find("]")
        if close < 0:
            raise EgressConfigError(f"bypass entry {item!r}: missing ']'")
        host, rest = entry[1:close], entry[close + 1:]
        if rest:
            port = _port(rest, item)
    elif entry.count(":") == 1:  # host:port or v4:port (a bare IPv6 has several colons)
        host, rest = entry.split(":")
        port = _port(":" + rest, item)
    if "/" in host:
        try:
            return BypassRule("network", network=ipaddress.ip_network(host, strict=False), port=port)
        except ValueError:
            raise EgressConfigError(f"bypass entry {item!r} is not a valid network (like 10.0.0.0/8)") from None
    try:
        return BypassRule("ip", value=str(ipaddress.ip_address(host)), port=port)
    except ValueError:
        pass
    kind = "domain"
    if host.startswith("*."):
        kind, host = "subdomains", host[2:]
    elif host.startswith("."):
        host = host[1:]
    host = _ascii_host(host.rstrip("."), item)
    return BypassRule(kind, value=host, port=port)


def _port(text: str, item: str) -> int:
    digits = text[1:] if text.startswith(":") else ""
    if not digits.isdigit() or not 0 < int(digits) < 65536:
        raise EgressConfigError(f"bypass entry {item!r}: the port must be a number from 1 to 65535")
    return int(digits)


def _ascii_host(host: str, item: str) -> str:
    try:
        ascii_host = host.encode("idna").decode("ascii") if not host.isascii() else host
    except UnicodeError:
        ascii_host = ""
    if not ascii_host or not all(_LABEL.match(label) for label in ascii_host.split(".")):
        raise EgressConfigError(f"bypass entry {item!r} is not a host name, address or network")
    return ascii_host


def bypassed(rules: Sequence[BypassRule], host: str, port: int) -> bool:
    """True if a request to ``host:port`` (host as in a URL, IPv6 with or without brackets) goes direct."""
    host = host.lower().strip("[]").rstrip(".")
    try:
        ip: ipaddress.IPv4Address | ipaddress.IPv6Address | None = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        ip = None
    for rule in rules:
        if rule.port is not None and rule.port != port:
            continue
        if rule.kind == "all":
            return True
        if ip is not None:
            if rule.kind == "ip" and ipaddress.ip_address(rule.value) == ip:
                return True
            if rule.kind == "network" and rule.network is not None and rule.network.version == ip.version and ip in rule.network:
                return True
            continue
        if rule.kind == "domain" and (host == rule.value or host.endswith("." + rule.value)):
            return True
        if rule.kind == "subdomains" and host.endswith("." + rule.value):
            return True
    return False


# --- configuration -------------------------------------------------------------------------


@dataclass(frozen=True)
class EgressConfig:
    """Proxies per target scheme (``http`` also carries ``ws``, ``https`` also ``wss``) and the bypass list."""

    http: ProxySpec | None = None
    https: ProxySpec | None = None
    bypass: tuple[BypassRule, ...] = ()
    bypass_text: str = ""  # as given, for the start-up line

    @property
    def enabled(self) -> bool:
        return self.http is not None or self.https is not None

    @property
    def proxies(self) -> tuple[ProxySpec, ...]:
        return tuple(dict.fromkeys(p for p in (self.http, self.https) if p is not None))

    def proxy_for(self, scheme: str, host: str, port: int | None = None) -> ProxySpec | None:
        proxy = self.https if scheme in ("https", "wss") else self.http
        if proxy is None:
            return None
        if bypassed(self.bypass, host, port or DEFAULT_PORTS.get(scheme, 80)):
            return None
        return proxy

    def describe(self) -> str:
        """One line for start-up output: proxies without credentials, and the bypass list."""
        if not self.enabled:
            return "direct"
        if self.http == self.https:
            text = self.http.display  # type: ignore[union-attr]
        else:
            text = ", ".join(f"{name} via {p.display if p else 'direct'}" for name, p in (("http", self.http), ("https", self.https)))
        return text + (f" (bypass: {self.bypass_text})" if self.bypass_text else "")


def config_from_flag(proxy: str, bypass: str = "", environ: Mapping[str, str] | None = None) -> EgressConfig:
    """``--upstream-proxy URL|env`` and ``--upstream-proxy-bypass LIST`` (added to NO_PROXY for ``env``)."""
    if proxy.strip().lower() == "env":
        return config_from_env(environ if environ is not None else {}, extra_bypass=bypass)
    spec = parse_proxy_url(proxy)
    rules = parse_bypass(bypass)
    return EgressConfig(spec, spec, rules, " ".join(bypass.replace(",", " ").split()))


def config_from_env(environ: Mapping[str, str], extra_bypass: str = "") -> EgressConfig:
    def first(names: Sequence[str]) -> tuple[str, str] | None:
        for name in names:
            value = environ.get(name, "").strip()
            if value:
                return name, value
        return None

    def spec(found: tuple[str, str] | None) -> ProxySpec | None:
        if found is None:
            return None
        try:
            return parse_proxy_url(found[1])
        except EgressConfigError as exc:
            raise EgressConfigError(f"{found[0]}: {exc}") from None

    fallback = first(ENV_ALL)
    http = spec(first(ENV_HTTP) or fallback)
    https = spec(first(ENV_HTTPS) or fallback)
    if http is None and https is None:
        names = ", ".join(ENV_HTTPS + ENV_HTTP + ENV_ALL)
        raise EgressConfigError(f"--upstream-proxy env: none of {names} is set")
    no_proxy = first(ENV_NO_PROXY)
    text = " ".join(((no_proxy[1] if no_proxy else "") + " " + extra_bypass).replace(",", " ").split())
    try:
        rules = parse_bypass(text)
    except EgressConfigError as exc:
        raise EgressConfigError(f"{no_proxy[0] if no_proxy else 'bypass'}: {exc}") from None
    return EgressConfig(http, https, rules, text)


# --- what the guard can still see through a proxy --------------------------------------------


@functools.cache
def _psl():
    from publicsuffixlist import PublicSuffixList

    return PublicSuffixList()  # the bundled list; never fetched


def is_internal_name(host: str) -> bool:
    """A name that cannot be on the public internet: single label, or a TLD that is not public."""
    name = host.lower().rstrip(".")
    if "." not in name:
        return True
    if any(name == s or name.endswith("." + s) for s in INTERNAL_SUFFIXES):
        return True
    return _psl().publicsuffix(name, accept_unknown=False) is None


def check_proxied_name(host: str, allowed: Sequence[IPNetwork] = ()) -> None:
    """Refuse, before anything is sent to a proxy, a name the guard can tell is not public.

    IP literals are checked by ``guard.check_host`` for every route. ``localhost``
    names count as loopback (allowed when loopback is). Other internal names could
    resolve, at the proxy, to any private address, so only ``--allow-private-networks``
    with every private range (the bare flag) lets them through; with a narrower
    list, put them on the bypass list so Tandem resolves and checks them itself.
    """
    name = host.lower().rstrip(".")
    try:
        ipaddress.ip_address(name.strip("[]").split("%", 1)[0])
        return
    except ValueError:
        pass
    if is_localhost_name(name):
        if not address_allowed("127.0.0.1", allowed):
            raise AddressBlocked(host, "loopback (a localhost name)")
        return
    if is_internal_name(name) and not _covers_all_private(allowed):
        raise AddressBlocked(host, "an internal name (not a public domain)")


def _covers_all_private(allowed: Sequence[IPNetwork]) -> bool:
    return set(ALL_PRIVATE) <= set(allowed)


# --- per-request choice ----------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    """Where one upstream request goes: the client session, extra request options, the proxy if any."""

    client: object  # aiohttp.ClientSession
    options: Mapping[str, object]
    proxy: ProxySpec | None = None

    def check_response(self, status: int) -> None:
        """A 407 on a forwarded plain-http request comes from the proxy, never from the site."""
        if self.proxy is not None and status == 407:
            from . import errors

            raise errors.ProxyAuthRequired(proxy_auth_message(self.proxy))


def proxy_auth_message(proxy: ProxySpec) -> str:
    if proxy.has_credentials:
        return f"Tandem's outbound proxy {proxy.display} did not accept the credentials Tandem is configured with."
    return f"Tandem's outbound proxy {proxy.display} requires a user name and password, and Tandem has none configured."


class Egress:
    """The sessions for each way out, chosen per request. Built and closed by ``proxy.upstream``."""

    def __init__(self, config: EgressConfig, allowed: Sequence[IPNetwork], direct, forward: Mapping[ProxySpec, object],
                 tunnel: Mapping[ProxySpec, object]):
        self.config = config
        self.allowed = tuple(allowed)
        self.direct = direct
        self._forward = dict(forward)  # http proxies: plain-http requests with proxy= options
        self._tunnel = dict(tunnel)  # CONNECT (http proxies) or SOCKS5 sessions

    def route(self, scheme: str, host: str, port: int | None = None) -> Route:
        """Raises ``errors.AddressRefused`` for a name the guard refuses to send to the proxy."""
        proxy = self.config.proxy_for(scheme, host, port)
        if proxy is None:
            return Route(self.direct, {})
        try:
            check_proxied_name(host, self.allowed)
        except AddressBlocked as exc:
            from . import errors

            raise errors.AddressRefused(
                f"{host} is a private or internal address, which Tandem does not send to its outbound proxy.",
                detail=f"{host} is {exc.address}",
            ) from None
        if proxy.scheme == "http" and scheme == "http":
            from yarl import URL

            # The forwarding session carries Proxy-Authorization itself (aiohttp's proxy_headers
            # reach only CONNECT, and proxy_auth is deprecated).
            return Route(self._forward[proxy], {"proxy": URL.build(scheme="http", host=proxy.host, port=proxy.port)}, proxy)
        return Route(self._tunnel[proxy], {}, proxy)


EGRESS: web.AppKey[Egress] = web.AppKey("egress", Egress)
