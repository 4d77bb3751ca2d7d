"""Factories for control-plane tests: agents, a signed-in console client, API calls."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from http.cookies import SimpleCookie

from tandem import appkeys

PASSWORD = "correct horse battery"
AGENT_COOKIE = "__Host-tandem_agent"
CSRF_RE = re.compile(r'name=csrf value="([0-9a-f]+)"')


async def add_agent(t, username="ann", *, admin=False, name=None, password=PASSWORD):
    return await t.app[appkeys.STORE].create_agent(username, name or username.title(), password, is_admin=admin)


@dataclass
class Console:
    """A browser-like client for BASE/console: keeps the sign-in cookie, sends Origin and the page's CSRF token."""

    t: object
    client: object
    cookies: dict = field(default_factory=dict)
    csrf: str = ""

    def _cookie_header(self) -> dict:
        return {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())} if self.cookies else {}

    def _keep(self, resp) -> None:
        for header in resp.headers.getall("Set-Cookie", []):
            c = SimpleCookie()
            c.load(header)
            for k, morsel in c.items():
                if morsel["max-age"] == "0" or not morsel.value:
                    self.cookies.pop(k, None)
                else:
                    self.cookies[k] = morsel.value

    async def get(self, path: str, **kw):
        headers = {**self._cookie_header(), **kw.pop("headers", {})}
        resp = await self.client.get(self.t.url + path, headers=headers, allow_redirects=False, **kw)
        text = await resp.text()
        m = CSRF_RE.search(text)
        if m:
            self.csrf = m.group(1)
        self._keep(resp)
        return resp, text

    async def post(self, path: str, data: dict | None = None, *, origin: str | None = "self", csrf: bool = True, headers=None):
        h = {**self._cookie_header(), **(headers or {})}
        if origin == "self":
            h["Origin"] = self.t.url
        elif origin is not None:
            h["Origin"] = origin
        form = dict(data or {})
        if csrf and self.csrf:
            form.setdefault("csrf", self.csrf)
        resp = await self.client.post(self.t.url + path, data=form, headers=h, allow_redirects=False)
        text = await resp.text()
        self._keep(resp)
        return resp, text

    async def login(self, username="ann", password=PASSWORD):
        resp, text = await self.post("/console/login", {"username": username, "password": password}, csrf=False)
        assert resp.status == 303, text
        await self.get("/console")
        return self




def cookie_from(resp, name: str) -> str | None:
    for header in resp.headers.getall("Set-Cookie", []):
        c = SimpleCookie()
        c.load(header)
        if name in c:
            return c[name].value
    return None


async def sqlite_bytes(store, data_dir) -> bytes:
    """Every byte of the store's SQLite files (database and WAL), after a checkpoint made through
    the store, in order with its own statements: run beside them on another connection, a write the
    worker thread was making failed it ("database table is locked") in a fresh-clone run."""
    await store.backend.execute("PRAGMA wal_checkpoint(FULL)")
    return b"".join(p.read_bytes() for p in data_dir.iterdir() if p.name.startswith("tandem.db"))
