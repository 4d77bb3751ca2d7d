"""Issue 10 #1, #2, #8 in real Chromium: a hostile proxied page (served on loopback) tries to read
its participants' credentials and to cookie-bomb its browser; a page of one session never gets the
credential of another session the same browser joined. What the proxied hosts actually receive is
captured server-side."""

from __future__ import annotations

import pytest
from aiohttp import web

from rewriter import labels
from tests.e2e.browser import chromium, needs_chromium
from tests.e2e.stuck import Watch, bounded, loop_tasks, rerun_once_if_stuck, within

pytestmark = [pytest.mark.e2e, needs_chromium]

BOMB = "b" * 3900  # one cookie just under the browser's 4096-byte limit
STEP_S = 20  # what one request of a hostile page may take here (they take milliseconds)
# A page's whole script: every step at its bound, and margin. Past it the page itself is stuck (a
# blocked or crashed renderer, an event that never fires): tests.e2e.stuck says what it waits for.
SCRIPT_S = 10 * STEP_S
CALL_S = 60  # a browser call with no timeout of its own (a new context or page, cookies, a close): milliseconds here


def hostile_site() -> web.Application:
    async def page(request):
        return web.Response(text="<!doctype html><title>hostile</title><h1 id=h>hostile page</h1>", content_type="text/html")

    async def x(request):
        return web.Response(text="x")

    # the page's own cookies (the runtime keeps document.cookie and cookieStore in the session jar)
    # go upstream: a site that reads big cookie headers, so what is tested here is Tandem alone
    app = web.Application(handler_args={"max_field_size": 1 << 20, "max_line_size": 1 << 16})
    app.router.add_get("/", page)
    app.router.add_get("/x", x)
    return app


class Seen:
    """(host, Cookie header) of every request Tandem answered."""

    def __init__(self):
        self.requests: list[tuple[str, str]] = []

    def __call__(self, request, response) -> None:
        self.requests.append(((request.host or "").lower(), ", ".join(request.headers.getall("Cookie", []))))

    def for_session(self, base, sid: str) -> list[str]:
        out = []
        for host, cookie in self.requests:
            label = base.label_of_host(host)
            try:
                if label is not None and labels.decode(label).sid == sid:
                    out.append(cookie)
            except labels.LabelError:
                continue
        return out


ATTACK = """async ([baseHost, big]) => {
  const out = {bodies: [], errors: []};
  for (let i = 0; i < 6; i++) {
    try { await cookieStore.set({name: 'sbomb' + i, value: big, domain: baseHost, path: '/'}); } catch (e) { out.errors.push(String(e)); }
    try { await cookieStore.set({name: 'hbomb' + i, value: big, path: '/'}); } catch (e) { out.errors.push(String(e)); }
    document.cookie = 'dbomb' + i + '=' + big + '; domain=' + baseHost + '; path=/';
  }
  async function grab(url, init) {
    try {
      const r = await fetch(url, init);
      out.bodies.push(r.status + '\\n' + [...r.headers].join('\\n') + '\\n' + await r.text());
    } catch (e) { out.errors.push(String(e)); }
  }
  await grab('/x');
  await grab('/x?' + 'q'.repeat(40000));
  await grab('/x', {headers: {'X-Big': 'h'.repeat(800000)}});
  const many = {}; for (let i = 0; i < 150; i++) many['X-H' + i] = 'v';
  await grab('/x', {headers: many});
  await grab('/__tandem/cookies?path=/');
  await new Promise((done) => {
    const xhr = new XMLHttpRequest(); xhr.open('GET', '/x');
    xhr.onloadend = () => { out.bodies.push(String(xhr.status) + xhr.getAllResponseHeaders() + xhr.responseText); done(); };
    xhr.send();
  });
  out.bodies.push(document.cookie);
  try { out.bodies.push(JSON.stringify(await cookieStore.getAll())); } catch (e) { out.errors.push(String(e)); }
  try { out.bodies.push(JSON.stringify(await cookieStore.getAll({url: location.href}))); } catch (e) { out.errors.push(String(e)); }
  return out;
}"""


