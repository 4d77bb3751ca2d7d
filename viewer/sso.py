"""Single sign-on for agents: OpenID Connect, authorization code flow with PKCE (``authlib``).

Routes: ``GET /console/sso`` (off to the provider), ``GET /console/sso/callback`` (back from it),
and the admin page ``/admin/sso`` (what is configured; local passwords on or off).

The flow, and what each check stops:
* Discovery: ``ISSUER/.well-known/openid-configuration``; its ``issuer`` must equal the configured
  one and every endpoint must be https (http only on loopback with ``--oidc-insecure-loopback``).
* Start: fresh ``state``, ``nonce`` and PKCE verifier (S256), kept in a short-lived cookie
  encrypted and authenticated with a key derived from the server secret (AES-GCM), so no server
  memory is needed and several nodes can finish each other's flows. SameSite=Lax: the provider
  sends the browser back with a cross-site top-level GET.
* Callback: ``state`` must match the cookie's (login CSRF, replay: the cookie is gone after one
  use); ``iss`` in the response, when sent (RFC 9207), must be the issuer (mix-up); the code is
  exchanged with the verifier (a stolen or replayed code is useless: the provider refuses it); the ID
  token's signature is checked against the provider's JWKS (asymmetric algorithms only; the keys
  are fetched again once when a ``kid`` is unknown), then ``iss``, ``aud`` (and ``azp``), ``exp``
  and ``iat`` with :data:`LEEWAY` seconds of clock skew, ``nonce`` and ``at_hash``.
* Claims from the userinfo endpoint (when the provider has one) are merged only when their ``sub``
  is the ID token's. The agent is found by ``ISSUER SUB``, never by user name or e-mail (those can
  be chosen at some providers), and created on first sign-in; a disabled agent is refused. With
  ``--oidc-admin-value`` the admin flag follows the claim at every sign-in.
* The sign-in cookie is the console's; the callback answers with a page that moves on by itself,
  because a redirect at the end of a cross-site chain would not carry the SameSite=Strict cookie.

Every failure is a fixed page: nothing from the request or from the provider's error text is shown.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import secrets
import ssl
import time
from base64 import urlsafe_b64decode, urlsafe_b64encode
from html import escape
from typing import Any
from urllib.parse import quote

from aiohttp import web
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tandem import appkeys
from tandem.ratelimit import client_address
from tandem.settings import Settings, _oidc_url

from .pages import page
from .safeurl import safe_next

log = logging.getLogger("tandem.sso")

LEEWAY = 60  # seconds of clock skew allowed on exp/iat/nbf
PENDING_TTL = 600  # seconds between leaving for the provider and coming back
METADATA_TTL = 3600  # discovery document and keys are fetched again after this
JWKS_REFETCH_MIN = 60  # an unknown kid fetches the keys again at most this often
HTTP_TIMEOUT = 10.0  # seconds for each call to the provider
MAX_PROVIDER_BODY = 1024 * 1024  # discovery, keys, token and userinfo answers are a few KB
SIGNING_ALGS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")
USERNAME_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789._-@")
LOGIN_TTL = 12 * 3600  # as the console's password sign-in


class SsoFailure(Exception):
    """A refused sign-in: a fixed title and message for the page, a code for the audit log."""

    def __init__(self, code: str, message: str, *, status: int = 403, log_detail: str = ""):
        super().__init__(code)
        self.code, self.message, self.status, self.log_detail = code, message, status, log_detail


class Provider:
    """One configured OpenID provider: discovery, keys and the authlib client, cached."""

    def __init__(self, settings: Settings):
        self.issuer = settings.oidc_issuer or ""
        self.client_id = settings.oidc_client_id or ""
        self.client_secret = settings.oidc_client_secret
        self.name = settings.oidc_name
        self.scopes = settings.oidc_scopes if "openid" in settings.oidc_scopes.split() else "openid " + settings.oidc_scopes
        self.admin_claim = settings.oidc_admin_claim
        self.admin_value = settings.oidc_admin_value
        self.insecure_loopback = settings.oidc_insecure_loopback
        self._metadata: dict[str, Any] | None = None
        self._metadata_at = 0.0
        self._jwks: dict[str, Any] | None = None
        self._jwks_at = 0.0
        self._lock = asyncio.Lock()
        self._tls: ssl.SSLContext | None = None

    async def _verify_tls(self) -> ssl.SSLContext:
        """The system's CAs, loaded once (a few hundred ms; every client would load them again)."""
        if self._tls is None:
            self._tls = await asyncio.get_running_loop().run_in_executor(None, ssl.create_default_context)
        return self._tls

    async def client(self, redirect_uri: str):
        from authlib.integrations.httpx_client import AsyncOAuth2Client

        return AsyncOAuth2Client(
            client_id=self.client_id, client_secret=self.client_secret, scope=self.scopes, redirect_uri=redirect_uri,
            token_endpoint_auth_method="client_secret_basic" if self.client_secret else "none",
            code_challenge_method="S256", timeout=HTTP_TIMEOUT, follow_redirects=False, verify=await self._verify_tls())

    def _check_endpoint(self, url: Any, what: str) -> str:
        if not isinstance(url, str):
            raise SsoFailure("sso_discovery", "The sign-in provider's configuration is incomplete.", status=502,
                             log_detail=f"no {what} in the discovery document")
        try:
            _oidc_url(url.split("?", 1)[0], self.insecure_loopback, what)
        except ValueError as exc:
            raise SsoFailure("sso_discovery", "The sign-in provider's configuration is not acceptable.", status=502,
                             log_detail=str(exc)) from None
        return url

    async def _get_json(self, url: str, what: str) -> dict[str, Any]:
        import httpx2

        try:
            async with httpx2.AsyncClient(timeout=HTTP_TIMEOUT, follow_redirects=False, verify=await self._verify_tls()) as http:
                resp = await http.get(url, headers={"Accept": "application/json"})
            if resp.status_code != 200 or len(resp.content) > MAX_PROVIDER_BODY:
                raise ValueError(f"HTTP {resp.status_code}, {len(resp.content)} bytes")
            data = resp.json()
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
            return data
        except (httpx2.HTTPError, ValueError) as exc:
            raise SsoFailure("sso_unreachable", "The sign-in provider could not be reached. Try again in a moment.",
                             status=502, log_detail=f"{what}: {exc}") from None

    async def metadata(self) -> dict[str, Any]:
        async with self._lock:
            if self._metadata is None or time.monotonic() - self._metadata_at > METADATA_TTL:
                data = await self._get_json(self.issuer.rstrip("/") + "/.well-known/openid-configuration", "discovery")
                if data.get("issuer") != self.issuer:
                    raise SsoFailure("sso_discovery", "The sign-in provider's configuration is not acceptable.", status=502,
                                     log_detail="discovery issuer differs from the configured one")
                for name in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
                    self._check_endpoint(data.get(name), name)
                if data.get("userinfo_endpoint") is not None:
                    self._check_endpoint(data.get("userinfo_endpoint"), "userinfo_endpoint")
                methods = data.get("code_challenge_methods_supported")
                if isinstance(methods, list) and "S256" not in methods:
                    raise SsoFailure("sso_discovery", "The sign-in provider does not support PKCE (S256).", status=502)
                self._metadata, self._metadata_at, self._jwks = data, time.monotonic(), None
            return self._metadata

    async def keys(self, *, refresh: bool = False):
        from joserfc.jwk import KeySet

        meta = await self.metadata()
        async with self._lock:
            stale = self._jwks is None or time.monotonic() - self._jwks_at > METADATA_TTL
            if stale or (refresh and time.monotonic() - self._jwks_at > JWKS_REFETCH_MIN):
                self._jwks, self._jwks_at = await self._get_json(meta["jwks_uri"], "jwks"), time.monotonic()
            try:
                return KeySet.import_key_set(self._jwks)
            except Exception as exc:  # joserfc raises several kinds for a malformed set
                raise SsoFailure("sso_discovery", "The sign-in provider's keys could not be read.", status=502,
                                 log_detail=f"jwks: {exc}") from None

    async def start(self, redirect_uri: str) -> tuple[str, dict[str, str]]:
        """The provider's authorization URL and what the callback must see again."""
        meta = await self.metadata()
        state, nonce, verifier = secrets.token_urlsafe(24), secrets.token_urlsafe(24), secrets.token_urlsafe(48)
        async with await self.client(redirect_uri) as client:
            url, _ = client.create_authorization_url(meta["authorization_endpoint"], state=state, code_verifier=verifier,
                                                     nonce=nonce)
        return url, {"state": state, "nonce": nonce, "verifier": verifier}

    async def finish(self, code: str, pending: dict[str, str], redirect_uri: str) -> dict[str, Any]:
        """Exchange the code, check the ID token; the verified claims (userinfo merged in)."""
        import httpx2
        from authlib.integrations.base_client.errors import OAuthError

        meta = await self.metadata()
        async with await self.client(redirect_uri) as client:
            try:
                token = await client.fetch_token(meta["token_endpoint"], grant_type="authorization_code", code=code,
                                                 code_verifier=pending["verifier"])
            except OAuthError as exc:
                raise SsoFailure("sso_code", "The sign-in provider did not accept this sign-in. Start again.",
                                 log_detail=f"token endpoint: {exc.error}") from None
            except (httpx2.HTTPError, ValueError) as exc:
                raise SsoFailure("sso_unreachable", "The sign-in provider could not be reached. Try again in a moment.",
                                 status=502, log_detail=f"token endpoint: {exc}") from None
            if not isinstance(token.get("id_token"), str):
                raise SsoFailure("sso_token", "The sign-in provider sent no identity token.", log_detail="no id_token")
            claims = await self._verify(token["id_token"], pending["nonce"], token.get("access_token"), meta)
            if meta.get("userinfo_endpoint") and token.get("access_token"):
                claims = {**(await self._userinfo(client, meta["userinfo_endpoint"], claims["sub"])), **claims}
        return claims

    async def _verify(self, id_token: str, nonce: str, access_token: str | None, meta: dict[str, Any]) -> dict[str, Any]:
        from authlib.oidc.core import CodeIDToken
        from joserfc import jwt
        from joserfc.errors import ExpiredTokenError, InvalidKeyIdError, JoseError

        offered = meta.get("id_token_signing_alg_values_supported") or ["RS256"]
        algs = [a for a in offered if a in SIGNING_ALGS] if isinstance(offered, list) else []
        bad = SsoFailure("sso_token", "The identity token from the sign-in provider did not pass the checks.")
        try:
            try:
                decoded = jwt.decode(id_token, await self.keys(), algorithms=algs)
            except (InvalidKeyIdError, ValueError):
                decoded = jwt.decode(id_token, await self.keys(refresh=True), algorithms=algs)
            params = {"nonce": nonce, "client_id": self.client_id}
            if access_token:
                params["access_token"] = access_token
            claims = CodeIDToken(decoded.claims, decoded.header,
                                 {"iss": {"essential": True, "value": self.issuer},
                                  "aud": {"essential": True, "value": self.client_id}}, params)
            claims.validate(leeway=LEEWAY)
        except ExpiredTokenError:
            bad.code, bad.log_detail = "sso_clock", "id token expired"
            raise bad from None
        except (JoseError, ValueError, KeyError, TypeError) as exc:
            bad.log_detail = f"id token: {type(exc).__name__}: {exc}"
            if getattr(exc, "claim", None) in ("iat", "nbf"):  # from the future, past the leeway
                bad.code = "sso_clock"
            raise bad from None
        if not isinstance(claims.get("sub"), str) or not claims["sub"]:
            bad.log_detail = "no sub"
            raise bad
        return dict(claims)

    async def _userinfo(self, client, url: str, sub: str) -> dict[str, Any]:
        import httpx2

        try:
            resp = await client.get(url, headers={"Accept": "application/json"})
            data = resp.json() if resp.status_code == 200 and len(resp.content) <= MAX_PROVIDER_BODY else None
        except (httpx2.HTTPError, ValueError) as exc:
            raise SsoFailure("sso_unreachable", "The sign-in provider could not be reached. Try again in a moment.",
                             status=502, log_detail=f"userinfo: {exc}") from None
        if not isinstance(data, dict) or data.get("sub") != sub:
            raise SsoFailure("sso_token", "The sign-in provider's account details did not match the sign-in.",
                             log_detail="userinfo missing or for another subject")
        return data

    def is_admin(self, claims: dict[str, Any]) -> bool | None:
        """The admin flag the claims ask for; None when SSO does not manage the flag."""
        if not self.admin_value:
            return None
        value = claims.get(self.admin_claim)
        if isinstance(value, list):
            return self.admin_value in [v for v in value if isinstance(v, str)]
        if isinstance(value, bool):
            return self.admin_value.lower() == str(value).lower()
        return isinstance(value, str) and hmac.compare_digest(value, self.admin_value)


