"""Chat in real Chromium between three participants: the tab owner (in the panel of its proxied
page), a follower with a wide session page and one on a phone-sized one.

What is checked: messages reach everyone under the names they were admitted with; the panel
chats before anyone watches (a joiner gets the live room's last messages); markup and
``javascript:`` links are shown as typed and nothing runs; unread counts; keyboard-only use
(focus order, Enter sends, Escape closes); the size and rate limits come back as clear messages;
nothing of the chat is kept in the store. Screenshots at 1280 and 360 px are saved under the
test's tmp_path (``--basetemp`` to keep them).
"""

from __future__ import annotations

import asyncio
import inspect
import json

import pytest

from proxy.sessions import CONSENT
from sync.protocol import CHAT_BURST, MAX_CHAT
from tandem import appkeys
from tests.e2e.browser import chromium, needs_chromium
from tests.e2e.test_sync import WAIT_MS, demo, follower_link, panel, start  # noqa: F401 - demo is a fixture

pytestmark = [pytest.mark.e2e, needs_chromium]

HOSTILE = '<img src=x onerror="window.__pwned=1;parent.__pwned=1">'
JS_LINK = "javascript:window.__pwned=2//"
LINK = "see https://shop.example/order?id=7&x=<b>bold</b>"


async def texts(where, selector=".chat-log .chat-msg"):
    """[name, text] of every chat message shown in a page or frame."""
    return await where.eval_on_selector_all(
        selector, "els => els.map(e => [e.querySelector('.who').textContent, e.querySelector('.text').textContent])")


async def wait_text(where, text: str):
    await where.wait_for_function(
        "t => [...document.querySelectorAll('.chat-log .chat-msg .text')].some(e => e.textContent === t)",
        arg=text, timeout=WAIT_MS)


async def panel_open(frame, on: bool = True):
    toggle = frame.locator("button.toggle")
    if (await toggle.get_attribute("aria-expanded") == "true") != on:
        await toggle.click()


async def maybe(value):
    return await value if inspect.isawaitable(value) else value


