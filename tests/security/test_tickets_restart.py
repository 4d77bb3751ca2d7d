"""Entry tickets are single-use across a restart (issue 10, "spent tickets are remembered per process").

A real ``tandem serve`` child (tests/restart_helpers.py), in-process live state (SQLite) and Redis:
a ticket is spent once, the process is killed and started again, and the same ticket with the
same entry nonce cookie is replayed. Before spent tickets lived in the live state, a restart
forgot them and the replay minted a second credential.
"""

from __future__ import annotations

import signal

import aiohttp
import pytest

from demosite import start_demo
from tests.harness import client_session
from tests.live.conftest import redis_url  # noqa: F401 - a throwaway redis-server for this module
from tests.restart_helpers import TandemProcess, browser
from tests.security.handoff import IMG, sets_credential, ticket_for_a_new_host



@pytest.fixture
async def demo():
    site = await start_demo("127.0.0.1")
    yield site
    await site.close()


@pytest.fixture(params=["memory", "redis"])
async def tandem(request, tmp_path, demo):
    extra: tuple[str, ...] = ()
    if request.param == "redis":
        url = request.getfixturevalue("redis_url")
        extra = ("--redis-url", url)
    proc = TandemProcess(tmp_path / "data", allow=tuple(demo.hosts), extra_args=extra)
    await proc.start()
    yield proc
    proc.stop(signal.SIGTERM)


async def test_a_spent_ticket_replayed_after_a_restart_is_refused(tandem, demo):
    async with browser() as owner:
        # a host of the session this browser has not entered: its hand-off, step by step
        enter, nonce = await ticket_for_a_new_host(tandem, owner, demo.shop + "/")

        # what a copied ticket plus the browser's nonce cookie would be: replayed by a client of its own
        async def replay() -> aiohttp.ClientResponse:
            async with client_session(cookie_jar=aiohttp.DummyCookieJar()) as c:
                async with c.get(enter, headers={**IMG, "Cookie": nonce}, allow_redirects=False) as r:
                    await r.read()
                    return r

        first = await replay()
        assert first.status == 302 and sets_credential(first), first.headers
        again = await replay()
        assert not sets_credential(again), "a ticket was spent twice in one process"

        await tandem.restart(signal.SIGKILL)

        after = await replay()
        assert not sets_credential(after), "a spent ticket minted a credential again after a restart"