SSO: web.AppKey[Provider] = web.AppKey("sso_provider")


def provider_of(app: web.Application) -> Provider | None:
    return app.get(SSO)


# -- the pending flow, in an encrypted cookie ----------------------------------------------------
def _pending_cookie(request: web.Request) -> str:
    from .console import cookie_name

    return cookie_name(request).replace("tandem_agent", "tandem_sso")


def _aead(request: web.Request) -> AESGCM:
    secret = request.app[appkeys.SESSIONS].signer._key
    return AESGCM(hmac.new(secret, b"sso-pending", hashlib.sha256).digest())


def _seal(request: web.Request, data: dict[str, Any]) -> str:
    nonce = secrets.token_bytes(12)
    sealed = _aead(request).encrypt(nonce, json.dumps(data, separators=(",", ":")).encode(), b"tandem-sso")
    return urlsafe_b64encode(nonce + sealed).decode().rstrip("=")


def _open(request: web.Request, value: str) -> dict[str, Any] | None:
    try:
        raw = urlsafe_b64decode(value + "=" * (-len(value) % 4))
        data = json.loads(_aead(request).decrypt(raw[:12], raw[12:], b"tandem-sso"))
    except (ValueError, InvalidTag):
        return None
    return data if isinstance(data, dict) and data.get("exp", 0) >= time.time() else None


