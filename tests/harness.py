"""Test factories: a real Tandem server on loopback, real upstreams, a client that resolves *.localhost.

Tests state only what they care about: ``await tandem(settings...)`` gives a running
server; ``await t.session(start_url)`` creates a session through the API and
enters it (the credential cookie lands in the client's jar, which then holds each proxied host's
own credential as a browser would after the entry hand-off: ``ParticipantJar``), and ``s.url(upstream)``
gives the proxied URL for any upstream URL of that session.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.abc import AbstractResolver
from yarl import URL

from proxy.guard import LOOPBACK_ONLY
from rewriter.urls import ProxyBase, UrlRewriter
from tandem import appkeys
from tandem.app import create_app
from tandem.httpserver import TandemRunner
from tandem.settings import Settings

ADMIN_KEY = "test-admin-key-0123456789"


class LoopbackResolver(AbstractResolver):
    """Resolves every name to 127.0.0.1, as Chromium does for *.localhost."""

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET):
        return [{"hostname": host, "host": "127.0.0.1", "port": port, "family": socket.AF_INET, "proto": 0, "flags": 0}]

    async def close(self) -> None:
        pass


class ParticipantJar(aiohttp.CookieJar):
    """A client's cookie jar that behaves as a browser which has been through the entry hand-off
    (proxy/entry.py) of every proxied host of each session it entered.

    Entering a session (the enter link) leaves the control-plane credential here; the first
    request to a proxied host of that session then finds that host's own credential too,
    minted exactly as the hand-off would mint it. Tests of the hand-off itself use a plain
    ``aiohttp.CookieJar`` (or ``hand_off=False``) and follow the real redirects.
    """

    def __init__(self, *, hand_off: bool = True, **kw: Any):
        super().__init__(**kw)
        self.app: web.Application | None = None
        self.hand_off = hand_off

    def filter_cookies(self, request_url):
        if self.hand_off and self.app is not None:
            self._provision(URL(request_url))
        return super().filter_cookies(request_url)

    def _provision(self, url: URL) -> None:
        from proxy import credentials
        from rewriter import labels

        base: ProxyBase = self.app[appkeys.BASE]
        label = base.label_of_host(url.host or "")
        if label is None:
            return
        try:
            sid = labels.decode(label).sid
        except labels.LabelError:
            return
        name = credentials.host_cookie_name(base)
        if name in super().filter_cookies(url):
            return
        sessions = self.app[appkeys.SESSIONS]
        control = credentials.control_cookie_name(sid)
        values = [m.value for m in self if m.key == control]
        found = sessions.credential_of(sid, values)
        if found is None:
            return
        pid, role, expires = found
        self.update_cookies({name: sessions.host_credential(sid, pid, role, label, expires)},
                            URL.build(scheme=url.scheme, host=url.host, port=url.port, path="/"))


def participant_jar(app: web.Application) -> ParticipantJar:
    """A fresh jar for another participant's client (see :class:`ParticipantJar`)."""
    jar = ParticipantJar()
    jar.app = app
    return jar


def client_session(**kw: Any) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(resolver=LoopbackResolver(), force_close=False), **kw)


UPSTREAM_SHUTDOWN_S = 0.5


def free_socket() -> socket.socket:
    """A socket bound to a free port on 127.0.0.1 whose [::1] twin is free too right now: a server started
    on the port later and reached as *.localhost (``tandem serve``, a balancer) listens on both."""
    sock, twin = loopback_pair()
    if twin is not None:
        twin.close()
    return sock


def loopback_pair(tries: int = 50) -> tuple[socket.socket, socket.socket | None]:
    """A free port bound on 127.0.0.1 and on ::1 (None: no IPv6 here). Browsers connect to [::1] first
    for *.localhost names: a server they reach by such a name must hold both, or another program on
    [::1] with the same port gets its requests and pages wait forever (tandem/listen.py)."""
    from tandem.listen import IPV6_LOOPBACK, ListenError, bind_twin

    for _ in range(tries):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        try:
            return sock, bind_twin(IPV6_LOOPBACK, sock.getsockname()[1])
        except ListenError:
            sock.close()  # [::1] with this port is another program's: another port
    raise RuntimeError(f"no port free on both loopback addresses in {tries} tries")