@rerun_once_if_stuck
async def test_a_cookie_bombing_page_reads_no_credential_and_the_browser_keeps_working(make_tandem, upstream):
    """#1 (the 400 that echoed the Cookie header) and #8 (cookie bomb on Domain=BASE)."""
    origin = await upstream(hostile_site())
    seen = Seen()
    t = await make_tandem(observe=seen)
    s = await t.session(origin + "/", enter=False)
    async with chromium() as browser:
        ctx = await within(browser.new_context(), CALL_S, "a new browser context")
        page = await within(ctx.new_page(), CALL_S, "a new page")
        await page.goto(s.leader_url)
        assert await page.text_content("#h") == "hostile page"
        secrets = [c["value"] for c in await within(ctx.cookies(), CALL_S, "the context's cookies")
                   if c["name"].startswith(("tandem_", "__Host-tandem"))]
        assert secrets  # the control plane's and this host's
        # what a page could plant and the runtime did not catch: Domain=BASE cookies, as cookieStore makes them
        await within(ctx.add_cookies([{"name": f"pbomb{i}", "value": BOMB, "domain": "." + t.base.hostname, "path": "/"}
                                      for i in range(10)]), CALL_S, "planting cookies")
        watch = Watch(ctx)
        out = await bounded(page.evaluate(ATTACK, [t.base.hostname, BOMB]), SCRIPT_S, watch, page, "the cookie-bombing script")
        assert len(out["bodies"]) == 9, out["errors"]
        for body in out["bodies"]:
            for secret in secrets:
                assert secret not in body
            assert "tandem_p_" not in body and "tandem_h" not in body
        # the bomb did reach Tandem (well past aiohttp's stock 8 KB), and was read, not refused. Whichever
        # request carries it first (a proxied one, or the panel's on the control plane) is answered
        # with the order to drop it, so which host reads it is a race: look at every host of Tandem
        assert max(len(c) for _, c in seen.requests) > 30_000
        # the browser still uses the session and the control plane
        resp = await page.goto(origin.replace(origin, page.url))
        assert resp.status == 200 and await page.text_content("#h") == "hostile page"
        resp = await page.goto(f"{t.url}/s/{s.sid}")
        assert resp.status < 400
        # a page of its own: the session page may still be moving the tab owner back to the site
        landing = await within(ctx.new_page(), CALL_S, "a new page")
        resp = await landing.goto(t.url + "/")
        assert resp is not None and resp.status == 200
        # and what was planted is gone: every answer asked the browser to drop it
        left = sorted(c["name"] for c in await within(ctx.cookies(), CALL_S, "the context's cookies") if "bomb" in c["name"])
        assert left == []
        await within(ctx.close(), CALL_S, "closing the browser context")


@rerun_once_if_stuck
async def test_a_page_of_one_session_never_receives_another_sessions_credential(make_tandem, upstream):
    """#2: an agent joined session V, then session A; A's hosts get nothing of V, whatever its page does."""
    origin = await upstream(hostile_site())
    seen = Seen()
    t = await make_tandem(observe=seen)
    v = await t.session(origin + "/", enter=False)
    a = await t.session(origin + "/", enter=False)
    async with chromium() as browser:
        ctx = await within(browser.new_context(), CALL_S, "a new browser context")
        page_v = await within(ctx.new_page(), CALL_S, "a new page")
        await page_v.goto(v.leader_url)
        assert await page_v.text_content("#h") == "hostile page"
        v_secrets = [c["value"] for c in await within(ctx.cookies(), CALL_S, "the context's cookies")]
        assert v_secrets
        watch = Watch(ctx)
        page_a = await within(ctx.new_page(), CALL_S, "a new page")
        await page_a.goto(a.leader_url)
        assert await page_a.text_content("#h") == "hostile page"
        # A's page pulls what it can: its own host, a new host of A, V's session page and its host
        v_host = page_v.url.split("/")[2]
        # every step bounded: a request that never ends fails the test by name instead of hanging the run.
        # (A fresh-clone run once sat here for 12 minutes, browser and Tandem idle: the way a request for
        # *.localhost taken by another program on [::1] hangs, which tandem/listen.py and the harness's
        # both-address ports now rule out; tests/e2e/stuck.py names any other cause.)
        out = await bounded(page_a.evaluate("""async ([base, vsid, vHost, stepMs]) => {
          const hung = [], took = [];
          const within = async (p, what) => {
            const t0 = performance.now();
            await Promise.race([p, new Promise((ok) => setTimeout(() => { hung.push(what); ok(); }, stepMs))]);
            took.push([what, Math.round(performance.now() - t0)]);
          };
          const tries = ['/x', base + '/s/' + vsid, 'http://' + vHost + '/x'];
          for (const u of tries) {
            await within(fetch(u, {credentials: 'include'}).catch(() => {}), 'fetch ' + u);
            await within(fetch(u, {mode: 'no-cors', credentials: 'include'}).catch(() => {}), 'no-cors fetch ' + u);
          }
          const img = new Image(); img.src = '/x?img'; await within(new Promise((ok) => { img.onload = img.onerror = img.onabort = ok; }), 'image');
          const f = document.createElement('iframe'); f.src = '/x?frame';
          const loaded = new Promise((ok) => f.onload = ok);
          document.body.append(f);
          await within(loaded, 'frame');
          return {hung, took};
        }""", [t.url, v.sid, v_host, STEP_S * 1000]), SCRIPT_S, watch, page_a, "the other session's page's script")
        assert out["hung"] == [], (out, watch.unfinished(), watch.events, loop_tasks())
        a_cookies = seen.for_session(t.base, a.sid)
        assert len(a_cookies) >= 5
        for cookie in a_cookies:
            for secret in v_secrets:
                assert secret not in cookie
            assert v.sid not in cookie and "tandem_p_" not in cookie
        # V's hosts, the other way round, never got A's
        a_secrets = [c["value"] for c in await within(ctx.cookies(), CALL_S, "the context's cookies") if c["value"] not in v_secrets]
        assert a_secrets
        for cookie in seen.for_session(t.base, v.sid):
            for secret in a_secrets:
                assert secret not in cookie
        await within(ctx.close(), CALL_S, "closing the browser context")


