"""Server settings: one frozen object built from flags and environment, validated once."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

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

    def __post_init__(self) -> None:
        if not self.base_domain:
            object.__setattr__(self, "base_domain", f"tandem.localhost:{self.port}")
        if self.public_scheme not in ("http", "https"):
            raise ValueError("public scheme must be http or https")

    @classmethod
    def from_env(cls, **overrides) -> "Settings":
        env = os.environ
        values = {
            "admin_key": env.get("TANDEM_ADMIN_KEY") or None,
        }
        if "TANDEM_BASE_DOMAIN" in env:
            values["base_domain"] = env["TANDEM_BASE_DOMAIN"]
        if "TANDEM_DATA_DIR" in env:
            values["data_dir"] = Path(env["TANDEM_DATA_DIR"])
        if "TANDEM_PUBLIC_SCHEME" in env:
            values["public_scheme"] = env["TANDEM_PUBLIC_SCHEME"]
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)
