"""Masking rules per domain: validation, matching, the admin's stored rules, and the tag every page gets."""

import pytest
from aiohttp import web

from sync.masking import MaskingError, MaskingPolicy, check_selector
from tandem import appkeys


@pytest.mark.parametrize("bad", ["", "a, b", "</script>", 'x"y', "{color:red}", "a /* b */", "x" * 501])
def test_selectors_that_could_break_out_are_refused(bad):
    with pytest.raises(MaskingError):
        check_selector(bad)


def test_rules_match_hosts_like_the_allowlist():
    m = MaskingPolicy()
    m.set("*.bank.example", mask=["#iban"], block=[".statement"])
    m.set("shop.example", mask=["#note"], block=[])
    assert m.rules_for("shop.example") == (("#note",), ())
    assert m.rules_for("www.bank.example") == (("#iban",), (".statement",))
    assert m.rules_for("bank.example") == ((), ())
    with pytest.raises(MaskingError):
        m.set("not a host", mask=["#x"])


async def test_every_proxied_page_carries_its_hosts_rules(make_tandem, upstream):
    async def page(request):
        return web.Response(text="<html><head><title>t</title></head><body>x</body></html>", content_type="text/html")

    app = web.Application()
    app.router.add_get("/", page)
    origin = await upstream(app)
    t = await make_tandem()
    await t.app[appkeys.MASKING].set("127.0.0.1", mask=["#secret", "input.pin"], block=["[data-x='1']"])
    s = await t.session(origin + "/")
    html = await (await t.client.get(s.url(origin + "/"))).text()
    head = html.split("<title>")[0]
    assert head.index("/__tandem/runtime.js") < head.index("/__tandem/recorder.js")
    assert 'data-mask="#secret, input.pin"' in head and "data-block=\"[data-x=&#x27;1&#x27;]\"" in head
    assert f'data-panel="{t.url}/s/{s.sid}/panel"' in head
    await t.app[appkeys.MASKING].set("127.0.0.1", mask=["#changed"], block=[])  # an admin edit applies to the next page
    html = await (await t.client.get(s.url(origin + "/"))).text()
    assert 'data-mask="#changed"' in html
    recorder = await t.client.get(s.url(origin + "/__tandem/recorder.js?v=1"))
    assert recorder.status == 200 and "immutable" in recorder.headers["Cache-Control"]