async def test_chat_between_the_tab_owner_and_two_followers(make_tandem, demo, tmp_path):  # noqa: F811
    t, body = await start(make_tandem, demo)
    sid = body["session_id"]
    async with chromium() as browser:
        # -- the tab owner, alone: the panel chats before anyone watches (the recording is not even loaded)
        lctx = await browser.new_context(viewport={"width": 1280, "height": 800})
        lp = await lctx.new_page()
        await lp.goto(body["leader_url"] + "&name=Ada")
        frame = await panel(lp)
        await panel_open(frame)
        await frame.fill(".chat-input", "Hello, is anyone there?")
        await frame.press(".chat-input", "Enter")
        await wait_text(frame, "Hello, is anyone there?")
        assert await frame.input_value(".chat-input") == ""
        assert await texts(frame) == [["Ada (you)", "Hello, is anyone there?"]]

        # -- Bob joins on a wide screen: the chat is open beside the mirror and has the message already
        bctx = await browser.new_context(viewport={"width": 1280, "height": 800})
        bp = await bctx.new_page()
        await bp.goto(await follower_link(t, body) + "&name=Bob")
        await bp.wait_for_function("() => window.tandemMirror && window.tandemMirror.stats.applied > 0", timeout=WAIT_MS)
        await wait_text(bp, "Hello, is anyone there?")
        assert await bp.get_attribute(".chat-btn", "aria-expanded") == "true"
        assert await texts(bp) == [["Ada", "Hello, is anyone there?"]]

        # -- Eve joins through the consent screen, which says the chat is not stored, on a phone
        token = await t.app[appkeys.SESSIONS].invite(sid, "follower", audience=CONSENT, single_use=True)
        ectx = await browser.new_context(viewport={"width": 360, "height": 740}, is_mobile=True, has_touch=True)
        ep = await ectx.new_page()
        await ep.goto(f"{t.url}/s/{sid}/join?t={token}")
        consent = await ep.text_content("body")
        assert "Chat messages are seen only by the people in this session, are not stored, and are gone when it ends" in consent
        await ep.fill("#name", "Eve (tab owner)")  # a role look-alike: admitted as "Eve"
        await ep.click("button[type=submit]")
        await ep.wait_for_url(f"{t.url}/s/{sid}", timeout=WAIT_MS)
        await ep.wait_for_function("() => window.tandemMirror && window.tandemMirror.chat", timeout=WAIT_MS)
        assert await ep.get_attribute(".chat-btn", "aria-expanded") == "false"  # no room for it on a phone: folded

        # -- the tab owner folds the panel (Escape); Bob sends markup, a javascript: link and a link
        await frame.focus(".chat-input")
        await frame.press(".chat-input", "Escape")
        assert await frame.get_attribute("button.toggle", "aria-expanded") == "false"
        assert await frame.evaluate("document.activeElement.classList.contains('toggle')")
        for text in (HOSTILE, JS_LINK, LINK):
            await bp.fill(".chat-input", text)
            await bp.press(".chat-input", "Enter")
        for where in (frame, ep, bp):
            await wait_text(where, LINK)
        for where in (frame, ep, bp):
            shown = await texts(where)
            assert ["Bob" + (" (you)" if where is bp else ""), HOSTILE] in shown
            assert shown[-2:] == [[shown[-1][0], JS_LINK], [shown[-1][0], LINK]]
            assert await where.eval_on_selector_all(".chat-log img, .chat-log a, .chat-log b, .chat-log script", "e => e.length") == 0
        await asyncio.sleep(0.5)  # an onerror would have run by now
        for where in (lp, frame, bp, ep):
            assert await where.evaluate("window.__pwned === undefined"), "chat text ran as markup"
        # clicking the javascript: text does nothing either (it is a text span, not a link)
        await bp.click(f".chat-log .text:text-is('{JS_LINK}')")
        await asyncio.sleep(0.2)
        assert await bp.evaluate("window.__pwned === undefined")

        # -- unread counts: the folded panel and Eve's folded chat count Bob's three (Eve also Ada's)
        await frame.wait_for_function("() => document.querySelector('button.toggle').textContent.includes('3 new messages')", timeout=WAIT_MS)
        assert await ep.text_content(".chat-btn .count") == "4"
        assert await ep.get_attribute(".chat-btn", "aria-label") == "Chat, 4 unread"
        assert await bp.locator(".chat-btn .count").is_hidden()  # Bob has it open

        # -- keyboard only on Eve's phone: Tab reaches the chat button, Enter opens and focuses the box,
        #    Enter sends, Escape closes and gives the focus back
        await ep.evaluate("document.activeElement && document.activeElement.blur()")
        focused = []
        for _ in range(6):
            await ep.keyboard.press("Tab")
            focused.append(await ep.evaluate("document.activeElement.className || document.activeElement.tagName"))
            if focused[-1] == "chat-btn":
                break
        assert focused[-1] == "chat-btn", focused
        await ep.keyboard.press("Enter")
        assert await ep.get_attribute(".chat-btn", "aria-expanded") == "true"
        assert await ep.evaluate("document.activeElement.classList.contains('chat-input')")
        assert await ep.locator(".chat-btn .count").is_hidden()  # read now
        await ep.keyboard.type("Hi both, Eve here")
        await ep.keyboard.press("Shift+Enter")
        await ep.keyboard.type("on my phone")
        await ep.keyboard.press("Enter")
        for where in (frame, bp, ep):
            await wait_text(where, "Hi both, Eve here\non my phone")
        assert (await texts(bp))[-1] == ["Eve", "Hi both, Eve here\non my phone"]  # the admitted name
        assert (await texts(frame))[-1] == ["Eve", "Hi both, Eve here\non my phone"]
        assert await bp.get_attribute(".chat-log", "aria-live") == "polite"
        await ep.screenshot(path=str(tmp_path / "chat-session-360.png"))
        await bp.screenshot(path=str(tmp_path / "chat-session-1280.png"))
        await ep.keyboard.press("Escape")
        assert await ep.get_attribute(".chat-btn", "aria-expanded") == "false"
        assert await ep.evaluate("document.activeElement.classList.contains('chat-btn')")

        # -- the panel: 4 new messages now; opening it reads them; the tab owner answers a follower
        await frame.wait_for_function("() => document.querySelector('button.toggle').textContent.includes('4 new messages')", timeout=WAIT_MS)
        await panel_open(frame)
        await frame.wait_for_function("() => !document.querySelector('button.toggle').textContent.includes('new message')", timeout=WAIT_MS)
        await frame.fill(".chat-input", "Thanks Eve!")
        await frame.press(".chat-input", "Enter")
        await wait_text(ep, "Thanks Eve!")
        await wait_text(bp, "Thanks Eve!")
        await lp.screenshot(path=str(tmp_path / "chat-panel-1280.png"))

        # -- limits, enforced by the room: a clear message at the form, the draft kept
        await bp.evaluate(f"() => {{ for (let i = 0; i < {CHAT_BURST * 3}; i++) window.tandemMirror.conn.send({{t: 'chat', text: 'flood ' + i}}); }}")
        await bp.wait_for_function("() => document.querySelector('.chat-note').textContent.includes('too fast')", timeout=WAIT_MS)
        await asyncio.sleep(0.5)
        floods = [x for x in await texts(ep) if x[1].startswith("flood")]
        assert 0 < len(floods) < CHAT_BURST * 3
        await bp.evaluate(f"() => window.tandemMirror.conn.send({{t: 'chat', text: 'y'.repeat({MAX_CHAT + 1})}})")
        await bp.wait_for_function(f"() => document.querySelector('.chat-note').textContent.includes('limited to {MAX_CHAT} characters')", timeout=WAIT_MS)
        assert await bp.get_attribute(".chat-input", "maxlength") == str(MAX_CHAT)

        # -- the tab owner's panel after a page load: the live room's last messages come back, in order
        await lp.reload()
        frame = await panel(lp)
        await wait_text(frame, "Thanks Eve!")
        after = await texts(frame)
        assert after[0] == ["Ada (you)", "Hello, is anyone there?"] and ["Eve", "Hi both, Eve here\non my phone"] in after
        assert "new message" not in await frame.text_content("button.toggle")  # read before the reload

        # -- 360 px: the tab owner on a phone
        await lp.set_viewport_size({"width": 360, "height": 740})
        frame = await panel(lp)
        await panel_open(frame)
        await asyncio.sleep(0.3)
        await lp.screenshot(path=str(tmp_path / "chat-panel-360.png"))
        await bp.set_viewport_size({"width": 360, "height": 740})
        await asyncio.sleep(0.3)
        await bp.screenshot(path=str(tmp_path / "chat-session-360-open.png"))
        # the sheet's box fits the phone's width
        box = await bp.eval_on_selector(".chat-pane", "e => { const r = e.getBoundingClientRect(); return [r.left, r.right]; }")
        assert box[0] >= 0 and box[1] <= 360

    # -- nothing of it kept: not in the audit log, the room's kept facts or the session's live state
    store = t.app[appkeys.STORE]
    audit = json.dumps([[e.kind, e.actor, e.detail] for e in await maybe(await store.audit_events(session_id=sid))])
    assert "Eve here" not in audit and "Thanks Eve" not in audit and "flood" not in audit
    session = await t.app[appkeys.SESSIONS].get(sid)
    facts = session.live.facts.get() if session is not None else None
    assert "Eve here" not in json.dumps(facts)
