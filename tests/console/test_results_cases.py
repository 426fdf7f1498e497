"""Results counters, the funnel and bad-rating cases against a real Redis."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from ratings import cases as case_mod
from ratings import results
from ratings.cases import CaseError, Cases
from ratings.grades import Grade
from ratings.model import Channel, Evaluation, Target, TargetKind

T0 = datetime(2026, 11, 27, 2, 0, tzinfo=timezone.utc)  # a Friday, 10:00 in China


def ev(grade=Grade.SATISFIED, item="P1", channel=Channel.HOTLINE, task="T-1", staff="S-9",
       assess=1, at=T0):
    bad = grade.is_bad
    return Evaluation(target=Target(TargetKind.ITEM, item), channel=channel, grade=grade,
                      assessed_at=at, reasons=("R01",) if bad else (),
                      comment="窗口态度差" if bad else "", phone="+8613812345678",
                      assess_number=assess,
                      context={"task_code": task, "agent": staff})


async def test_each_evaluation_counts_once_however_often_delivered(aredis):
    e = ev()
    assert await results.record_accepted(aredis, e, T0)
    assert not await results.record_accepted(aredis, e, T0)  # re-delivery
    await results.record_accepted(aredis, ev(Grade.VERY_SATISFIED, "P2", Channel.SMS), T0)
    await results.record_accepted(aredis, ev(Grade.SATISFIED, "P1", assess=2), T0)
    # the agent of that call rated apart (seed art. 10): counted for the agent only
    staff = Evaluation(target=Target(TargetKind.STAFF, "CALL-1", staff_id="S-9"),
                       channel=Channel.HOTLINE, grade=Grade.DISSATISFIED, assessed_at=T0,
                       reasons=("R02",), context={"task_code": "T-1"})
    await results.record_accepted(aredis, staff, T0)
    r = await results.load_results(aredis, T0.date(), T0.date())
    assert r.by_channel["hotline"] == {"satisfied": 1}
    assert r.by_channel["sms"] == {"very_satisfied": 1}
    assert r.by_task["T-1"] == {"satisfied": 1, "very_satisfied": 1}  # no staff rating
    # the agent is not charged with the service's ratings, nor the service with the agent's
    assert dict(r.by_staff) == {"S-9": {"dissatisfied": 1}}
    assert r.follow_ups == {"satisfied": 1}
    assert sum(r.total.values()) == 2 and r.satisfaction() == 1.0


async def test_no_phone_number_in_any_key(aredis):
    await results.record_accepted(aredis, ev(Grade.DISSATISFIED), T0)
    names = [k.decode() for k in await aredis.keys("*")]
    assert names and not any("13812345678" in k for k in names)
    for k in names:
        assert k.startswith("{hcp}:") and await aredis.ttl(k) > 0


async def test_a_bad_rating_opens_one_case_with_a_working_day_deadline(aredis):
    e = ev(Grade.VERY_DISSATISFIED)
    await results.record_accepted(aredis, e, T0)
    await results.record_accepted(aredis, e, T0)
    cases = Cases(aredis)
    listed = await cases.list()
    assert [c["id"] for c in listed] == [e.id]
    c = listed[0]
    assert c["status"] == case_mod.PENDING and c["phone_masked"] == "138****5678"
    assert c["reasons"] == ["R01"] and c["comment"] == "窗口态度差"
    # Friday 10:00 + 2 working days = Tuesday 10:00 (China)
    deadline = datetime.fromisoformat(c["deadline"])
    assert deadline.weekday() == 1 and deadline.hour == 10
    assert c["next"] == [case_mod.CALLED_BACK]  # excluded only after a callback (issue 10)


async def test_case_walks_its_statuses_and_keeps_history(aredis):
    e = ev(Grade.DISSATISFIED)
    await results.record_accepted(aredis, e, T0)
    cases = Cases(aredis)
    await cases.move(e.id, case_mod.PENDING, case_mod.CALLED_BACK, "zhang", "已电话联系",
                     verification=case_mod.TRUE)
    with pytest.raises(CaseError) as stale:
        await cases.move(e.id, case_mod.PENDING, case_mod.CALLED_BACK, "li")
    assert stale.value.code == "stale"
    with pytest.raises(CaseError) as bad:
        await cases.move(e.id, case_mod.CALLED_BACK, case_mod.RECTIFIED, "zhang")
    assert bad.value.code == "bad_transition"
    await cases.move(e.id, case_mod.CALLED_BACK, case_mod.RECTIFYING, "zhang")
    done = await cases.move(e.id, case_mod.RECTIFYING, case_mod.RECTIFIED, "zhang", "已培训")
    assert done["status"] == case_mod.RECTIFIED and done["next"] == []
    log = await cases.history(e.id)
    assert [h["to"] for h in log] == [case_mod.PENDING, case_mod.CALLED_BACK,
                                      case_mod.RECTIFYING, case_mod.RECTIFIED]
    assert log[1]["by"] == "zhang" and log[1]["note"] == "已电话联系"
    assert await aredis.zcard(results.CASES_OPEN) == 0


async def test_excluding_a_rating_moves_its_counts_and_records_why(aredis):
    e = ev(Grade.DISSATISFIED)
    await results.record_accepted(aredis, e, T0)
    cases = Cases(aredis)
    await cases.move(e.id, case_mod.PENDING, case_mod.CALLED_BACK, "wang", "回访：号码反复差评",
                     verification=case_mod.UNTRUE)
    with pytest.raises(CaseError) as no_note:
        await cases.move(e.id, case_mod.CALLED_BACK, case_mod.MALICIOUS, "wang")
    assert no_note.value.code == "note_required"
    await cases.move(e.id, case_mod.CALLED_BACK, case_mod.MALICIOUS, "wang", "同号码反复差评")
    rec = await cases.move(e.id, case_mod.EXCLUSION_REQUESTED, case_mod.MALICIOUS, "li",
                           "同意")  # a second supervisor approves
    assert rec["excluded_by"] == "li" and rec["excluded_why"] == "同号码反复差评"
    r = await results.load_results(aredis, T0.date(), T0.date())
    assert sum(r.total.values()) == 0 and r.excluded == {"dissatisfied": 1}
    assert not r.by_task.get("T-1") and not r.by_staff.get("S-9")


async def test_working_days_skip_the_weekend():
    saturday = datetime(2026, 11, 28, 4, 0, tzinfo=timezone.utc)
    assert case_mod.add_working_days(saturday, 2).date().isoformat() == "2026-12-01"
    assert case_mod.add_working_days(T0, 1).date().isoformat() == "2026-11-30"


def stat(kind, node, version="v1", flow="hotline-rating"):
    return {"stat": json.dumps({"kind": kind, "node": node, "flow_id": flow,
                                "flow_version": version, "at": T0.isoformat(),
                                "detail": {}})}


async def test_funnel_counts_each_stat_once_and_acks_it(aredis):
    agg = results.FunnelAggregator(aredis, "c1", claim_idle_ms=0)
    await agg.ensure_group()
    for kind, node in [("entered", "ask"), ("digit", "ask"), ("invalid", "ask"),
                       ("entered", "ask"), ("timeout", "ask"), ("completed", "thanks")]:
        await aredis.xadd(results.STATS, stat(kind, node))
    await aredis.xadd(results.STATS, stat("entered", "ask", "v2"))
    await aredis.xadd(results.STATS, {"stat": "not json"})
    assert await agg.drain() == 8
    # a second consumer claiming the same (already acknowledged) entries counts nothing
    other = results.FunnelAggregator(aredis, "c2", claim_idle_ms=0)
    assert await other.drain() == 0
    f = await results.load_funnel(aredis, "hotline-rating", "v1")
    assert f["ask"] == {"entered": 2, "digit": 1, "invalid": 1, "timeout": 1}
    assert f["thanks"]["completed"] == 1
    assert [v for v, _ in await results.flow_versions(aredis, "hotline-rating")] == ["v1", "v2"]
    assert (await aredis.xpending(results.STATS, results.FUNNEL_GROUP))["pending"] == 0


async def test_unacked_entries_of_a_dead_consumer_are_counted_by_another(aredis):
    dead = results.FunnelAggregator(aredis, "dead")
    await dead.ensure_group()
    await aredis.xadd(results.STATS, stat("entered", "ask"))
    await aredis.xreadgroup(results.FUNNEL_GROUP, "dead", {results.STATS: ">"}, count=10)
    alive = results.FunnelAggregator(aredis, "alive", claim_idle_ms=0)
    assert await alive.drain() == 1
    assert (await results.load_funnel(aredis, "hotline-rating", "v1"))["ask"]["entered"] == 1
    assert await dead.drain() == 0  # its pending entry was acknowledged by the other


def test_deadline_uses_settings():
    e = ev(Grade.DISSATISFIED)
    record, _ = case_mod.new_case(e, T0, case_mod.CaseSettings(working_days=5))
    assert datetime.fromisoformat(record["deadline"]) - T0 == timedelta(days=7)


async def test_a_failure_inside_the_hook_never_blocks_the_submitter(aredis, monkeypatch):
    def broken(*_a, **_k):
        raise ValueError("a bug in case building")

    monkeypatch.setattr(case_mod, "new_case", broken)
    assert await results.record_accepted(aredis, ev(Grade.DISSATISFIED), T0) is False
