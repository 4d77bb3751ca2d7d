import pytest

from tests.harness import serve_app, start_tandem


@pytest.fixture
async def make_tandem(tmp_path):
    started = []

    async def make(**overrides):
        t = await start_tandem(tmp_path / f"tandem{len(started)}", **overrides)
        started.append(t)
        return t

    yield make
    for t in started:
        await t.close()


@pytest.fixture
async def upstream():
    """``origin = await upstream(app)``: serve an aiohttp app on loopback for the test's duration."""
    runners = []

    async def make(app):
        runner, origin = await serve_app(app)
        runners.append(runner)
        return origin

    yield make
    for r in runners:
        await r.cleanup()
