"""Rate limits (PIN, sign-in, snippet, API) count against one budget on every node when Redis is configured.

Without a shared backend each node behind a round-robin balancer keeps its own counters, so an
attacker spreading PIN guesses over N nodes gets N budgets. Each check runs against both backends.
"""

from __future__ import annotations

import pytest

from tandem.ratelimit import (PIN_FAILURES_PER_ADDRESS, Limits, MemoryRates, RedisRates, pin_failed, pin_wait)


@pytest.fixture(params=["memory", "redis"])
async def rates(request):
    made = []

    def make():
        if request.param == "memory":
            return MemoryRates()
        b = RedisRates(request.getfixturevalue("redis_server").url)
        made.append(b)
        return b

    if request.param == "redis":
        first = make()
        await first._r.flushdb()
    yield make
    for b in made:
        await b.close()


async def test_fixed_window_counts_and_reports(rates):
    b = rates()
    results = [await b.hit("api:addr:1.2.3.4", 3, 60) for _ in range(4)]
    assert [r[0] for r in results] == [True, True, True, False]
    assert [r[1] for r in results] == [2, 1, 0, 0]
    assert all(1 <= r[2] <= 61 for r in results)
    assert (await b.peek("api:addr:1.2.3.4", 60))[0] == 3  # a refused hit is not counted
    await b.reset("api:addr:1.2.3.4")
    assert (await b.hit("api:addr:1.2.3.4", 3, 60))[:2] == (True, 2)


async def test_pin_guesses_spread_over_two_nodes_share_one_budget(request, rates):
    one, two = Limits(rates()), Limits(rates())
    shared = "redis" in request.node.callspec.id
    address = "203.0.113.7"
    limit = PIN_FAILURES_PER_ADDRESS[0]
    for i in range(limit):
        await pin_failed(one if i % 2 else two, address)  # round-robin, as the balancer sends them
    if shared:
        assert await pin_wait(one, address) is not None and await pin_wait(two, address) is not None
        assert await pin_wait(two, "198.51.100.9") is None  # someone else's guesses never lock a customer out
    else:  # in process, each node has its own counters (the default: one node)
        assert await pin_wait(one, address) is None