def _pending(request: web.Request, state: str) -> dict[str, Any] | None:
    from proxy.sessions import cookie_values

    for value in cookie_values(request.headers, _pending_cookie(request)):
        data = _open(request, value)
        if data is not None and isinstance(data.get("state"), str) and hmac.compare_digest(data["state"], state):
            return data
    return None


def _forget_pending(request: web.Request, resp: web.StreamResponse) -> None:
    """Spent: the browser drops it (a ``__Host-`` cookie is only replaced by one that is Secure too)."""
    name = _pending_cookie(request)
    resp.del_cookie(name, path="/", secure=name.startswith("__Host-"), httponly=True, samesite="Lax")


def redirect_uri(request: web.Request) -> str:
    return request.app[appkeys.BASE].url + "/console/sso/callback"


# -- local passwords ---------------------------------------------------------------------------
async def passwords_allowed(app: web.Application) -> bool:
    """May agents sign in with a password? ``--local-passwords on|off`` fixes it, else the admin page's
    choice — which counts only while single sign-on is configured (no lock-out when it is removed)."""
    fixed = app[appkeys.SETTINGS].local_passwords
    if fixed != "admin":
        return fixed == "on"
    return provider_of(app) is None or await app[appkeys.STORE].local_passwords()


def sign_in_button(request: web.Request) -> str:
    """The "Sign in with …" link for the console's sign-in page ('' when SSO is not configured)."""
    provider = provider_of(request.app)
    if provider is None:
        return ""
    nxt = safe_next(request.query.get("next"))
    return (f'<p><a class="button sso" href="/console/sso?next={escape(quote(nxt, safe=""))}">'
            f"Sign in with {escape(provider.name)}</a></p>")


