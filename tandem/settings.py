"""Server settings, declared once: :data:`OPTIONS` is the one table of every ``tandem serve`` option.

Each :class:`Option` says its name (a :class:`Settings` field), flag, environment
variable, default, help and how its text is checked and converted. From the table come
the ``tandem serve`` arguments and ``--help`` (:func:`add_arguments`), the frozen
:class:`Settings` (:func:`load`: flag, else environment, else default — the only place
the serve options' environment variables are read) and the README's table
(:func:`markdown_table`; a test keeps the README equal to it).

A value that does not pass its check stops the server before anything starts, with the
flag (or variable) named: :class:`SettingsError`.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from proxy.egress import EgressConfig
from proxy.guard import IPNetwork

MAX_REQUEST_BODY = 100 * 1024 * 1024  # uploads through the proxy: big enough for real forms, bounded
MAX_REWRITE_BODY = 32 * 1024 * 1024  # CSS is buffered whole to rewrite; larger sheets pass through as is
CONNECT_TIMEOUT = 10.0  # seconds to open a TCP/TLS connection upstream
READ_TIMEOUT = 30.0  # seconds of silence from the upstream before giving up (streams may run longer)
TOTAL_TIMEOUT = 60.0  # whole exchange, for bodies that are buffered (rewritten CSS)
WS_MAX_MESSAGE = 16 * 1024 * 1024  # one WebSocket message through the relay


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8080
    base_domain: str = ""  # default: tandem.localhost:PORT
    public_scheme: str = "http"  # "https" behind a TLS terminator with a wildcard certificate
    data_dir: Path = Path("./tandem-data")
    allow_private: tuple[IPNetwork, ...] = ()
    demo: bool = False
    admin_key: str | None = None  # from TANDEM_ADMIN_KEY
    max_request_body: int = MAX_REQUEST_BODY
    max_rewrite_body: int = MAX_REWRITE_BODY
    connect_timeout: float = CONNECT_TIMEOUT
    read_timeout: float = READ_TIMEOUT
    total_timeout: float = TOTAL_TIMEOUT
    allow_domains: tuple[str, ...] = field(default_factory=tuple)  # added to the stored allowlist at start
    egress: EgressConfig = field(default_factory=EgressConfig)  # --upstream-proxy: direct unless configured
    upstream_ca: Path | None = None  # extra CA certificates for upstream TLS (a TLS-inspecting proxy's root)
    redis_url: str | None = None  # live state (jars, aliases, room facts) in Redis instead of this process
    database_url: str | None = None  # the store in PostgreSQL (several nodes share it) instead of SQLite in data_dir
    sync_max_lag: float = 5.0  # seconds a follower may be behind (oldest frame not yet sent or acknowledged) before a fresh snapshot
    cluster_liveness: float = 2.0  # seconds a stalled cluster node keeps its rooms (0: until their 6 s lease runs out)
    metrics_token: str | None = None  # from TANDEM_METRICS_TOKEN: lets a scraper read /metrics without an API key
    # Single sign-on for agents (viewer/sso.py): OpenID Connect, on when an issuer is set.
    oidc_issuer: str | None = None
    oidc_client_id: str | None = None
    oidc_client_secret: str | None = None  # from TANDEM_OIDC_CLIENT_SECRET only; none: a public client (PKCE alone)
    oidc_name: str = "single sign-on"  # "Sign in with <name>"
    oidc_scopes: str = "openid profile email"
    oidc_admin_claim: str = "groups"
    oidc_admin_value: str | None = None  # the claim holding it makes the agent an admin; unset: SSO never sets the flag
    oidc_insecure_loopback: bool = False  # development and tests: an http:// issuer on a loopback address
    local_passwords: str = "admin"  # admin: the admin page decides; on / off: fixed here
    api_rate_per_address: int = 300  # REST API and /metrics requests a minute from one client address (0: no limit)
    api_rate_per_key: int = 600  # REST API and /metrics requests a minute with one API key, all addresses together (0: no limit)

    def __post_init__(self) -> None:
        if not self.base_domain:
            object.__setattr__(self, "base_domain", f"tandem.localhost:{self.port}")
        if self.public_scheme not in ("http", "https"):
            raise ValueError("public scheme must be http or https")
        if self.oidc_issuer:
            _oidc_url(self.oidc_issuer, self.oidc_insecure_loopback, "--oidc-issuer")
            if not self.oidc_client_id:
                raise ValueError("--oidc-issuer needs --oidc-client-id")

    @classmethod
    def from_env(cls, **overrides) -> "Settings":
        """Settings from the environment and the defaults, with ``overrides`` (field values) on top."""
        return load({}, os.environ, overrides)


class SettingsError(ValueError):
    """An option's value does not pass its check; the message names the flag or variable."""


