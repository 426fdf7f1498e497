"""Chaos c: the exchange goes away in three ways while clients keep rating.

Phases of ``outage_s`` each: down (its port closed: connection refused), then up
but answering 503 to everything, then accepting connections and never answering
(the gateway's ``core.timeout_s`` of 1 s expires; the exchange still stores those
records once it answers again, as a real one would), then back. The intake never
stops taking ratings (the outbox is the buffer); the submitter retries each record
with backoff and the exchange's uniqueness absorbs the records stored during the
hang. Ledger: 0 lost, 0 twice.
"""

from __future__ import annotations

import asyncio

import pytest

from tests.chaos.harness import Load, scale
from tests.chaos.ledger import take

pytestmark = pytest.mark.xdist_group("realtime")


async def test_store_down_then_503_then_hanging_then_back(served, store):
    sc = scale()
    gw = await served().start()
    # paced so that ratings keep coming during all three phases and after
    pace = (3 * sc.outage_s + 2) * sc.clients / sc.ratings
    load = Load(gw, "C", sc.ratings, sc.clients, pace_s=pace)
    posting = asyncio.create_task(load.run())
    await load.until_accepted(sc.ratings // 6)
    phases = {}

    before = len(load.accepted)
    await store.stop()  # down: nothing listens on its port
    await asyncio.sleep(sc.outage_s)
    phases["down"] = len(load.accepted) - before

    before = len(load.accepted)
    store.fail_rate(1.0)  # up, every record answered 503
    await store.start()
    await asyncio.sleep(sc.outage_s)
    phases["503"] = len(load.accepted) - before

    before = len(load.accepted)
    store.fail_rate(0.0)
    store.hang(True)  # connections accepted, no answer: client timeouts
    await asyncio.sleep(sc.outage_s)
    phases["hanging"] = len(load.accepted) - before
    store.hang(False)

    stored_before_back = len(store.records)
    await posting
    ledger = await take("store down/503/hanging", gw, store, load.accepted,
                        sc.drain_timeout_s)
    ledger.notes.update({"accepted during each phase": phases,
                         "503s served": store.faults_served["5xx"],
                         "requests that hung": store.hung,
                         "stored when it came back": stored_before_back})
    assert await gw.stop() == 0
    ledger.check()
    assert all(n > 0 for n in phases.values()), phases  # the intake kept accepting
    assert store.faults_served["5xx"] > 0 and store.hung > 0  # each fault was met