# -- handlers ----------------------------------------------------------------------------------
def _failure_page(request: web.Request, exc: SsoFailure, *, used: bool = True) -> web.Response:
    """A fixed page for a refused sign-in. ``used``: the pending sign-in was this request's, so it is
    spent (a request with a wrong state leaves the browser's own pending sign-in alone)."""
    body = (f"<span class=status>Error {exc.status}</span><h1>Sign-in failed</h1><p>{escape(exc.message)}</p>"
            "<p class=muted>Nothing was signed in. If this keeps happening, tell your administrator the code below.</p>"
            f"<p class=code>code: {escape(exc.code)}</p>"
            '<p><a class="button secondary" href="/console/login">Back to sign-in</a></p>')
    resp = page("Sign-in failed", body, status=exc.status)
    if used:
        _forget_pending(request, resp)
    return resp


async def _audit_failure(request: web.Request, exc: SsoFailure, actor: str = "") -> None:
    log.warning("SSO sign-in refused (%s): %s", exc.code, exc.log_detail or exc.message)
    await request.app[appkeys.STORE].audit(
        "agent.login_failed", actor=actor[:64], detail={"address": client_address(request), "method": "sso", "reason": exc.code})


async def start(request: web.Request) -> web.Response:
    provider = provider_of(request.app)
    if provider is None:
        raise web.HTTPNotFound(reason="Single sign-on is not configured")
    try:
        url, pending = await provider.start(redirect_uri(request))
    except SsoFailure as exc:
        await _audit_failure(request, exc)
        return _failure_page(request, exc)
    pending.update(next=safe_next(request.query.get("next")), exp=time.time() + PENDING_TTL)
    resp = web.HTTPSeeOther(url)
    name = _pending_cookie(request)
    resp.set_cookie(name, _seal(request, pending), path="/", max_age=PENDING_TTL, httponly=True, samesite="Lax",
                    secure=name.startswith("__Host-"))
    resp.headers["Cache-Control"] = "no-store"
    raise resp


