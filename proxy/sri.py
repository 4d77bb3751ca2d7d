"""Subresource integrity, enforced by the proxy on the UPSTREAM bytes (W3C SRI, with Fetch's rules).

The browser cannot check a proxied resource against the site's ``integrity``: the bytes it gets are
rewritten. So the HTML rewriter (and the runtime, for what scripts create) takes the attribute off
and carries its value to the proxy as the proxied URL's last query parameter
(:func:`rewriter.urls.sri_marker`); :func:`proxy.admit` takes it off again (the upstream never
sees it) and :func:`proxy.respond.respond` reads the whole decoded body, checks it here before a
byte goes out, and on a mismatch answers with an error the page sees as the browser's network
error (a script's or stylesheet's ``error`` event). Tandem's caches never skip the check: the
marker is part of the URL the browser caches under, and the proxy checks on every request.

The browser's semantics (SRI §3.3, "Does response match metadataList"):
* metadata is split on ASCII whitespace; a token is ``alg-base64[?options]``; algorithms other than
  sha256 / sha384 / sha512 (ASCII case-insensitive) are ignored; nothing valid left: no check;
* only the strongest algorithm present counts, and any of its digests matching passes;
* a response not eligible for integrity checks (a cross-origin ``no-cors`` fetch: opaque) fails
  whatever its bytes are (Fetch "main fetch"; Chromium: "requires the request to be CORS enabled").
"""

from __future__ import annotations

import base64
import hashlib

ALGORITHMS = {"sha256": ("SHA-256", hashlib.sha256), "sha384": ("SHA-384", hashlib.sha384),
              "sha512": ("SHA-512", hashlib.sha512)}
STRENGTH = ("sha256", "sha384", "sha512")  # weakest first
MAX_METADATA = 4096  # characters of integrity metadata read (a real value holds a few digests)
MAX_TOKENS = 32


def parse(metadata: str) -> dict[str, set[str]]:
    """algorithm -> the expected digests (base64, padding and base64url spelling normalised)."""
    out: dict[str, set[str]] = {}
    for token in metadata[:MAX_METADATA].split()[:MAX_TOKENS]:
        alg, sep, value = token.partition("-")
        alg = alg.lower()
        if not sep or alg not in ALGORITHMS:
            continue
        value = value.split("?", 1)[0]
        out.setdefault(alg, set()).add(_normal(value))
    return out


def _normal(b64: str) -> str:
    return b64.replace("-", "+").replace("_", "/").rstrip("=")


def strongest(parsed: dict[str, set[str]]) -> str | None:
    return next((alg for alg in reversed(STRENGTH) if alg in parsed), None)


def digest(alg: str, body: bytes) -> str:
    return base64.b64encode(ALGORITHMS[alg][1](body).digest()).decode("ascii")


def check(metadata: str, body: bytes) -> str | None:
    """None when ``body`` matches ``metadata`` (or it names no known algorithm); else what the
    browser computed, like ``SHA-256 integrity 'uSF8…='`` for its console message."""
    parsed = parse(metadata)
    alg = strongest(parsed)
    if alg is None:
        return None
    actual = digest(alg, body)
    if _normal(actual) in parsed[alg]:
        return None
    return f"{ALGORITHMS[alg][0]} integrity '{actual}'"


def needs_check(metadata: str | None) -> bool:
    return bool(metadata) and strongest(parse(metadata)) is not None


def eligible(fetch_mode: str, fetch_site: str) -> bool:
    """Whether the browser could check integrity at all: not for a cross-origin no-cors response
    (opaque). ``Sec-Fetch-*`` is the browser's own account here, and a page that lied could only
    make its own resource fail."""
    return not (fetch_mode == "no-cors" and fetch_site not in ("same-origin", ""))


def console_message(url: str, computed: str | None) -> str:
    """What Chromium writes to the console when it blocks ``url`` for its integrity (``computed``:
    from :func:`check`; None: not eligible). The runtime writes it for the page (network.js)."""
    if computed is None:
        return (f"Subresource Integrity: The resource '{url}' has an integrity attribute, but the resource requires "
                "the request to be CORS enabled to check the integrity, and it is not. The resource has been blocked "
                "because the integrity cannot be enforced.")
    return (f"Failed to find a valid digest in the 'integrity' attribute for resource '{url}' with computed "
            f"{computed}. The resource has been blocked.")
