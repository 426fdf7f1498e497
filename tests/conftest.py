"""Shared fixtures: a real redis-server for the whole run, flushed per test."""

from __future__ import annotations

import os

import pytest
import redis
import redis.asyncio as aioredis
from hypothesis import settings

from adapters.redis_server import RedisServer
from tests.support.corestore import LoopbackCoreStore

# The test command gives the same examples every run, so a green main stays green; an
# exploring run (HYPOTHESIS_PROFILE=explore scripts/test tests/sms_grammar) draws new
# ones, and what it finds goes into the tables as a row.
settings.register_profile("repeatable", derandomize=True, print_blob=True)
settings.register_profile("explore", derandomize=False, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "repeatable"))


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server):
    redis.Redis.from_url(redis_server.url).flushall()
    return redis_server.url


@pytest.fixture
async def aredis(redis_url):
    client = aioredis.Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
async def store():
    """The loopback exchange (tests/support/corestore.py) on a free loopback port."""
    async with LoopbackCoreStore() as exchange:
        yield exchange
