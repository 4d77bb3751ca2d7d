"""document.cookie reads kept by the runtime (viewer/runtime/cookies.js) in real Chromium.

A read is kept only until the script that made it returns, never past the first expiry in the
jar, and is dropped by any write from any same-origin window and by a synchronous request.
Each case here is one a naive cache gets wrong: a cookie set by an image's response, by a
synchronous XMLHttpRequest, by another frame's copy of the runtime or another tab, a cookie
expiring while the script runs; HttpOnly cookies never show.
"""

from __future__ import annotations

import base64
from email.utils import formatdate

import pytest
from aiohttp import web

from tests.e2e.browser import chromium, needs_chromium

pytestmark = [pytest.mark.e2e, needs_chromium]

PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=")
FRAME = "<!doctype html><title>frame</title><script>window.put = (s) => { document.cookie = s }; window.read = () => document.cookie</script>"


def site() -> web.Application:
    def with_cookies(request: web.Request, resp: web.Response) -> web.Response:
        for c in request.query.getall("c", []):
            resp.headers.add("Set-Cookie", c)
        if "exp" in request.query:  # expires at this instant (ms since the epoch, a whole second)
            resp.headers.add("Set-Cookie", f"ex=1; Expires={formatdate(int(request.query['exp']) / 1000, usegmt=True)}")
        return resp

    async def page(request):
        return web.Response(text="<!doctype html><title>cookies</title><h1>cookies</h1>", content_type="text/html")

    async def frame(request):
        return web.Response(text=FRAME, content_type="text/html")

    async def setter(request):
        return with_cookies(request, web.Response(text="ok", headers={"Cache-Control": "no-store"}))

    async def image(request):
        return with_cookies(request, web.Response(body=PNG, content_type="image/png", headers={"Cache-Control": "no-store"}))

    app = web.Application()
    app.router.add_get("/", page)
    app.router.add_get("/frame", frame)
    app.router.add_get("/set", setter)
    app.router.add_get("/img", image)
    return app


async def open_page(make_tandem, upstream, browser):
    origin = await upstream(site())
    reads: list[str] = []

    def observe(request, response):
        if request.path == "/__tandem/cookies" and request.method == "GET":
            reads.append(f"{request.host}{request.path_qs} {request.headers.get('Sec-Fetch-Dest')}")

    t = await make_tandem(observe=observe)
    s = await t.session(origin + "/", enter=False)
    context = await browser.new_context()
    page = await context.new_page()
    await page.goto(s.leader_url)
    await page.wait_for_url(s.url(origin) + "/")
    return page, reads


async def test_reads_are_kept_within_a_script_and_see_every_response(make_tandem, upstream):
    async with chromium() as browser:
        page, reads = await open_page(make_tandem, upstream, browser)
        before = len(reads)
        assert await page.evaluate("() => [document.cookie, document.cookie, document.cookie]") == ["", "", ""]
        assert len(reads) - before == 1, reads  # one script, one request

        # an image's response sets a cookie (and an HttpOnly one): the load event's read sees it
        got = await page.evaluate("""() => new Promise((ok, ko) => {
            const before = document.cookie;
            const img = new Image();
            img.onload = () => ok([before, document.cookie]);
            img.onerror = ko;
            img.src = '/img?c=' + encodeURIComponent('im=1') + '&c=' + encodeURIComponent('ho=1; HttpOnly');
        })""")
        assert got == ["", "im=1"]

        # a synchronous request's response, in the same script
        got = await page.evaluate("""() => {
            const before = document.cookie;
            const x = new XMLHttpRequest();
            x.open('GET', '/set?c=' + encodeURIComponent('sx=1'), false);
            x.send();
            return [before, document.cookie];
        }""")
        assert got == ["im=1", "im=1; sx=1"]

        # fetch: the response is seen after the await, by the next read
        got = await page.evaluate("""async () => {
            const before = document.cookie;
            await fetch('/set?c=' + encodeURIComponent('fe=1'));
            return [before, document.cookie];
        }""")
        assert got == ["im=1; sx=1", "im=1; sx=1; fe=1"]
        assert "ho=1" not in await page.evaluate("document.cookie")


