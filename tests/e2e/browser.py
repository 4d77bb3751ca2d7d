"""Real headless Chromium (Debian's), driven by Playwright; never a downloaded browser."""

from __future__ import annotations

import asyncio
import os
from contextlib import asynccontextmanager
from typing import AsyncIterator
from urllib.parse import urlsplit

import pytest

CHROMIUM = "/usr/bin/chromium"
# Flags from the machine notes: no sandbox as root, and no background traffic to Google hosts.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
STEP_TIMEOUT_MS = 10_000  # one browser step; pages here load in milliseconds
CLOSE_S = 30  # closing the browser (it takes well under a second)

needs_chromium = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"needs Chromium at {CHROMIUM} (make e2e-deps)")


@asynccontextmanager
async def chromium() -> AsyncIterator:
    from playwright.async_api import async_playwright, expect

    expect.set_options(timeout=STEP_TIMEOUT_MS)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            # bounded: a test that failed on a stuck browser must not hang closing it (the driver's
            # own exit, next, ends a browser that did not close)
            closing = asyncio.ensure_future(browser.close())
            done, _ = await asyncio.wait({closing}, timeout=CLOSE_S)
            if not done:
                closing.cancel()


class RequestLog:
    """Every request and WebSocket a browser context opens, for the no-leak assertion."""

    def __init__(self, context) -> None:
        self.urls: list[str] = []
        context.on("request", lambda req: self.urls.append(req.url))
        context.on("page", self._watch)
        for p in context.pages:
            self._watch(p)

    def _watch(self, page) -> None:
        page.on("websocket", lambda ws: self.urls.append(ws.url))

    def leaks(self, base_hostname: str) -> list[str]:
        out = []
        for url in self.urls:
            parts = urlsplit(url)
            if parts.scheme in ("data", "blob", "about"):
                continue
            host = (parts.hostname or "").lower()
            if not (host == base_hostname or host.endswith("." + base_hostname)):
                out.append(url)
        return out
