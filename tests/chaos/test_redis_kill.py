"""Chaos b: the gateway's private redis-server killed with SIGKILL under load.

The test only kills; the gateway's own supervisor (gateway.private_redis) starts
Redis again from its AOF on the same port. Meanwhile the intake answers 503 (the
clients retry with the same Idempotency-Key) and the submitter backs off; then
everything drains. Ledger: 0 lost, 0 twice, and one restart logged per kill.
"""

from __future__ import annotations

import asyncio
import os
import signal

import pytest

from tests.chaos.harness import Load, scale
from tests.chaos.ledger import take

pytestmark = pytest.mark.xdist_group("realtime")


async def test_redis_kill9_recovered_by_the_gateway(served, store):
    sc = scale()
    gw = await served().start()
    store.latency(0.02)
    load = Load(gw, "B", sc.ratings, sc.clients)
    posting = asyncio.create_task(load.run())
    killed = []
    for k in range(sc.kills):
        await load.until_accepted(sc.ratings * (k + 1) // (sc.kills + 2))
        pid = gw.redis_pid()
        killed.append(pid)
        os.kill(pid, signal.SIGKILL)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 15
        while gw.redis_pid() == pid and loop.time() < deadline:  # the supervisor's job
            await asyncio.sleep(0.05)
        assert gw.redis_pid() != pid, "the gateway did not restart its Redis"
    await posting
    ledger = await take("redis kill -9", gw, store, load.accepted, sc.drain_timeout_s)
    events = gw.events()
    died = [e["pid"] for e in events if e.get("event") == "redis.private_died"]
    restarted = [e for e in events if e.get("event") == "redis.private_restarted"]
    ledger.notes.update({"kills": sc.kills, "503 answers": load.answers[503],
                         "no answer": load.answers[0],
                         "down s": [e.get("down_s") for e in restarted]})
    assert await gw.stop() == 0
    ledger.check()
    assert died == killed and len(restarted) == sc.kills
    assert ledger.accepted == sc.ratings
