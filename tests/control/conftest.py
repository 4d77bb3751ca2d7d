import aiohttp
import pytest

from tests.harness import client_session

from .helpers import Console, add_agent


@pytest.fixture
async def console():
    """``c = await console(t, "ann", admin=True)``: an agent created and signed in, with its own cookie store."""
    clients = []

    async def make(t, username="ann", *, admin=False, login=True):
        client = client_session(cookie_jar=aiohttp.DummyCookieJar())
        clients.append(client)
        c = Console(t, client)
        if login:
            await add_agent(t, username, admin=admin)
            await c.login(username)
        return c

    yield make
    for c in clients:
        await c.close()