# -- checks: text in, value out, ValueError with a reason ------------------------------------------
def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise ValueError("must be a number") from None
    if not 0 < port < 65536:
        raise ValueError("must be between 1 and 65535")
    return port


def _scheme(text: str) -> str:
    if text not in ("http", "https"):
        raise ValueError("must be http or https")
    return text


def _networks(text: str) -> tuple[IPNetwork, ...]:
    from proxy.guard import parse_networks

    return parse_networks(text)


def _file(text: str) -> Path:
    from proxy.upstream import tls_context

    tls_context(Path(text))  # readable PEM certificates, or a ValueError saying what is wrong
    return Path(text)


def _redis_url(text: str) -> str:
    if not text.startswith(("redis://", "rediss://", "unix://")):
        raise ValueError("must be a redis://, rediss:// or unix:// URL")
    return text


def _liveness(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError("must be a number of seconds") from None
    if value != 0 and not 1.0 <= value <= 60.0:
        raise ValueError("must be 0 (rooms wait for their lease) or between 1 and 60 seconds")
    return value


def _max_lag(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError("must be a number of seconds") from None
    if not 0.5 <= value <= 300.0:
        raise ValueError("must be between 0.5 and 300 seconds")
    return value


def _database_url(text: str) -> str:
    if not text.startswith(("postgresql://", "postgres://")):
        raise ValueError("must be a postgresql:// URL")
    return text


def _per_minute(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise ValueError("must be a whole number of requests a minute (0: no limit)") from None
    if not 0 <= n <= 1_000_000:
        raise ValueError("must be between 0 (no limit) and 1000000")
    return n


def _oidc_url(url: str, insecure_loopback: bool, what: str) -> None:
    """An OpenID provider URL: https, or http on a loopback address with --oidc-insecure-loopback."""
    import ipaddress
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        raise ValueError(f"{what}: not a URL") from None
    if parts.query or parts.fragment or not host or parts.username or parts.password:
        raise ValueError(f"{what}: must be a plain https:// URL (no user, query or fragment)")
    if parts.scheme == "https":
        return
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if parts.scheme == "http" and loopback and insecure_loopback:
        return
    raise ValueError(f"{what}: must be https:// (http:// only on a loopback address with --oidc-insecure-loopback)")


def _local_passwords(text: str) -> str:
    if text not in ("admin", "on", "off"):
        raise ValueError("must be admin, on or off")
    return text


def _nonempty(text: str) -> str:
    if not text.strip():
        raise ValueError("must not be empty")
    return text


@dataclass(frozen=True)
class Option:
    """One setting: where it comes from, what it means, how its text is checked."""

    name: str  # the Settings field (or the input of a derived one: upstream_proxy → egress)
    flag: str | None  # ``--port``; None: environment only
    env: str | None  # ``TANDEM_PORT``; None: flag only
    default: Any  # the value when neither is given (already converted)
    help: str
    parse: Callable[[str], Any] = str  # text → value; ValueError says why not
    shown: str = ""  # how the default reads in --help and the README (when not just str(default))
    metavar: str | None = None
    action: str = "store"  # store | store_true | append | optional (flag with an optional value)
    const: str | None = None  # the value of a bare ``optional`` flag
    choices: tuple[str, ...] | None = None

    @property
    def default_text(self) -> str:
        return self.shown or ("off" if self.default is False else "none" if self.default in (None, (), "") else str(self.default))


OPTIONS: tuple[Option, ...] = (
    Option("host", "--host", "TANDEM_HOST", "127.0.0.1", "address to listen on"),
    Option("port", "--port", "TANDEM_PORT", 8080, "port to listen on", _port),
    Option("base_domain", "--base-domain", "TANDEM_BASE_DOMAIN", "",
           "public domain (and port) of the control plane; proxied sites live on its subdomains", _nonempty,
           shown="tandem.localhost:PORT"),
    Option("public_scheme", "--public-scheme", "TANDEM_PUBLIC_SCHEME", "http",
           "scheme browsers use to reach Tandem: `https` when a TLS terminator sits in front", _scheme,
           choices=("http", "https")),
    Option("data_dir", "--data-dir", "TANDEM_DATA_DIR", Path("./tandem-data"),
           "SQLite database, the server secret and the metadata key", Path, shown="./tandem-data"),
    Option("allow_private", "--allow-private-networks", None, (),
           "let the proxy fetch private addresses: bare flag = all private ranges, `loopback`, or CIDRs",
           _networks, shown="off", metavar="CIDRS", action="optional", const="all"),
    Option("allow_domains", "--allow-domain", None, (), "allowlist entries for this run only, added to the stored ones",
           metavar="PATTERN", action="append"),
    Option("demo", "--demo", None, False,
           "also start the demo site on ports PORT+1..PORT+3 and the snippet demo on PORT+4, allow them and "
           "loopback, and create an `admin` console agent if there is none", action="store_true"),
    Option("upstream_proxy", "--upstream-proxy", "TANDEM_UPSTREAM_PROXY", None,
           "send upstream traffic through `http://[user:pass@]host:port` or `socks5://…`; `env` reads "
           "`https_proxy`/`http_proxy`/`all_proxy`/`no_proxy` (the variable keeps credentials off the command line)",
           shown="direct", metavar="URL"),
    Option("upstream_proxy_bypass", "--upstream-proxy-bypass", "TANDEM_UPSTREAM_PROXY_BYPASS", "",
           "hosts reached directly, `NO_PROXY` style (`example.com,.corp.example,*.intra,10.0.0.0/8,host:8080`)",
           metavar="LIST"),
    Option("upstream_ca", "--upstream-ca", "TANDEM_UPSTREAM_CA", None,
           "also trust these PEM CA certificates for upstream TLS (a TLS-inspecting proxy's root)", _file,
           shown="system CAs", metavar="FILE"),
    Option("redis_url", "--redis-url", "TANDEM_REDIS_URL", None,
           "keep live session state (cookie jars, aliases, room facts) in this Redis instead of in process, "
           "so several nodes can serve the same sessions", _redis_url, shown="in process", metavar="URL"),
    Option("sync_max_lag", "--sync-max-lag", "TANDEM_SYNC_MAX_LAG", 5.0,
           "seconds a follower may fall behind (its oldest frame not yet sent, or sent and not acknowledged by its "
           "TCP peer) before it is started over from a fresh snapshot; the others are not held up",
           _max_lag, metavar="SECONDS"),
    Option("cluster_liveness", "--cluster-liveness", "TANDEM_CLUSTER_LIVENESS", 2.0,
           "with --redis-url: seconds after which a node that stopped answering (paused, cut off) loses its rooms "
           "to the others; a killed node's rooms move at once; 0: only when their 6 s lease runs out",
           _liveness, metavar="SECONDS"),
    Option("database_url", "--database-url", "TANDEM_DATABASE_URL", None,
           "keep the store (sessions, agents, keys, allowlist, audit …) in this PostgreSQL database instead of "
           "SQLite in the data directory, so several nodes share it; the keys stay in the data directory",
           _database_url, shown="SQLite", metavar="URL"),
    Option("oidc_issuer", "--oidc-issuer", "TANDEM_OIDC_ISSUER", None,
           "agents sign in with this OpenID Connect provider (its issuer URL; endpoints and keys come from its "
           "discovery document)", _nonempty, metavar="URL"),
    Option("oidc_client_id", "--oidc-client-id", "TANDEM_OIDC_CLIENT_ID", None,
           "Tandem's client id at the provider", _nonempty, metavar="ID"),
    Option("oidc_client_secret", None, "TANDEM_OIDC_CLIENT_SECRET", None,
           "its client secret (unset: a public client, PKCE alone)", _nonempty),
    Option("oidc_name", "--oidc-name", "TANDEM_OIDC_NAME", "single sign-on",
           "provider name on the sign-in button (Sign in with …)", _nonempty, metavar="NAME"),
    Option("oidc_scopes", "--oidc-scopes", "TANDEM_OIDC_SCOPES", "openid profile email",
           "scopes asked for (add the one that releases the admin claim, e.g. `groups`)", _nonempty, metavar="SCOPES"),
    Option("oidc_admin_claim", "--oidc-admin-claim", "TANDEM_OIDC_ADMIN_CLAIM", "groups",
           "claim (ID token or userinfo) read for the admin flag", _nonempty, metavar="CLAIM"),
    Option("oidc_admin_value", "--oidc-admin-value", "TANDEM_OIDC_ADMIN_VALUE", None,
           "value of that claim (or an entry of it) that makes the agent an admin, checked at every sign-in; "
           "unset: single sign-on never sets the flag", _nonempty, metavar="VALUE"),
    Option("oidc_insecure_loopback", "--oidc-insecure-loopback", None, False,
           "development and tests only: allow an `http://` provider on a loopback address", action="store_true"),
    Option("local_passwords", "--local-passwords", "TANDEM_LOCAL_PASSWORDS", "admin",
           "password sign-in for agents: `admin` (the admin page decides, on until switched off), `on` or `off`",
           _local_passwords, choices=("admin", "on", "off")),
    Option("api_rate_per_address", "--api-rate-per-address", "TANDEM_API_RATE_PER_ADDRESS", 300,
           "REST API (and `/metrics`) requests a minute from one client address; past it 429 (0: no limit)",
           _per_minute, metavar="N"),
    Option("api_rate_per_key", "--api-rate-per-key", "TANDEM_API_RATE_PER_KEY", 600,
           "REST API (and `/metrics`) requests a minute with one API key, all its addresses together (0: no limit)",
           _per_minute, metavar="N"),
    Option("metrics_token", None, "TANDEM_METRICS_TOKEN", None,
           "bearer token that reads `GET /metrics` (Prometheus) and nothing else; API keys with the `admin` scope read it too",
           _nonempty, shown="none"),
    Option("admin_key", None, "TANDEM_ADMIN_KEY", None,
           "admin API key; if unset, one is generated on first start, stored hashed, printed once",
           _nonempty, shown="generated"),
)
BY_NAME = {o.name: o for o in OPTIONS}
DERIVED = ("upstream_proxy", "upstream_proxy_bypass")  # inputs of Settings.egress, not fields themselves


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The table's flags on ``parser``: no defaults here (None means "not given"), so :func:`load`
    can tell a flag from the environment and the default."""
    for o in OPTIONS:
        if o.flag is None:
            continue
        where = f"env {o.env}; " if o.env else ""
        text = f"{o.help} ({where}default {o.default_text})".replace("`", "").replace("%", "%%")
        kw: dict[str, Any] = {"dest": o.name, "help": text}
        if o.action == "store_true":
            kw.update(action="store_true", default=None)
        elif o.action == "append":
            kw.update(action="append", default=None, metavar=o.metavar)
        elif o.action == "optional":
            kw.update(nargs="?", const=o.const, default=None, metavar=o.metavar)
        else:
            kw.update(default=None, metavar=o.metavar, choices=o.choices)
        parser.add_argument(o.flag, **kw)


def _value(o: Option, given: Any, environ: Mapping[str, str]) -> Any:
    if o.action == "append":
        return tuple(given or ())
    if o.action == "store_true":
        return bool(given)
    if given is not None:
        text, where = given, o.flag
    elif o.env and environ.get(o.env):
        text, where = environ[o.env], o.env
    else:
        return o.default
    try:
        return o.parse(text)
    except ValueError as exc:
        raise SettingsError(f"{where}: {exc}") from None


def load(args: Mapping[str, Any] | argparse.Namespace, environ: Mapping[str, str] | None = None,
         overrides: Mapping[str, Any] | None = None) -> Settings:
    """The frozen Settings: each option from its flag (``args``), else its variable, else its default.

    ``overrides`` are field values set by the caller (tests, tools), on top of everything.
    """
    environ = os.environ if environ is None else environ
    given = vars(args) if isinstance(args, argparse.Namespace) else dict(args)
    values = {o.name: _value(o, given.get(o.name), environ) for o in OPTIONS}
    if values["demo"] and not values["allow_private"]:
        from proxy.guard import LOOPBACK_ONLY

        values["allow_private"] = LOOPBACK_ONLY  # the demo site runs on loopback
    values["egress"] = _egress(values.pop("upstream_proxy"), values.pop("upstream_proxy_bypass"), environ)
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    try:
        return Settings(**values)
    except ValueError as exc:
        raise SettingsError(str(exc)) from None


def _egress(proxy: str | None, bypass: str, environ: Mapping[str, str]) -> EgressConfig:
    from proxy.egress import EgressConfigError, config_from_flag

    if not proxy:
        if bypass.strip():
            raise SettingsError("--upstream-proxy-bypass needs --upstream-proxy")
        return EgressConfig()
    try:
        return config_from_flag(proxy, bypass, environ)
    except EgressConfigError as exc:
        raise SettingsError(f"--upstream-proxy: {exc}") from None


def markdown_table() -> str:
    """The README's table of serve options, from :data:`OPTIONS`."""
    rows = ["| flag | env | default | meaning |", "|---|---|---|---|"]
    for o in OPTIONS:
        flag = f"`{o.flag}`" if o.flag else ""
        env = f"`{o.env}`" if o.env else ""
        rows.append(f"| {flag} | {env} | {_code(o.default_text)} | {o.help} |")
    return "\n".join(rows)


def _code(text: str) -> str:
    return text if text in ("off", "none", "direct", "generated", "system CAs", "in process") else f"`{text}`"