async def test_a_cookie_expiring_while_a_script_runs_is_gone_at_the_next_read(make_tandem, upstream):
    async with chromium() as browser:
        page, _ = await open_page(make_tandem, upstream, browser)
        # a cookie that expires at B, read just before B and again just after it, in one script
        for _ in range(5):  # a machine too loaded to answer the first read before B makes the case moot: again
            got = await page.evaluate(EXPIRING)
            if got[0] == "ex=1":
                break
        assert got[0] == "ex=1", f"could not read before the expiry in time: {got}"
        assert got[1] == ""


EXPIRING = """() => {
            // B: a whole second at least 300 ms away; the cookie is set now, read 40 ms before B
            // (its TTL then ends by B) and again 5 ms after B (the 100 ms bound alone would keep it)
            const b = Math.ceil((Date.now() + 300) / 1000) * 1000;
            const x = new XMLHttpRequest();
            x.open('GET', '/set?exp=' + b, false);
            x.send();
            while (Date.now() < b - 40);
            const before = document.cookie;
            while (Date.now() < b + 5);
            return [before, document.cookie];
        }"""


async def test_writes_from_another_window_are_seen_in_the_same_script(make_tandem, upstream):
    async with chromium() as browser:
        page, _ = await open_page(make_tandem, upstream, browser)
        # a frame navigated once more has its own copy of the runtime (not the parent's)
        await page.evaluate("""() => new Promise((ok) => {
            const f = document.createElement('iframe');
            f.id = 'f';
            let loads = 0;
            f.onload = () => { if (++loads === 1) f.contentWindow.location.href = '/frame?again'; else ok(); };
            f.src = '/frame';
            document.body.appendChild(f);
        })""")
        got = await page.evaluate("""() => {
            const w = document.getElementById('f').contentWindow;
            const before = [document.cookie, w.read()];
            w.put('fr=1');  // the frame's own document.cookie setter
            const mid = [document.cookie, w.read()];
            document.cookie = 'pa=1';  // the parent's
            return [before, mid, [document.cookie, w.read()]];
        }""")
        assert got == [["", ""], ["fr=1", "fr=1"], ["fr=1; pa=1", "fr=1; pa=1"]]

        # another tab of the session writes; this one reads in a later script
        assert await page.evaluate("document.cookie") == "fr=1; pa=1"
        async with page.expect_popup() as popup:
            await page.evaluate("window.open('/frame?tab')")
        tab = await popup.value
        await tab.wait_for_load_state()
        await tab.evaluate("put('tb=1')")
        assert await page.evaluate("document.cookie") == "fr=1; pa=1; tb=1"


def test_the_jar_says_how_long_a_read_stays():
    """The TTL header: until the first cookie of the jar expires, at most 60 s."""
    from rewriter.cookies import CookieJar

    clock = [1000.0]
    jar = CookieJar(clock=lambda: clock[0])
    assert jar.expires_in() == float("inf")
    jar.set_from_response("https://a.example/", ["s=1", "p=1; Max-Age=30", "q=1; Max-Age=10; HttpOnly"])
    assert jar.expires_in() == 10.0  # every cookie of the jar counts, HttpOnly too
    clock[0] += 10
    assert jar.expires_in() == 20.0 and jar.script_read("https://a.example/") == "s=1; p=1"


async def test_what_a_synchronous_request_logs_names_the_page_not_the_runtime(make_tandem, upstream):
    """The runtime notices a synchronous request at open(), not by wrapping send(): the browser
    names the frame that called send for what the request logs (lanouvellerepublique.fr's 404
    from a synchronous XHR was attributed to /__tandem/runtime.js when send was wrapped)."""
    async with chromium() as browser:
        page, _ = await open_page(make_tandem, upstream, browser)
        logged = []
        page.on("console", lambda m: logged.append((m.text, m.location.get("url", ""))))
        await page.add_script_tag(content="""
            const x = new XMLHttpRequest(); x.open('GET', '/missing', false);
            try { x.send(null); } catch (e) {}
            window.__status = x.status;""")
        assert await page.evaluate("window.__status") == 404
        failed = [url for text, url in logged if "404" in text]
        assert failed and not any("/__tandem/" in url for url in failed), logged
