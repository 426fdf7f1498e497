"""The submitter against real Redis and the real loopback HTTP store."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from ratings import keys
from ratings.grades import Grade
from ratings.model import TargetKind
from ratings.records import fan_out
from tests.submitter.conftest import (
    Running,
    enqueue,
    fast_submitter,
    make_ev,
    outbox_empty,
    status,
    wait_for,
)


async def test_drains_the_outbox_each_item_once(aredis, store, http_store):
    evs = [make_ev(f"P{i}") for i in range(40)]
    for ev in evs:
        await enqueue(aredis, ev)
    async with Running(fast_submitter(aredis, http_store)) as sub:
        await wait_for(lambda: outbox_empty(aredis))
    assert set(store.records) == {f"{ev.id}:P{i}" for i, ev in enumerate(evs)}
    assert store.stats()["duplicates"] == 0
    assert sub.counts["submitted"] == 40
    st = await status(aredis, evs[0].id)
    assert st["status"] == "submitted" and st["attempts"] == "1" and st["submitted_at"]
    ttl = await aredis.ttl(keys.evaluation(evs[0].id))
    assert 0 < ttl <= keys.RECORD_TTL_S


async def test_5xx_burst_is_retried_and_counted(aredis, store, http_store):
    store.fail_next(6, status=503)
    evs = [make_ev(f"P{i}") for i in range(3)]
    for ev in evs:
        await enqueue(aredis, ev)
    async with Running(fast_submitter(aredis, http_store)):
        await wait_for(lambda: outbox_empty(aredis))
    assert len(store.records) == 3 and store.faults_served["5xx"] == 6
    statuses = [await status(aredis, ev.id) for ev in evs]
    assert all(s["status"] == "submitted" for s in statuses)
    assert sum(int(s["attempts"]) for s in statuses) == 3 + 6
    assert any("503" in s["last_error"] for s in statuses)


async def test_answer_lost_after_store_retries_into_duplicate(aredis, store, http_store):
    """Timeout and connection reset after the store kept the record: 409 on retry = done."""
    evs = [make_ev("P1"), make_ev("P2")]
    async with Running(fast_submitter(aredis, http_store)):
        store.slow_next(1, seconds=4)  # longer than the client's 2 s timeout
        await enqueue(aredis, evs[0])
        await wait_for(lambda: outbox_empty(aredis))
        store.reset_next(1, after_store=True)
        await enqueue(aredis, evs[1])
        await wait_for(lambda: outbox_empty(aredis))
    assert len(store.records) == 2
    assert sum(store.duplicates.values()) == 2  # each answered 409 on its retry
    for ev in evs:
        st = await status(aredis, ev.id)
        assert st["status"] == "submitted" and st["attempts"] == "2"


async def test_reset_before_store_is_retried(aredis, store, http_store):
    store.reset_next(2)
    ev = make_ev("P1")
    await enqueue(aredis, ev)
    async with Running(fast_submitter(aredis, http_store)):
        await wait_for(lambda: outbox_empty(aredis))
    assert list(store.records) == [f"{ev.id}:P1"]
    st = await status(aredis, ev.id)
    assert st["attempts"] == "3" and st["last_error"].startswith("Client")


async def test_409_for_our_stored_record_counts_as_done(aredis, store, http_store):
    ev = make_ev("P1")
    [record] = fan_out(ev)
    store.plant(record.payload, record.idempotency_key)  # sent before a crash
    await enqueue(aredis, ev)
    async with Running(fast_submitter(aredis, http_store)) as sub:
        await wait_for(lambda: outbox_empty(aredis))
    assert (await status(aredis, ev.id))["status"] == "submitted"
    assert sub.counts["duplicates"] == 1 and list(store.records) == [record.idempotency_key]


async def test_409_with_nothing_of_ours_stored_is_a_dead_letter(aredis, store, http_store):
    """Before: any 409 counted as stored, so a refused record vanished without a trace."""
    store.conflict_next(1)
    ev = make_ev("P1")
    await enqueue(aredis, ev)
    async with Running(fast_submitter(aredis, http_store)) as sub:
        await wait_for(lambda: outbox_empty(aredis))
    st = await status(aredis, ev.id)
    assert st["status"] == "dead" and "重复" in st["last_error"]
    assert "cannot be ours" in st["last_error"]
    assert sub.counts["duplicates"] == 0 and sub.counts["dead"] == 1 and store.records == {}


async def test_foreign_record_in_our_slot_is_a_dead_letter_with_the_store_reason(
        aredis, store, http_store):
    ev = make_ev("P1", grade=Grade.VERY_SATISFIED)
    store.plant(dict(fan_out(ev)[0].payload, satisfaction=1, evalDetail="03"))
    await enqueue(aredis, ev)
    async with Running(fast_submitter(aredis, http_store)) as sub:
        await wait_for(lambda: outbox_empty(aredis))
    st = await status(aredis, ev.id)
    assert st["status"] == "dead" and st["submitted_at"] == ""
    dead = await aredis.xrange(keys.DEAD)
    fields = {k.decode(): v.decode() for k, v in dead[0][1].items()}
    assert fields["id"] == ev.id and fields["status"] == "409"
    assert "重复" in fields["reason"] and "holds a different record" in fields["reason"]
    assert sub.counts["dead"] == 1 and sub.counts["submitted"] == 0


async def test_4xx_dead_letters_with_the_store_reason(aredis, store, http_store):
    bad, good = make_ev("BAD"), make_ev("P2")
    store.reject_key(":BAD", reason="taskCode not registered", status=422)
    await enqueue(aredis, bad)
    await enqueue(aredis, good)
    async with Running(fast_submitter(aredis, http_store)) as sub:
        await wait_for(lambda: outbox_empty(aredis))
    st = await status(aredis, bad.id)
    assert st["status"] == "dead" and st["last_error"] == "taskCode not registered"
    dead = await aredis.xrange(keys.DEAD)
    assert len(dead) == 1
    fields = {k.decode(): v.decode() for k, v in dead[0][1].items()}
    assert fields["id"] == bad.id and fields["reason"] == "taskCode not registered"
    assert fields["status"] == "422"
    assert (await status(aredis, good.id))["status"] == "submitted"
    assert sub.counts["dead"] == 1 and list(store.records) == [f"{good.id}:P2"]


async def test_a_phone_number_in_the_store_reason_is_masked(aredis, store, http_store):
    # the reason is kept in Redis, logged and shown on the console (seed art. 4)
    bad = make_ev("BAD")
    store.reject_key(":BAD", reason="mobile 13800138000 not registered", status=422)
    await enqueue(aredis, bad)
    async with Running(fast_submitter(aredis, http_store)):
        await wait_for(lambda: outbox_empty(aredis))
    assert (await status(aredis, bad.id))["last_error"] == "mobile <phone> not registered"
    (_, fields), = await aredis.xrange(keys.DEAD)
    assert fields[b"reason"] == b"mobile <phone> not registered"


async def test_bad_signature_is_dead_lettered(aredis, store):
    from adapters.store_http import HttpCoreStore

    wrong = HttpCoreStore(store.url, b"not the secret", timeout=2.0)
    ev = make_ev("P1")
    await enqueue(aredis, ev)
    try:
        async with Running(fast_submitter(aredis, wrong)):
            await wait_for(lambda: outbox_empty(aredis))
    finally:
        await wrong.close()
    st = await status(aredis, ev.id)
    assert st["status"] == "dead" and st["last_error"] == "bad signature"


async def test_poison_entry_is_dead_lettered_and_loop_goes_on(aredis, store, http_store):
    await keys.ensure_outbox_group(aredis)
    await aredis.xadd(keys.OUTBOX, {"id": "junk", "ev": "{not json"})
    ev = make_ev("P1")
    await enqueue(aredis, ev)
    async with Running(fast_submitter(aredis, http_store)):
        await wait_for(lambda: outbox_empty(aredis))
    assert (await status(aredis, "junk"))["status"] == "dead"
    assert (await status(aredis, ev.id))["status"] == "submitted"


async def test_max_attempts_gives_up_into_dead_letter(aredis, store, http_store):
    store.fail_rate(1.0)
    ev = make_ev("P1")
    await enqueue(aredis, ev)
    async with Running(fast_submitter(aredis, http_store, max_attempts=3)):
        await wait_for(lambda: outbox_empty(aredis))
    st = await status(aredis, ev.id)
    assert st["status"] == "dead" and st["attempts"] == "3"
    assert st["last_error"].startswith("gave up after 3 attempts")


async def test_batch_fans_out_and_partial_retry_never_duplicates(aredis, store, http_store):
    ev = make_ev("B1", kind=TargetKind.BATCH, items=("I1", "I2", "I3", "I4"),
                 grade=Grade.VERY_SATISFIED)
    store.fail_next(2)  # two of the four concurrent requests fail
    await enqueue(aredis, ev)
    async with Running(fast_submitter(aredis, http_store)):
        await wait_for(lambda: outbox_empty(aredis))
    assert sorted(store.records) == [f"{ev.id}:I{i}" for i in range(1, 5)]
    assert store.stats()["duplicates"] == 0  # only the failed two were sent again
    assert store.requests == 6
    assert {r["projectNo"] for r in store.records.values()} == {"I1", "I2", "I3", "I4"}
    assert all(r["satisfaction"] == 5 for r in store.records.values())


async def test_theme_fans_out_over_its_covers_only(aredis, store, http_store):
    ev = make_ev("T1", kind=TargetKind.THEME, items=("I1", "I2", "I3"))
    await enqueue(aredis, ev, covers=["I1", "I3"])  # I2 was rated on its own
    async with Running(fast_submitter(aredis, http_store)):
        await wait_for(lambda: outbox_empty(aredis))
    assert sorted(store.records) == [f"{ev.id}:I1", f"{ev.id}:I3"]


async def test_fan_out_half_done_by_a_dead_worker_completes(aredis, store, http_store):
    ev = make_ev("B1", kind=TargetKind.BATCH, items=("I1", "I2", "I3"))
    await enqueue(aredis, ev)
    # a previous worker stored I1 and died before acknowledging
    first = fan_out(ev)[0]
    store.plant(first.payload, first.idempotency_key)
    async with Running(fast_submitter(aredis, http_store)) as sub:
        await wait_for(lambda: outbox_empty(aredis))
    assert len(store.records) == 3 and store.duplicates[f"{ev.id}:I1"] == 1
    assert sub.counts["stored"] == 2 and sub.counts["duplicates"] == 1


async def test_entries_of_a_dead_consumer_are_autoclaimed(aredis, store, http_store):
    evs = [make_ev(f"P{i}") for i in range(10)]
    for ev in evs:
        await enqueue(aredis, ev)
    # consumer "crashed" read them all and never acknowledged
    await aredis.xreadgroup(keys.OUTBOX_GROUP, "crashed", {keys.OUTBOX: ">"}, count=100)
    sub = fast_submitter(aredis, http_store, consumer="rescuer",
                         claim_idle=timedelta(milliseconds=300))
    async with Running(sub):
        await wait_for(lambda: outbox_empty(aredis))
    assert sub.counts["claimed"] == 10 and len(store.records) == 10
    assert store.stats()["duplicates"] == 0


async def test_a_busy_worker_keeps_its_entries(aredis, store):
    """Slow store: the owner re-claims its in-flight entries, so nobody steals them."""
    from adapters.store_http import HttpCoreStore
    from tests.support.corestore import DEFAULT_SECRET

    patient = HttpCoreStore(store.url, DEFAULT_SECRET, timeout=15.0)
    # answers take longer than claim_idle; heartbeats every claim_idle / 3 keep them
    store.slow_next(4, seconds=4.0, after_store=False)
    evs = [make_ev(f"P{i}") for i in range(4)]
    for ev in evs:
        await enqueue(aredis, ev)
    idle = timedelta(seconds=2.5)
    busy = fast_submitter(aredis, patient, consumer="busy", claim_idle=idle)
    try:
        async with Running(busy):
            await wait_for(lambda: busy.in_flight == 4)
            thief = fast_submitter(aredis, patient, consumer="thief", claim_idle=idle)
            async with Running(thief):
                await wait_for(lambda: outbox_empty(aredis))
    finally:
        await patient.close()
    assert thief.counts["claimed"] == 0 and busy.counts["submitted"] == 4
    assert store.requests == 4


async def test_two_submitters_share_one_redis(aredis, store, http_store):
    store.slow_next(40, seconds=0.05, after_store=False)  # spread the work
    evs = [make_ev(f"P{i}") for i in range(200)]
    for ev in evs:
        await enqueue(aredis, ev)
    a = fast_submitter(aredis, http_store, consumer="a", concurrency=8)
    b = fast_submitter(aredis, http_store, consumer="b", concurrency=8)
    async with Running(a), Running(b):
        await wait_for(lambda: outbox_empty(aredis))
    assert len(store.records) == 200 and store.stats()["duplicates"] == 0
    assert a.counts["submitted"] + b.counts["submitted"] == 200
    assert a.counts["submitted"] > 0 and b.counts["submitted"] > 0


async def test_graceful_stop_drains_in_flight(aredis, store, http_store):
    store.slow_next(6, seconds=0.8, after_store=False)
    evs = [make_ev(f"P{i}") for i in range(6)]
    for ev in evs:
        await enqueue(aredis, ev)
    sub = fast_submitter(aredis, http_store)
    async with Running(sub):
        await wait_for(lambda: sub.in_flight == 6)
        await sub.stop(timeout=10)
        assert sub.in_flight == 0
    assert len(store.records) == 6
    assert await outbox_empty(aredis)


async def test_stop_while_store_is_down_leaves_entries_pending(aredis, store, http_store):
    store.fail_rate(1.0)
    evs = [make_ev(f"P{i}") for i in range(5)]
    for ev in evs:
        await enqueue(aredis, ev)
    first = fast_submitter(aredis, http_store, consumer="same-name")
    async with Running(first):
        await wait_for(lambda: store.requests >= 10)
    pending = await aredis.xpending(keys.OUTBOX, keys.OUTBOX_GROUP)
    assert pending["pending"] == 5 and store.records == {}
    store.clear_faults()
    again = fast_submitter(aredis, http_store, consumer="same-name")
    async with Running(again):  # same consumer name: takes its own pending entries
        await wait_for(lambda: outbox_empty(aredis))
    assert len(store.records) == 5


async def test_lost_consumer_group_is_recreated(aredis, store, http_store):
    """As after a Redis kill -9 that lost the group's creation: NOGROUP → re-create from 0."""
    first = make_ev("P1")
    await enqueue(aredis, first)
    async with Running(fast_submitter(aredis, http_store)) as sub:
        await wait_for(lambda: outbox_empty(aredis))
        await aredis.xgroup_destroy(keys.OUTBOX, keys.OUTBOX_GROUP)
        later = make_ev("P2")
        await aredis.xadd(keys.OUTBOX, {"id": later.id, "ev": later.to_json(),
                                        "covers": '["P2"]'})
        await wait_for(lambda: f"{later.id}:P2" in store.records)
    assert sub.counts["submitted"] == 2


