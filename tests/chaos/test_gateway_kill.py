"""Chaos a: ``hcp serve`` killed with SIGKILL while clients post ratings over HTTP.

Its private redis-server goes down with it (SIGTERM from the kernel, AOF flushed);
the clients keep retrying (same Idempotency-Key) against a dead port; the gateway
is started again on the same data dir, claims what the dead process held (after
``claim_idle``) and drains. Records the dead process had sent without closing its
entries come back "already there" and are absorbed. Ledger: 0 lost, 0 twice.
"""

from __future__ import annotations

import asyncio
import signal

import pytest

from tests.chaos.harness import Load, scale
from tests.chaos.ledger import take
from tests.gateway.process import pid_alive

pytestmark = pytest.mark.xdist_group("realtime")


async def test_gateway_kill9_under_load(served, store):
    sc = scale()
    gw = await served().start()
    store.latency(0.02)  # answers take a little while: records are in flight at the kill
    load = Load(gw, "A", sc.ratings, sc.clients)
    posting = asyncio.create_task(load.run())
    at_kill = []
    for k in range(sc.kills):
        await load.until_accepted(sc.ratings * (k + 1) // (sc.kills + 2))
        old_redis = gw.redis_pid()
        at_kill.append((len(load.accepted), len(store.records)))
        gw.proc.send_signal(signal.SIGKILL)
        gw.proc.wait()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while pid_alive(old_redis) and loop.time() < deadline:
            await asyncio.sleep(0.02)
        assert not pid_alive(old_redis), "the private Redis outlived its gateway"
        await asyncio.sleep(0.3)  # clients meet a dead port for a while
        await gw.start()
    await posting
    ledger = await take("gateway kill -9", gw, store, load.accepted, sc.drain_timeout_s)
    ledger.notes.update({"kills": sc.kills, "(201s, records at the exchange) at each kill": at_kill,
                         "posts retried": load.retried})
    assert await gw.stop() == 0
    ledger.check()
    assert ledger.accepted == sc.ratings
    assert all(0 < accepted < sc.ratings for accepted, _records in at_kill)  # under load