async def callback(request: web.Request) -> web.Response:
    provider = provider_of(request.app)
    if provider is None:
        raise web.HTTPNotFound(reason="Single sign-on is not configured")
    limits, address = request.app[appkeys.LIMITS], client_address(request)
    if await limits.login_address.blocked(address):  # failed sign-ins of any kind, per address
        return _failure_page(request, SsoFailure("sso_throttled", "Too many failed sign-ins. Wait a few minutes and try again.",
                                                 status=429), used=False)
    try:
        return await _callback(request, provider)
    except SsoFailure as exc:
        await limits.login_address.hit(address)
        await _audit_failure(request, exc)
        return _failure_page(request, exc, used=exc.code != "sso_state")


async def _callback(request: web.Request, provider: Provider) -> web.Response:
    from .console import cookie_name

    q = request.query
    pending = _pending(request, q.get("state", ""))
    if pending is None:
        raise SsoFailure("sso_state", "This sign-in was already used, has expired, or was started in another browser. "
                                      "Start again.", status=400, log_detail="state does not match a pending sign-in")
    if "iss" in q and q["iss"] != provider.issuer:
        raise SsoFailure("sso_issuer", "The answer did not come from the configured sign-in provider.", status=400,
                         log_detail="iss parameter differs")
    if "error" in q:
        raise SsoFailure("sso_refused", "The sign-in provider refused the sign-in.",
                         log_detail=f"provider error {q['error'][:64]!r}")
    if not q.get("code"):
        raise SsoFailure("sso_code", "The sign-in provider sent no authorization code. Start again.", status=400)
    claims = await provider.finish(q["code"], pending, redirect_uri(request))
    agent = await _agent_for(request, provider, claims)
    store = request.app[appkeys.STORE]
    token = await store.create_login(agent.id, LOGIN_TTL)
    await store.audit("agent.login", actor=agent.username, detail={"address": client_address(request), "method": "sso"})
    nxt = pending.get("next") if isinstance(pending.get("next"), str) else "/console"
    nxt = safe_next(nxt)
    body = (f"<h1>Signed in</h1><p>Welcome, {escape(agent.name)}.</p>"
            f'<p><a class=button href="{escape(nxt)}">Continue</a></p>')
    # A page, not a redirect: the SameSite=Strict sign-in cookie is sent only on a same-site navigation.
    resp = page("Signed in", body, headers={"Refresh": f"0; url={nxt}"})
    name = cookie_name(request)
    resp.set_cookie(name, token, path="/", max_age=LOGIN_TTL, httponly=True, samesite="Strict", secure=name.startswith("__Host-"))
    _forget_pending(request, resp)
    return resp


def _username(claims: dict[str, Any]) -> str:
    for key in ("preferred_username", "email", "sub"):
        value = claims.get(key)
        if isinstance(value, str) and value.strip():
            name = "".join(c if c in USERNAME_CHARS else "-" for c in value.strip().lower())[:56].strip("-")
            if name:
                return name
    return "agent"


async def _agent_for(request: web.Request, provider: Provider, claims: dict[str, Any]):
    from tandem.store import StoreError

    store = request.app[appkeys.STORE]
    subject = f"{provider.issuer} {claims['sub']}"
    want_admin = provider.is_admin(claims)
    agent = await store.agent_by_subject(subject)
    if agent is None:
        base = _username(claims)
        name = claims.get("name") if isinstance(claims.get("name"), str) and claims["name"].strip() else base
        for n in range(1, 100):
            candidate = base if n == 1 else f"{base}-{n}"
            if await store.agent_by_username(candidate) is not None:
                continue
            try:
                agent = await store.create_sso_agent(candidate, name[:100], subject, is_admin=bool(want_admin))
                break
            except StoreError:
                continue  # taken meanwhile
        if agent is None:
            raise SsoFailure("sso_agent", "No agent account could be made for you. Ask an administrator.", status=500,
                             log_detail="no free user name")
        await store.audit("agent.created", actor=agent.username, detail={"username": agent.username, "method": "sso"})
    if not agent.active:
        raise SsoFailure("sso_disabled", "Your Tandem agent account is switched off. Ask an administrator.",
                         log_detail=f"agent {agent.username} is disabled")
    if want_admin is not None and want_admin != agent.is_admin:
        agent = await store.update_agent(agent.id, is_admin=want_admin)
    return agent


