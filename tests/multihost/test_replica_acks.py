"""``redis.min_replicas_acked``: the accept script, and only it, waits for replicas.

A real redis-server without replicas: with 1 required, the intake's accept raises
NotReplicated after the timeout (the API's 503 "retry") while the write stays on
the primary (the retry is a replay); other scripts and commands do not wait.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone

import pytest

from adapters.redis_server import RedisServer
from gateway import redis_connect
from ratings.intake import Intake
from ratings.model import Evaluation

pytestmark = pytest.mark.xdist_group("realtime")


def evaluation(item: str) -> Evaluation:
    return Evaluation.from_dict({
        "id": f"ev-{item}", "target": {"kind": "item", "id": item}, "grade": "satisfied",
        "channel": "api", "assessed_at": datetime.now(timezone.utc).isoformat()})


@pytest.fixture
def server(tmp_path):
    with RedisServer(tmp_path / "redis", aof=False) as running:
        yield running


async def test_the_accept_waits_for_replicas_and_nothing_else(server):
    client = redis_connect.async_client(server.url, max_connections=4)
    client.require_replicas(1, 0.3, frozenset({redis_connect.accept_script_sha()}))
    intake = Intake(client, b"k" * 32)
    other = client.register_script("return redis.call('SET', KEYS[1], '1')")
    try:
        started = time.monotonic()
        assert await other(keys=["{hcp}:other"]) == b"OK"
        await client.set("{hcp}:plain", "1")
        assert time.monotonic() - started < 0.2  # no WAIT after these
        started = time.monotonic()
        with pytest.raises(redis_connect.NotReplicated, match="0 of 1 replicas"):
            await intake.accept(evaluation("RA-1"))
        assert 0.25 < time.monotonic() - started < 2
        assert (await intake.status("ev-RA-1"))["status"] == "accepted"  # on the primary
        client.require_replicas(0, 0.3, frozenset())
        assert (await intake.accept(evaluation("RA-1"))).accepted  # the retry: a replay
    finally:
        await redis_connect.close_async(client)
