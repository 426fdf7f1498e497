"""Redis goes away mid-drain (SIGTERM or kill -9) and comes back: nothing lost or doubled.

Uses its own redis-server (AOF everysec, as the gateway runs it), not the shared one.
"""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis
import redis.exceptions

from adapters.redis_server import RedisServer
from ratings import keys
from tests.submitter.conftest import Running, enqueue, fast_submitter, make_ev, outbox_empty
from tests.submitter.conftest import wait_for

N = 400


async def drained(client) -> bool:
    """outbox_empty, but a stale pooled connection after the restart only means 'not yet'."""
    try:
        return await outbox_empty(client)
    except redis.exceptions.ConnectionError:
        return False


@pytest.fixture
def own_redis(tmp_path):
    server = RedisServer(tmp_path / "redis").start()
    yield server
    server.stop()


@pytest.mark.parametrize("kill", [False, True], ids=["sigterm", "kill-9"])
async def test_submitter_survives_a_redis_restart(own_redis, store, http_store, kill):
    client = aioredis.Redis.from_url(own_redis.url)
    evs = [make_ev(f"P{i}") for i in range(N)]
    for ev in evs:
        await enqueue(client, ev)
    await asyncio.sleep(1.5)  # past one AOF fsync: what the intake acknowledged is on disk
    store.slow_next(N, seconds=0.02, after_store=False)  # a drain that lasts a few seconds
    sub = fast_submitter(client, http_store, concurrency=8)
    try:
        async with Running(sub):
            await wait_for(lambda: len(store.records) >= N // 4)
            own_redis.stop(kill=kill)
            await asyncio.sleep(2)  # an outage, longer than the client's own retries
            await asyncio.to_thread(own_redis.start)
            await wait_for(lambda: drained(client), timeout=60)
            # the drain continued after the restart, on the same loop
            assert len(store.records) == N
        assert sub.counts["redis_errors"] > 0  # the outage was seen, and survived
    finally:
        await client.aclose()
    expected = {f"{ev.id}:P{i}" for i, ev in enumerate(evs)}
    assert set(store.records) == expected  # none lost, none extra
    check = aioredis.Redis.from_url(own_redis.url)
    try:
        statuses = {(await check.hget(keys.evaluation(ev.id), "status")) for ev in evs}
        assert statuses == {b"submitted"}
    finally:
        await check.aclose()
