"""Races on the real redis-server: many connections, one winner; no torn writes."""

from __future__ import annotations

import asyncio
import json
import random

import redis.asyncio as aioredis

from ratings import keys
from ratings.intake import Intake
from ratings.model import Channel
from tests.intake.helpers import WINDOW, Clock, make_ev

CLIENTS = 16


async def intakes(url: str, clock: Clock) -> tuple[list, list[Intake]]:
    clients = [aioredis.Redis.from_url(url) for _ in range(CLIENTS)]
    return clients, [Intake(c, b"s", follow_up_window=WINDOW, clock=clock) for c in clients]


async def close(clients) -> None:
    for client in clients:
        await client.aclose()


async def test_many_connections_race_for_one_item(redis_url, aredis):
    clients, workers = await intakes(redis_url, Clock())
    try:
        evs = [make_ev(target_id="P1", channel=random.choice(list(Channel)))
               for _ in range(400)]
        results = await asyncio.gather(
            *(workers[i % CLIENTS].accept(ev) for i, ev in enumerate(evs)))
    finally:
        await close(clients)
    winners = [r for r in results if r.accepted]
    assert len(winners) == 1
    assert {r.evaluation_id for r in results} == {winners[0].evaluation_id}
    assert await aredis.xlen(keys.OUTBOX) == 1


async def test_batches_themes_and_items_racing_over_shared_items(redis_url, aredis):
    """Every item ends with exactly one holder, and the outbox agrees with the holders."""
    clients, workers = await intakes(redis_url, Clock())
    items = [f"P{i}" for i in range(12)]
    evs = []
    for n in range(300):
        kind = random.choice(["item", "batch", "theme"])
        if kind == "item":
            evs.append(make_ev(target_id=random.choice(items)))
        else:
            group = tuple(random.sample(items, random.randint(2, 4)))
            evs.append(make_ev(kind, f"{kind}{n % 7}", group))
    try:
        results = await asyncio.gather(
            *(workers[i % CLIENTS].accept(ev) for i, ev in enumerate(evs)))
    finally:
        await close(clients)
    accepted = {ev.id for ev, r in zip(evs, results, strict=True) if r.accepted}
    entries = await aredis.xrange(keys.OUTBOX)
    assert {f[b"id"].decode() for _, f in entries} == accepted
    covered = [item for _, f in entries for item in json.loads(f[b"covers"])]
    assert len(covered) == len(set(covered))  # no item reaches the store twice
    for item in items:
        holder = await aredis.get(keys.item(item))
        assert (item in covered) == (holder is not None)


async def test_follow_ups_race_one_wins(redis_url, aredis):
    clock = Clock()
    clients, workers = await intakes(redis_url, clock)
    try:
        await workers[0].accept(make_ev(target_id="P1"))
        results = await asyncio.gather(
            *(workers[i % CLIENTS].accept(make_ev(target_id="P1", assess=2))
              for i in range(200)))
    finally:
        await close(clients)
    assert sum(r.accepted for r in results) == 1
    assert {r.reason for r in results if not r.accepted} == {"follow_up_already_given"}
    assert await aredis.xlen(keys.OUTBOX) == 2


async def test_an_observer_never_sees_a_key_without_its_outbox_entry(redis_url, aredis):
    """Snapshots (MULTI) taken while accepting: each accept adds 3 keys and 1 entry."""
    clients, workers = await intakes(redis_url, Clock())
    await keys.ensure_outbox_group(aredis)  # the stream key exists from the start
    torn, snapshots = [], []
    done = asyncio.Event()

    async def observe():
        while not done.is_set():
            async with aredis.pipeline(transaction=True) as pipe:
                size, length = await pipe.dbsize().xlen(keys.OUTBOX).execute()
            snapshots.append(length)
            if size != 1 + 3 * length:  # stream + (item key, first record, status) each
                torn.append((size, length))
            await asyncio.sleep(0)

    observer = asyncio.create_task(observe())
    try:
        await asyncio.gather(*(workers[i % CLIENTS].accept(make_ev(target_id=f"P{i}"))
                               for i in range(1000)))
    finally:
        done.set()
        await observer
        await close(clients)
    assert await aredis.xlen(keys.OUTBOX) == 1000
    assert torn == []
    assert snapshots  # the observer did look
