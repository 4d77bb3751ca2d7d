"""Private-address guard: table of addresses, and the resolver that enforces it."""

import socket

import pytest

from proxy import guard


@pytest.mark.parametrize("address, allowed", [
    ("93.184.215.14", True), ("8.8.8.8", True), ("2606:4700::1111", True),
    ("127.0.0.1", False), ("127.5.6.7", False), ("::1", False), ("0.0.0.0", False), ("::", False),
    ("10.1.2.3", False), ("172.16.0.1", False), ("172.31.255.255", False), ("192.168.1.1", False),
    ("169.254.169.254", False), ("100.64.0.1", False), ("100.100.100.200", False), ("168.63.129.16", False),
    ("224.0.0.1", False), ("239.255.255.250", False), ("255.255.255.255", False), ("198.18.0.1", False),
    ("fe80::1", False), ("fc00::1", False), ("fd00:ec2::254", False), ("ff02::1", False),
    ("::ffff:127.0.0.1", False), ("::ffff:10.0.0.1", False), ("::ffff:8.8.8.8", True),
    ("64:ff9b::a00:1", False), ("64:ff9b::808:808", True), ("2002:7f00:1::", False), ("2002:808:808::", True),
    ("fe80::1%eth0", False), ("172.32.0.1", True), ("100.128.0.1", True),
])
def test_address_table(address, allowed):
    assert guard.address_allowed(address) is allowed


@pytest.mark.parametrize("address, spec, allowed", [
    ("127.0.0.1", "loopback", True), ("::1", "loopback", True), ("10.0.0.1", "loopback", False),
    ("10.0.0.1", "all", True), ("169.254.169.254", "10.0.0.0/8", False), ("10.9.9.9", "10.0.0.0/8", True),
    ("::ffff:127.0.0.1", "loopback", True),
])
def test_allowed_networks(address, spec, allowed):
    assert guard.address_allowed(address, guard.parse_networks(spec)) is allowed


@pytest.mark.parametrize("host, blocked", [
    ("127.0.0.1", True), ("[::1]", True), ("example.com", False), ("8.8.8.8", False), ("[2606:4700::1111]", False),
])
def test_check_host_literals(host, blocked):
    if blocked:
        with pytest.raises(guard.AddressBlocked):
            guard.check_host(host)
    else:
        guard.check_host(host)


async def test_resolver_maps_localhost_names_then_blocks_them():
    r = guard.GuardedResolver()
    for name in ("localhost", "shop.localhost", "A.B.LOCALHOST."):
        with pytest.raises(guard.AddressBlocked):
            await r.resolve(name, 80, socket.AF_INET)
    allowed = guard.GuardedResolver(guard.LOOPBACK_ONLY)
    res = await allowed.resolve("shop.localhost", 80, socket.AF_INET)
    assert [x["host"] for x in res] == ["127.0.0.1"]
    res = await allowed.resolve("shop.localhost", 80, socket.AF_UNSPEC)
    assert {x["host"] for x in res} == {"127.0.0.1", "::1"}


async def test_resolver_blocks_names_resolving_to_private_addresses():
    # /etc/hosts maps "localhost" — but also try a real getaddrinfo path with a numeric name
    r = guard.GuardedResolver()
    with pytest.raises(guard.AddressBlocked):
        await r.resolve("127.0.0.1", 80, socket.AF_INET)  # via the system resolver, as aiohttp never would
    await r.close()


def test_parse_networks_rejects_garbage():
    with pytest.raises(ValueError):
        guard.parse_networks("not-a-network")


# Finding #12 (issue 10): every IPv6 form that carries an IPv4 address is judged by that address,
# and every spelling of an IPv4 literal is a literal.
@pytest.mark.parametrize("host", [
    "[::127.0.0.1]", "[::ffff:0:127.0.0.1]", "[::ffff:127.0.0.1]", "[::10.0.0.1]", "[::ffff:0:169.254.169.254]",
    "[64:ff9b::127.0.0.1]", "[2002:7f00:1::]", "[::ffff:0:a00:1]", "127.1", "0x7f000001", "2130706433", "0177.0.0.1",
    "[0:0:0:0:0:ffff:7f00:1]", "[::7f00:1]",
])
def test_embedded_and_legacy_ipv4_literals_are_blocked(host):
    with pytest.raises(guard.AddressBlocked):
        guard.check_host(host)


@pytest.mark.parametrize("host", ["[::8.8.8.8]", "[::ffff:0:8.8.8.8]", "8.8.8.8", "[2606:4700::1111]"])
def test_embedded_public_ipv4_is_public(host):
    guard.check_host(host)


async def test_every_client_request_meets_the_literal_guard():
    import aiohttp

    async with aiohttp.ClientSession(trace_configs=[guard.literal_guard(())]) as client:
        for url in ("http://127.0.0.1:9/", "http://[::1]:9/", "http://[::ffff:0:127.0.0.1]:9/"):
            with pytest.raises(guard.AddressBlocked):
                await client.get(url)


async def test_every_upstream_request_and_redirect_hop_meets_the_literal_guard(make_tandem, upstream):
    """The upstream sessions make every request through ``guard.guarded_request``: a literal the guard
    forbids is refused before connecting, on the first URL and on each redirect hop (a trace hook on
    the request's start saw only the first URL). Loopback is opened here, so the site itself is reachable."""
    import asyncio

    import aiohttp
    from aiohttp import web

    from proxy.upstream import PUBLIC_EGRESS
    from tandem import appkeys

    async def hop(request):
        raise web.HTTPFound("http://10.255.255.1:9/next")  # private, not opened: refused before any connect

    async def ok(request):
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/hop", hop)
    app.router.add_get("/ok", ok)
    origin = await upstream(app)
    t = await make_tandem(allow_private=guard.LOOPBACK_ONLY)
    direct, public = t.app[appkeys.UPSTREAM], t.app[PUBLIC_EGRESS].direct
    assert direct is not public
    async with direct.get(origin + "/ok") as r:
        assert await r.text() == "ok"
    with pytest.raises(guard.AddressBlocked):
        await asyncio.wait_for(direct.get(origin + "/hop"), 5)  # the redirect followed, as a webhook's would be
    for client in (direct, public):
        with pytest.raises(guard.AddressBlocked):
            await client.get("http://[::ffff:169.254.169.254]:9/")
    with pytest.raises(guard.AddressBlocked):
        await public.get(origin + "/ok")  # loopback is opened for the allowlist's hosts only
    async with aiohttp.ClientSession(request_class=guard.guarded_request(())) as plain:
        for url in ("http://127.0.0.1:9/", "http://[::1]:9/", "http://0x7f.1:9/"):
            with pytest.raises(guard.AddressBlocked):
                await plain.get(url)
