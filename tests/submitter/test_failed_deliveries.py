"""Issue 14.1: an entry whose delivery fails (the store client raises) is not retried
for ever. Every failed delivery counts an attempt and records its error; after
``max_failed_deliveries`` of them the entry goes to the dead letters; the other
entries keep flowing meanwhile. Real Redis, the real submitter, the loopback store
over HTTP behind a client that raises for one item."""

from __future__ import annotations

from datetime import timedelta

from ratings import keys
from tests.submitter.conftest import (
    Running,
    enqueue,
    fast_submitter,
    make_ev,
    outbox_empty,
    status,
    wait_for,
)


class RaisingFor:
    """The store client, except that it raises (not a store answer) for one item."""

    def __init__(self, inner, poison_item: str):
        self.inner = inner
        self.poison_item = poison_item
        self.record_options = getattr(inner, "record_options", None)
        self.raised = 0

    async def submit(self, record):
        if record.idempotency_key.endswith(f":{self.poison_item}"):
            self.raised += 1
            raise ValueError("Newline or carriage return character detected in header")
        return await self.inner.submit(record)


async def test_an_entry_the_store_client_raises_for_is_dead_lettered_after_n_deliveries(
        aredis, store, http_store):
    raising = RaisingFor(http_store, "POISON")
    poison = make_ev("POISON")
    before = [make_ev(f"A{i}") for i in range(5)]
    after = [make_ev(f"B{i}") for i in range(5)]
    for ev in before:
        await enqueue(aredis, ev)
    await enqueue(aredis, poison)
    for ev in after:
        await enqueue(aredis, ev)
    sub = fast_submitter(aredis, raising, claim_idle=timedelta(milliseconds=600),
                         max_failed_deliveries=3)
    async with Running(sub):
        async def all_good_submitted():
            return all([(await status(aredis, ev.id))["status"] == "submitted"
                        for ev in before + after])
        await wait_for(all_good_submitted)
        # the others went through while the poison entry still waits for its next try
        first = await status(aredis, poison.id)
        assert first["status"] == "accepted"
        assert int(first["attempts"]) >= 1 and "carriage return" in first["last_error"]
        await wait_for(lambda: outbox_empty(aredis))
    st = await status(aredis, poison.id)
    assert st["status"] == "dead"
    assert st["attempts"] == "3"
    assert "3 failed deliveries" in st["last_error"]
    assert "carriage return" in st["last_error"]
    assert raising.raised == 3
    dead = await aredis.xrange(keys.DEAD)
    assert [f[b"id"].decode() for _i, f in dead] == [poison.id]
    assert len(store.records) == 10 and store.stats()["duplicates"] == 0
    assert sub.counts["dead"] == 1 and sub.counts["failed_deliveries"] == 3


async def test_an_entry_with_a_control_character_in_its_id_is_dead_lettered_at_once(
        aredis, store, http_store):
    """Accepted before ids were checked (or written by an older gateway): the entry
    cannot become an Evaluation any more; it goes to the dead letters with the field
    named, instead of failing at the store for ever. The others are submitted."""
    ev = make_ev("P-CRLF")
    poisoned = ev.to_json().replace('"P-CRLF"', '"P\\r\\n1"')
    await keys.ensure_outbox_group(aredis)
    await aredis.hset(keys.evaluation(ev.id), mapping={"id": ev.id, "status": "accepted",
                                                      "attempts": 0, "last_error": ""})
    await aredis.xadd(keys.OUTBOX, {"id": ev.id, "ev": poisoned, "covers": '["P\\r\\n1"]'})
    good = make_ev("P-GOOD")
    await enqueue(aredis, good)
    async with Running(fast_submitter(aredis, http_store)):
        await wait_for(lambda: outbox_empty(aredis))
    st = await status(aredis, ev.id)
    assert st["status"] == "dead" and "target.id" in st["last_error"]
    assert (await status(aredis, good.id))["status"] == "submitted"
    assert len(store.records) == 1
