"""Chaos e: poison entries among a normal load.

Two kinds, both dead-lettered while everything else is stored:

* a record the exchange refuses for good (422, its words): dead-lettered at once,
  with the reason;
* an outbox entry the store client cannot even send — an item id with CR/LF, as
  a gateway from before the edge checked identifiers wrote them (written into the
  gateway's Redis the way the intake does) — aiohttp raises before a byte goes out:
  a failed delivery, claimed again after ``claim_idle``, dead-lettered after
  ``submitter.max_failed_deliveries`` (3 here) with the error.
"""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
import redis.asyncio as aioredis

from tests.chaos.harness import Load, scale
from tests.chaos.ledger import redis_url, statuses, take
from tests.submitter.conftest import enqueue, make_ev

pytestmark = pytest.mark.xdist_group("realtime")

REFUSAL = "办件编号不存在"


async def test_poison_entries_are_dead_lettered_the_rest_stored(served, store):
    sc = scale()
    gw = await served(HCP_SUBMIT_MAX_FAILED_DELIVERIES="3").start()
    refused = sc.ratings - 2  # an item rating whose number no other one starts with
    store.reject_key(f":E-{refused}", REFUSAL, 422)
    load = Load(gw, "E", sc.ratings, sc.clients)
    posting = asyncio.create_task(load.run())
    await load.until_accepted(sc.ratings // 3)

    poison = make_ev("E-CRLF")
    client = aioredis.Redis.from_url(redis_url(gw))
    try:
        await enqueue(client, poison, covers=["E-CRLF\r\n1"])
    finally:
        await client.aclose()
    await posting

    accepted = dict(load.accepted)
    accepted[poison.id] = ("E-CRLF\r\n1",)
    ledger = await take("poison entries", gw, store, accepted, sc.drain_timeout_s)
    refused_id = next(i for i, items in load.accepted.items() if items == (f"E-{refused}",))
    async with aiohttp.ClientSession() as session:
        final = await statuses(session, gw, [refused_id, poison.id])
    ledger.notes.update({"refused": final[refused_id].get("last_error"),
                         "unsendable": final[poison.id].get("last_error", "")[:90],
                         "its attempts": final[poison.id].get("attempts")})
    assert await gw.stop() == 0
    ledger.check(dead={refused_id, poison.id})
    assert final[refused_id]["last_error"] == REFUSAL
    assert final[poison.id]["last_error"].startswith("gave up after 3 failed deliveries")
