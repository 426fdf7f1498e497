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