async def serve_app(app: web.Application) -> tuple[web.AppRunner, str]:
    """Run an aiohttp app on an ephemeral loopback port; returns (runner, origin).

    ``runner.cleanup()`` gives handlers still running (an upstream that stalls on purpose, for a
    timeout test) ``UPSTREAM_SHUTDOWN_S`` before it cancels them, instead of aiohttp's 60 s: every
    assertion has been made by then, and waiting out a deliberate 5 s stall proved nothing."""
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=UPSTREAM_SHUTDOWN_S)
    await runner.setup()
    sock, twin = loopback_pair()  # [::1] too: a browser may ask it by a *.localhost name (site.localhost)
    site = web.SockSite(runner, sock)
    await site.start()
    if twin is not None:
        await web.SockSite(runner, twin).start()
    return runner, f"http://127.0.0.1:{sock.getsockname()[1]}"


@dataclass
class ProxiedSession:
    sid: str
    leader_url: str
    base: ProxyBase
    app: web.Application | None = None

    def url(self, upstream_url: str) -> str:
        """The proxied URL; alias labels get registered with the live session, as page rewriting would."""
        if self.app is not None:
            session = self.app[appkeys.SESSIONS].cached(self.sid)
            if session is not None:
                return session.url_rewriter(self.base).to_proxy(upstream_url)
        return UrlRewriter(self.base, self.sid).to_proxy(upstream_url)


@dataclass
class Tandem:
    app: web.Application
    runner: web.AppRunner
    settings: Settings
    base: ProxyBase
    client: aiohttp.ClientSession
    sessions: list[ProxiedSession] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.base.url

    async def api(self, method: str, path: str, **kw: Any) -> aiohttp.ClientResponse:
        headers = kw.pop("headers", {"Authorization": f"Bearer {ADMIN_KEY}"})
        return await self.client.request(method, self.url + path, headers=headers, **kw)

    async def session(self, start_url: str, enter: bool = True) -> ProxiedSession:
        resp = await self.api("POST", "/api/v1/sessions", json={"url": start_url})
        body = await resp.json()
        assert resp.status == 201, body
        s = ProxiedSession(body["session_id"], body["leader_url"], self.base, self.app)
        if enter:
            r = await self.client.get(s.leader_url, allow_redirects=False)
            assert r.status == 303, await r.text()
        self.sessions.append(s)
        return s

    async def close(self) -> None:
        await self.client.close()
        await self.runner.cleanup()


async def start_tandem(tmp_path: Path, **overrides: Any) -> Tandem:
    sock, twin = loopback_pair()  # Chromium reaches it as tandem.localhost: [::1] first
    port = sock.getsockname()[1]
    values: dict[str, Any] = dict(port=port, data_dir=tmp_path / "data", allow_private=LOOPBACK_ONLY, admin_key=ADMIN_KEY)
    values.update(overrides)
    extra = values.pop("extra_allow", ())
    demo_start = values.pop("demo_start", None)
    observe = values.pop("observe", None)  # observe(request, response): sees every answer, server-side
    settings = Settings(**values)
    app = create_app(settings, extra_allow=extra)
    if demo_start:
        from viewer.routes import DEMO_START

        app[DEMO_START] = demo_start
    if observe is not None:
        async def _observe(request, response):
            observe(request, response)

        app.on_response_prepare.append(_observe)
    runner = TandemRunner(app, access_log=None)  # the server `tandem serve` runs: limits, fixed answers
    await runner.setup()
    await web.SockSite(runner, sock).start()
    if twin is not None:
        await web.SockSite(runner, twin).start()
    base = ProxyBase(settings.public_scheme, settings.base_domain)
    return Tandem(app, runner, settings, base, client_session(cookie_jar=participant_jar(app)))