async def test_stop_before_run_returns(aredis, http_store):
    sub = fast_submitter(aredis, http_store)
    await sub.stop(timeout=1)
    assert sub.in_flight == 0


async def test_works_over_resp3(redis_url, store, http_store):
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(redis_url, protocol=3)
    try:
        evs = [make_ev(f"P{i}") for i in range(5)]
        for ev in evs:
            await enqueue(client, ev)
        await client.xreadgroup(keys.OUTBOX_GROUP, "crashed", {keys.OUTBOX: ">"}, count=2)
        sub = fast_submitter(client, http_store, claim_idle=timedelta(milliseconds=200))
        async with Running(sub):
            await wait_for(lambda: outbox_empty(client))
        assert len(store.records) == 5 and sub.counts["claimed"] == 2
    finally:
        await client.aclose()


async def test_entry_deleted_while_pending_is_acked(aredis, store, http_store):
    gone, kept = make_ev("GONE"), make_ev("P2")
    gone_id = await enqueue(aredis, gone)
    await enqueue(aredis, kept)
    await aredis.xreadgroup(keys.OUTBOX_GROUP, "same", {keys.OUTBOX: ">"}, count=10)
    await aredis.xdel(keys.OUTBOX, gone_id)  # e.g. removed by hand while pending
    async with Running(fast_submitter(aredis, http_store, consumer="same")):
        await wait_for(lambda: outbox_empty(aredis))
    assert list(store.records) == [f"{kept.id}:P2"]


async def test_a_failing_results_hook_never_blocks_submission(aredis, store, http_store):
    seen = []

    async def broken_hook(redis, ev):
        seen.append(ev.id)
        raise ValueError("console bug")

    ev = make_ev("P1")
    await enqueue(aredis, ev)
    sub = fast_submitter(aredis, http_store, results_hook=broken_hook)
    async with Running(sub):
        await wait_for(lambda: outbox_empty(aredis))
    assert seen == [ev.id] and sub.counts["results_errors"] == 1
    assert (await status(aredis, ev.id))["status"] == "submitted"


async def test_stop_that_came_first_ends_run_at_once(aredis, http_store):
    sub = fast_submitter(aredis, http_store)
    await sub.stop(timeout=1)
    await asyncio.wait_for(sub.run(), 10)  # returns instead of draining forever
