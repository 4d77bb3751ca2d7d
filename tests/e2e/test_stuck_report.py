"""tests/e2e/stuck.py names why a browser step never ended: the request the server never answered
and the await its handler sits in, or a renderer that no longer answers (a synchronous request)."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp import web

from tests.e2e.browser import chromium, needs_chromium
from tests.e2e.stuck import Stuck, Watch, bounded, rerun_once_if_stuck, within

pytestmark = [pytest.mark.e2e, needs_chromium]

BOUND_S = 3.0


def stalling_site(never: asyncio.Future) -> web.Application:
    async def page(request):
        return web.Response(text="<!doctype html><h1 id=h>page</h1>", content_type="text/html")

    async def handler_that_never_answers(request):
        await never  # an upstream, a lock or a hand-off that never comes
        return web.Response(text="late")

    app = web.Application()
    app.router.add_get("/", page)
    app.router.add_get("/stall", handler_that_never_answers)
    return app


async def stuck_report(upstream, script: str) -> str:
    never = asyncio.get_running_loop().create_future()
    origin = await upstream(stalling_site(never))
    async with chromium() as browser:
        ctx = await browser.new_context()
        page = await ctx.new_page()
        await page.goto(origin + "/")
        watch = Watch(ctx)
        with pytest.raises(Stuck) as failed:
            await bounded(page.evaluate(script), BOUND_S, watch, page, "the stalling script")
        never.set_result(None)
        await ctx.close()
    print(failed.value)  # the report, as a failing test would show it
    return str(failed.value)


async def test_a_request_never_answered_is_named_with_the_handler_it_waits_in(upstream):
    text = await stuck_report(upstream, "async () => { await fetch('/stall?fetch'); }")
    assert "the stalling script did not end within 3 s" in text
    assert "/stall?fetch (fetch)" in text.split("unfinished requests")[1].split("page events")[0]
    assert "renderer answers: yes" in text
    assert "LISTEN" in text.split("sockets on their ports")[1]  # the server's own listening socket is named
    assert "handler_that_never_answers" in text and "await never" in text
    assert "serving GET 127.0.0.1:" in text and "/stall?fetch" in text.split("tasks of")[1]


async def test_a_blocked_renderer_is_named(upstream):
    text = await stuck_report(upstream, """() => {
      const xhr = new XMLHttpRequest(); xhr.open('GET', '/stall?sync', false); xhr.send(); }""")
    assert "renderer answers: no" in text
    assert "/stall?sync (xhr)" in text
    assert "handler_that_never_answers" in text


async def test_a_request_sent_to_another_program_on_ipv6_loopback_is_named():
    """A page for tandem.localhost whose request went to a program on [::1] (tandem/listen.py): the report
    shows the browser's connection to [::1] and no handler serving it."""
    async def silent(reader, writer):
        await reader.read()

    from tests.harness import loopback_pair

    v4, v6 = loopback_pair()
    if v6 is None:
        pytest.skip("no IPv6 loopback here")
    port = v4.getsockname()[1]
    v6.close()
    other = await asyncio.start_server(silent, "::1", port)
    runner = web.AppRunner(stalling_site(asyncio.get_running_loop().create_future()), access_log=None)
    await runner.setup()
    await web.SockSite(runner, v4).start()
    try:
        async with chromium() as browser:
            ctx = await browser.new_context()
            page = await ctx.new_page()
            await page.goto(f"http://127.0.0.1:{port}/")
            watch = Watch(ctx)
            with pytest.raises(Stuck) as failed:
                await bounded(page.evaluate(f"fetch('http://tandem.localhost:{port}/').then(() => 1, () => 2)"),
                              BOUND_S, watch, page, "the script")
            await ctx.close()
    finally:
        await runner.cleanup()
        other.close()
        await other.wait_closed()
    text = str(failed.value)
    sockets = text.split("sockets on their ports")[1].split("page events")[0]
    assert f"[::1]:{port}" in sockets and "chromium" in sockets
    assert "handler_that_never_answers" not in text  # Tandem's side never saw it


async def test_within_names_a_step_that_never_ends_and_does_not_wait_for_its_cancellation():
    async def deaf():  # a call stuck where cancellation does not reach at once
        try:
            await asyncio.get_running_loop().create_future()
        except asyncio.CancelledError:
            await asyncio.sleep(30)
    started = asyncio.get_running_loop().time()
    with pytest.raises(Stuck, match="the deaf call did not end within 0 s"):
        await within(deaf(), 0.2, "the deaf call")
    assert asyncio.get_running_loop().time() - started < 5
    assert await within(asyncio.sleep(0, result=7), 5, "a quick call") == 7


async def test_a_stuck_step_runs_the_test_again_once_and_a_second_one_fails_it():
    runs = []

    @rerun_once_if_stuck
    async def flaky(n):
        runs.append(n)
        if len(runs) == 1:
            raise Stuck("first attempt stuck")
        return n

    with pytest.warns(UserWarning, match="first attempt stuck"):
        assert await flaky(3) == 3
    assert runs == [3, 3]

    @rerun_once_if_stuck
    async def always():
        runs.append("x")
        raise Stuck("stuck again")

    with pytest.warns(UserWarning), pytest.raises(Stuck, match="stuck again"):
        await always()
    assert runs.count("x") == 2
