"""Issue 10 point 5 (c): an excluded mis-rating reaches the core store as a correction,
exactly once. Real intake, real submitter, real Redis, the loopback exchange over HTTP;
the local SQLite store for the same contract."""

from __future__ import annotations

import pytest

from adapters.store_local import LocalCoreStore
from ratings import cases as C
from ratings import corrections, keys, results
from ratings.cases import Cases
from ratings.corrections import CorrectionSender
from ratings.intake import Intake
from ratings.model import TargetKind
from ratings.store import CORRECTION, RejectedByStore, StoreOutcome, StoreRecord
from tests.cases.conftest import T0, bad_ev, called_back
from tests.submitter.conftest import Running, fast_submitter, outbox_empty, wait_for


async def excluded(aredis, ev, kind=C.MISTAKEN) -> Cases:
    cases = Cases(aredis)
    await called_back(cases, ev.id)
    await cases.request_exclusion(ev.id, kind, "回访核实：市民称按错键 13812345678", "zhang")
    await cases.approve_exclusion(ev.id, kind, "同意", "li")
    return cases


async def submitted(aredis, http_store, *evs):
    intake = Intake(aredis, phone_secret=b"s", clock=lambda: T0)
    for ev in evs:
        assert (await intake.accept(ev)).accepted
    async with Running(fast_submitter(aredis, http_store)):
        await wait_for(lambda: outbox_empty(aredis))
        for ev in evs:
            await wait_for(lambda e=ev: Cases(aredis).get(e.id))


async def test_an_excluded_rating_reaches_the_exchange_as_one_correction(
        aredis, store, http_store):
    ev = bad_ev("GD-100")
    await submitted(aredis, http_store, ev)
    [(original_key, original)] = store.records.items()
    cases = await excluded(aredis, ev)
    sender = CorrectionSender(aredis, http_store)
    assert await sender.drain() == {"sent": 1, "skipped": 0, "rejected": 0, "waiting": 0}
    [(key, sent)] = store.corrections.items()
    assert key == f"correction:{ev.id}:GD-100"
    assert (sent["projectNo"], sent["assessNumber"]) == (original["projectNo"],
                                                          original["assessNumber"])
    assert sent["correctionType"] == 1 and sent["correctionName"] == "误评"
    assert "13812345678" not in sent["reason"] and "按错键" in sent["reason"]
    rec = await cases.get(ev.id)
    assert rec["correction_status"].startswith("sent")
    assert (await cases.history(ev.id))[-1]["step"] == "correction"
    # nothing left: a second pass sends nothing, the store holds one correction
    assert (await sender.drain())["sent"] == 0
    assert await aredis.xlen(corrections.CORRECTIONS) == 0
    assert len(store.corrections) == 1 and store.duplicates[key] == 0


async def test_a_lost_answer_is_resent_and_counted_once(aredis, store, http_store):
    """The exchange stores the correction but its answer never comes (client timeout):
    the entry stays pending, the resend is answered 重复 with our key: DUPLICATE."""
    ev = bad_ev("GD-101")
    await submitted(aredis, http_store, ev)
    await excluded(aredis, ev, C.MALICIOUS)
    store.slow_next(1, 3.0, after_store=True)
    done = await CorrectionSender(aredis, http_store, retry_initial=0.01).drain()
    assert done["sent"] == 1
    [key] = store.corrections
    assert store.duplicates[key] == 1 and len(store.corrections) == 1
    assert store.corrections[key]["correctionType"] == 2


async def test_a_store_that_stays_down_leaves_the_correction_queued(aredis, store,
                                                                     http_store):
    ev = bad_ev("GD-102")
    await submitted(aredis, http_store, ev)
    await excluded(aredis, ev)
    store.fail_next(3)
    sender = CorrectionSender(aredis, http_store, retry_initial=0.01)
    assert (await sender.drain())["waiting"] == 1
    assert (await Cases(aredis).get(ev.id))["correction_error"].startswith("HTTP 503")
    assert await aredis.xlen(corrections.CORRECTIONS) == 1
    # another sender (the first one died) takes it over once it is idle
    other = CorrectionSender(aredis, http_store, consumer="other", claim_idle_ms=0)
    assert (await other.drain())["sent"] == 1
    assert len(store.corrections) == 1 and await aredis.xlen(corrections.CORRECTIONS) == 0