# -- admin page: what is configured, local passwords on or off --------------------------------------
async def admin_page(request: web.Request) -> web.Response:
    from .admin import _admin, _render

    s = await _admin(request)
    provider = provider_of(request.app)
    settings = request.app[appkeys.SETTINGS]
    allowed = await passwords_allowed(request.app)
    if provider is None:
        configured = ("<p>Single sign-on is <strong>off</strong>. Start the server with <code>--oidc-issuer</code>, "
                      "<code>--oidc-client-id</code> and <code>TANDEM_OIDC_CLIENT_SECRET</code> to turn it on "
                      "(see the README).</p>")
    else:
        rows = [("Provider", provider.name), ("Issuer", provider.issuer), ("Client id", provider.client_id),
                ("Client secret", "set" if provider.client_secret else "none (public client, PKCE)"),
                ("Redirect URI to register", redirect_uri(request)), ("Scopes", provider.scopes),
                ("Admin when", f"{provider.admin_claim} contains {provider.admin_value}" if provider.admin_value
                 else "never set by single sign-on")]
        configured = ("<dl class=sso-settings>" + "".join(f"<dt>{escape(k)}</dt><dd><span class=code>{escape(v)}</span></dd>"
                                                         for k, v in rows) + "</dl>"
                      "<p class=hint>These come from the server's settings (flags or environment) and change with a restart.</p>")
    if settings.local_passwords != "admin":
        passwords = (f"<p>Password sign-in is <strong>{'on' if allowed else 'off'}</strong>, fixed by the server setting "
                     "<code>--local-passwords</code>.</p>")
    else:
        can_switch_off = provider is not None
        passwords = (
            f"<p>Password sign-in is <strong>{'on' if allowed else 'off'}</strong>.</p>"
            f'<form method=post action="/admin/sso">{s.hidden()}'
            f'<input type=hidden name=local_passwords value={"off" if allowed else "on"}>'
            + (f'<div class=row><button type=submit class={"danger" if allowed else ""}>'
               f'{"Switch password sign-in off" if allowed else "Switch password sign-in on"}</button></div>'
               if allowed is False or can_switch_off else
               "<p class=hint>Password sign-in can be switched off once single sign-on is configured.</p>")
            + "</form><p class=hint>Off: agents sign in only through the provider; the password form refuses everyone. "
              "If the provider is unreachable, <code class=nowrap>--local-passwords on</code> at start lets passwords in again.</p>")
    body = (f"<section aria-labelledby=sso-h><h2 id=sso-h>Single sign-on (OpenID Connect)</h2>{configured}</section>"
            f"<section aria-labelledby=pw-h><h2 id=pw-h>Password sign-in</h2>{passwords}</section>")
    style = "<style>.sso-settings{display:grid;grid-template-columns:max-content 1fr;gap:.3rem 1rem;margin:.5rem 0}" \
            ".sso-settings dt{font-weight:600}.sso-settings dd{margin:0;overflow-wrap:anywhere}.nowrap{white-space:nowrap}@media (max-width:480px){.sso-settings{grid-template-columns:1fr}" \
            ".sso-settings dd{margin-bottom:.4rem}}</style>"
    return _render(request, s, "/admin/sso", "Sign-in", style + body)


async def admin_set(request: web.Request) -> web.Response:
    from .admin import _admin_post, _back

    s, form = await _admin_post(request)
    if request.app[appkeys.SETTINGS].local_passwords != "admin":
        raise _back("/admin/sso", error="Password sign-in is fixed by the server setting --local-passwords.")
    allowed = form.get("local_passwords") == "on"
    if not allowed and provider_of(request.app) is None:
        raise _back("/admin/sso", error="Configure single sign-on before switching password sign-in off.")
    await request.app[appkeys.STORE].set_local_passwords(allowed)
    await request.app[appkeys.STORE].audit("settings.local_passwords", actor=s.agent.username,
                                                  detail={"local_passwords": "on" if allowed else "off"})
    raise _back("/admin/sso", ok=f"Password sign-in switched {'on' if allowed else 'off'}.")


def setup(app: web.Application) -> None:
    settings = app[appkeys.SETTINGS]
    if settings.oidc_issuer and settings.oidc_client_id:
        app[SSO] = Provider(settings)
    app.router.add_get("/console/sso", start)
    app.router.add_get("/console/sso/callback", callback)
    app.router.add_get("/admin/sso", admin_page)
    app.router.add_post("/admin/sso", admin_set)