@rerun_once_if_stuck
async def test_frames_and_images_enter_a_new_host_of_the_session_through_the_hand_off(make_tandem, upstream):
    """A host the browser has not entered yet gets its own credential on first use (a frame, an image),
    and the page never sees the ticket: the frame's URL and the image's are the original ones."""
    origin = await upstream(hostile_site())

    async def pixel(request):
        return web.Response(body=b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00,"
                                 b"\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;", content_type="image/gif")

    posted = []

    async def login(request):
        posted.append(await request.post())
        return web.Response(text="<!doctype html><p id=w>welcome</p>", content_type="text/html")

    other_app = hostile_site()
    other_app.router.add_get("/p.gif", pixel)
    other_app.router.add_post("/login", login)
    third = await upstream(other_app)
    other = await upstream(other_app)
    t = await make_tandem()
    s = await t.session(origin + "/", enter=False)
    async with chromium() as browser:
        ctx = await within(browser.new_context(), CALL_S, "a new browser context")
        page = await within(ctx.new_page(), CALL_S, "a new page")
        await page.goto(s.leader_url)
        frame_url = s.url(other + "/")
        watch = Watch(ctx)
        out = await bounded(page.evaluate("""async ([frameUrl, imgUrl]) => {
          const img = new Image(); img.src = imgUrl;
          const loaded = await new Promise((ok) => { img.onload = () => ok(true); img.onerror = () => ok(false); });
          const f = document.createElement('iframe'); f.src = frameUrl; document.body.append(f);
          await new Promise((ok) => f.onload = ok);
          const names = performance.getEntriesByType('resource').map((e) => e.name);
          return {loaded, width: img.naturalWidth, names};
        }""", [frame_url, s.url(other + "/p.gif")]), SCRIPT_S, watch, page, "the image and frame of a new host")
        assert out["loaded"] and out["width"] == 1
        frame = next(f for f in page.frames if f.url.startswith(frame_url.rstrip("/")))
        assert frame.url == frame_url and await frame.text_content("#h") == "hostile page"
        assert not any("ticket=" in n or "/pass?" in n for n in out["names"])  # only the URLs the page asked for
        # a form posting to yet another host (a login form on www posting to login.…): 307s keep the body
        await page.evaluate("""(action) => {
          const f = document.createElement('form'); f.method = 'post'; f.action = action;
          const i = document.createElement('input'); i.name = 'user'; i.value = 'ann'; f.append(i);
          document.body.append(f); f.submit();
        }""", s.url(third + "/login"))
        await page.wait_for_selector("#w")
        assert [dict(p) for p in posted] == [{"user": "ann"}]
        await within(ctx.close(), CALL_S, "closing the browser context")