async def test_a_correction_waits_for_its_rating_and_skips_a_dead_one(aredis, store,
                                                                       http_store):
    intake = Intake(aredis, phone_secret=b"s", clock=lambda: T0)
    waiting, dead = bad_ev("GD-103"), bad_ev("GD-104")
    for ev in (waiting, dead):
        assert (await intake.accept(ev)).accepted
        assert await results.record_accepted(aredis, ev, T0)  # counted, not yet sent
        await excluded(aredis, ev)
    await aredis.hset(keys.evaluation(dead.id), "status", "dead")
    sender = CorrectionSender(aredis, http_store)
    assert await sender.drain() == {"sent": 0, "skipped": 1, "rejected": 0, "waiting": 1}
    assert (await Cases(aredis).get(dead.id))["correction_status"].startswith("skipped")
    async with Running(fast_submitter(aredis, http_store)):
        await wait_for(lambda: outbox_empty(aredis))
    assert (await sender.drain())["sent"] == 1
    assert [p["projectNo"] for p in store.corrections.values()] == ["GD-103"]


async def test_a_batch_rating_is_corrected_item_by_item(aredis, store, http_store):
    ev = bad_ev("B-1", kind=TargetKind.BATCH, items=("I-1", "I-2"))
    await submitted(aredis, http_store, ev)
    await excluded(aredis, ev)
    assert (await CorrectionSender(aredis, http_store).drain())["sent"] == 1
    assert sorted(p["projectNo"] for p in store.corrections.values()) == ["I-1", "I-2"]


async def test_the_exchange_refuses_a_correction_of_a_rating_it_does_not_hold(
        aredis, store, http_store):
    ev = bad_ev("GD-105")
    await submitted(aredis, http_store, ev)
    store.reset()  # the exchange lost it (or another system's slot): nothing to correct
    await excluded(aredis, ev)
    assert (await CorrectionSender(aredis, http_store).drain())["rejected"] == 1
    status = (await Cases(aredis).get(ev.id))["correction_status"]
    assert status.startswith("rejected") and "原评价不存在" in status


async def test_the_local_store_keeps_one_correction_per_rating(tmp_path):
    store = LocalCoreStore(tmp_path / "core.sqlite3")
    try:
        rating = StoreRecord("ev1:GD-1", {"projectNo": "GD-1", "assessNumber": 1,
                                          "satisfaction": 1, "evalDetail": "01"})
        fix = {"projectNo": "GD-1", "assessNumber": 1, "correctionType": 1, "reason": "按错键"}
        mine = StoreRecord("correction:ev1:GD-1", fix, CORRECTION)
        with pytest.raises(RejectedByStore, match="原评价不存在"):
            await store.submit(mine)
        assert await store.submit(rating) is StoreOutcome.STORED
        assert await store.submit(mine) is StoreOutcome.STORED
        assert await store.submit(mine) is StoreOutcome.DUPLICATE
        with pytest.raises(RejectedByStore, match="conflict"):
            await store.submit(StoreRecord("correction:other:GD-1", fix, CORRECTION))
        assert list(await store.corrections()) == ["correction:ev1:GD-1"]
        assert await store.count() == 1  # a correction is no rating
    finally:
        await store.close()


async def test_the_gateway_component_sends_what_an_approval_queued(aredis, store,
                                                                   http_store):
    from types import SimpleNamespace

    from ratings.corrections import SenderComponent

    ev = bad_ev("GD-106")
    await submitted(aredis, http_store, ev)
    failures = []
    part = SenderComponent(SimpleNamespace(redis=aredis, store=http_store,
                                           fail=failures.append), interval=0.05)
    await part.start()
    try:
        await excluded(aredis, ev)
        await wait_for(lambda: store.corrections, timeout=10)
    finally:
        await part.stop()
    assert part.task.done() and not failures
    assert [p["projectNo"] for p in store.corrections.values()] == ["GD-106"]


async def test_a_duplicate_answer_that_shows_no_correction_of_ours_is_a_conflict(
        aredis, store, http_store):
    """重复 with nothing to compare: never counted as sent (the honest duplicate rule)."""
    ev = bad_ev("GD-107")
    await submitted(aredis, http_store, ev)
    await excluded(aredis, ev)
    store.conflict_next(1)
    assert (await CorrectionSender(aredis, http_store).drain())["rejected"] == 1
    status = (await Cases(aredis).get(ev.id))["correction_status"]
    assert "conflict" in status and "重复" in status and not store.corrections
