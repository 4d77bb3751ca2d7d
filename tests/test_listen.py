"""A browser that asks for a *.localhost name connects to [::1] first: Tandem listens there too, or
refuses to start when another program does (tandem/listen.py), and the test harness serves both.

Before, Tandem listened on 127.0.0.1 only; a program that held [::1] with the same port got every
request of a page for tandem.localhost, and the page waited forever with an idle browser and an
idle Tandem (the fresh-clone `make test` hang in test_credentials_browser: other programs on the
shared machine listen on [::1], and the test's port is random)."""

from __future__ import annotations

import asyncio
import shutil
import socket

import aiohttp
import pytest
from aiohttp import web

from tandem.httpserver import TandemRunner
from tandem.listen import IPV6_LOOPBACK, ListenError, bind_twin, loopback_twin, start_sites
from tests.e2e.browser import chromium, needs_chromium
from tests.harness import loopback_pair, serve_app, start_tandem
from tests.servers.haproxy import HAProxy


def _no_ipv6() -> bool:
    try:
        sock = bind_twin(IPV6_LOOPBACK, 0)
    except ListenError:
        return False
    if sock is None:
        return True
    sock.close()
    return False


needs_ipv6 = pytest.mark.skipif(_no_ipv6(), reason="no IPv6 loopback on this machine (browsers then use 127.0.0.1 only)")


def free_port() -> int:
    v4, v6 = loopback_pair()
    port = v4.getsockname()[1]
    v4.close()
    if v6 is not None:
        v6.close()
    return port


def healthz_app(remotes: list[str]) -> web.Application:
    async def healthz(request):
        remotes.append(request.remote)
        return web.Response(text="tandem")

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    return app


@pytest.mark.parametrize(("host", "base", "twin"), [
    ("127.0.0.1", "tandem.localhost", "::1"), ("127.0.0.1", "localhost", "::1"), ("0.0.0.0", "tandem.localhost", "::1"),
    ("::1", "tandem.localhost", "127.0.0.1"), ("127.0.0.1", "tandem.example.com", None), ("10.0.0.5", "tandem.localhost", None),
    ("::", "tandem.localhost", None), ("localhost", "tandem.localhost", None), ("127.0.0.1", "TANDEM.LOCALHOST.", "::1"),
])
def test_the_other_loopback_address_only_where_browsers_use_it(host, base, twin):
    assert loopback_twin(host, base) == twin


@needs_ipv6
@needs_chromium
@pytest.mark.e2e
async def test_a_browser_asks_tandem_on_the_loopback_address_it_tries_first():
    remotes: list[str] = []
    runner = TandemRunner(healthz_app(remotes), access_log=None)
    await runner.setup()
    port = free_port()
    try:
        await start_sites(runner, "127.0.0.1", port, "tandem.localhost")
        async with chromium() as browser:
            page = await browser.new_page()
            resp = await page.goto(f"http://x.tandem.localhost:{port}/healthz")
            assert resp.status == 200 and await page.text_content("body") == "tandem"
    finally:
        await runner.cleanup()
    assert remotes == ["::1"]  # Chromium's first choice answered; 127.0.0.1 was never needed


async def _silent(reader, writer):
    await reader.read()  # accepts and reads, never answers: what a foreign program may as well do


@needs_ipv6
async def test_tandem_does_not_start_when_another_program_holds_the_address_browsers_try_first():
    port = free_port()
    other = await asyncio.start_server(_silent, IPV6_LOOPBACK, port)
    runner = TandemRunner(healthz_app([]), access_log=None)
    await runner.setup()
    try:
        with pytest.raises(ListenError, match=rf"port {port} on ::1 is used by another program"):
            await start_sites(runner, "127.0.0.1", port, "tandem.localhost")
        with pytest.raises(OSError):  # nothing half-started on 127.0.0.1 either
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
    finally:
        await runner.cleanup()
        other.close()
        await other.wait_closed()


@needs_ipv6
@needs_chromium
@pytest.mark.e2e
async def test_the_hang_itself_a_page_for_tandem_localhost_goes_to_the_program_on_ipv6_loopback():
    """What the fixes prevent, shown in Chromium: Tandem on 127.0.0.1 only, a silent program on [::1]
    with the same port, and the page's request for tandem.localhost never answered."""
    remotes: list[str] = []
    port = free_port()
    other = await asyncio.start_server(_silent, IPV6_LOOPBACK, port)
    runner = web.AppRunner(healthz_app(remotes), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()  # the way Tandem listened before
    try:
        async with chromium() as browser:
            page = await browser.new_page()
            with pytest.raises(Exception, match="Timeout"):
                await page.goto(f"http://tandem.localhost:{port}/healthz", timeout=3000)
            assert await (await page.goto(f"http://127.0.0.1:{port}/healthz")).text() == "tandem"
    finally:
        await runner.cleanup()
        other.close()
        await other.wait_closed()
    assert remotes == ["127.0.0.1"]  # Tandem saw only the request by IP address


@needs_ipv6
async def test_the_harness_tandem_and_upstreams_answer_on_both_loopback_addresses(tmp_path):
    """Tests open Tandem (tandem.localhost) and some upstreams (site.localhost) by *.localhost names."""
    t = await start_tandem(tmp_path)
    runner, origin = await serve_app(healthz_app([]))
    try:
        async with aiohttp.ClientSession() as client:
            for port in (t.settings.port, int(origin.rsplit(":", 1)[1])):
                for host in ("127.0.0.1", "[::1]"):
                    async with client.get(f"http://{host}:{port}/healthz") as resp:
                        assert resp.status == 200, (host, port)
    finally:
        await runner.cleanup()
        await t.close()


@needs_ipv6
@pytest.mark.skipif(shutil.which("haproxy") is None, reason="needs haproxy (make cluster-deps)")
def test_the_balancer_in_front_of_nodes_listens_on_both_loopback_addresses(tmp_path):
    with HAProxy(tmp_path, [("127.0.0.1", free_port())]) as lb:
        for host in ("127.0.0.1", IPV6_LOOPBACK):
            socket.create_connection((host, lb.port), timeout=5).close()
