"""Cluster tests run against real servers: Redis (and HAProxy, PostgreSQL for the e2e) on free loopback ports."""

from __future__ import annotations

import pytest

from tests.servers.redis import RedisServer


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory):
    with RedisServer(tmp_path_factory.mktemp("redis")) as server:
        yield server
