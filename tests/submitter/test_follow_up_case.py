"""Issue 10 point 4: a bad follow-up (追加评价, assessNumber 2) opens a callback case
(seed art. 15), like a bad first evaluation. Real intake, real submitter, real Redis,
the loopback exchange over HTTP."""

from __future__ import annotations

from datetime import timedelta

from ratings import cases as case_mod
from ratings import results
from ratings.cases import Cases
from ratings.grades import Grade
from ratings.intake import Intake
from tests.submitter.conftest import (ASSESSED, Running, fast_submitter, make_ev,
                                      outbox_empty, wait_for)


async def test_a_bad_follow_up_opens_a_case_and_reaches_the_store(aredis, store, http_store):
    intake = Intake(aredis, phone_secret=b"s", clock=lambda: ASSESSED)
    first = make_ev("GD-1", grade=Grade.SATISFIED, phone="+8613812345678")
    later = ASSESSED + timedelta(days=3)
    follow = make_ev("GD-1", grade=Grade.VERY_DISSATISFIED, reasons=("unresolved",),
                     assess_number=2, assessed_at=later, phone="+8613812345678")
    assert (await intake.accept(first)).accepted
    assert (await intake.accept(follow)).accepted
    async with Running(fast_submitter(aredis, http_store)):
        await wait_for(lambda: outbox_empty(aredis))
        await wait_for(lambda: Cases(aredis).get(follow.id))
    case = await Cases(aredis).get(follow.id)
    assert case["status"] == case_mod.PENDING and case["grade"] == "very_dissatisfied"
    assert case["assess_number"] == "2" and case["target"] == "GD-1"
    assert [c["id"] for c in await Cases(aredis).list("open")] == [follow.id]
    # both records at the exchange, the follow-up in its own slot
    numbers = sorted(r["assessNumber"] for r in store.records.values())
    assert numbers == [1, 2]


async def test_excluding_a_follow_up_case_moves_only_the_follow_up_count(aredis):
    first = make_ev("GD-2", grade=Grade.SATISFIED)
    follow = make_ev("GD-2", grade=Grade.DISSATISFIED, assess_number=2)
    assert await results.record_accepted(aredis, first, ASSESSED)
    assert await results.record_accepted(aredis, follow, ASSESSED)
    before = await results.load_results(aredis, ASSESSED.date(), ASSESSED.date())
    assert before.follow_ups == {"dissatisfied": 1}
    cases = Cases(aredis)
    await cases.move(follow.id, case_mod.PENDING, case_mod.CALLED_BACK, "li", "回访核实：误按",
                     verification=case_mod.UNTRUE)
    await cases.move(follow.id, case_mod.CALLED_BACK, case_mod.MISTAKEN, "li", "回访核实：误按")
    await cases.move(follow.id, case_mod.EXCLUSION_REQUESTED, case_mod.MISTAKEN, "zhang")
    after = await results.load_results(aredis, ASSESSED.date(), ASSESSED.date())
    assert after.by_channel == before.by_channel  # the first evaluation's count untouched
    assert after.follow_ups.get("dissatisfied", 0) == 0
    assert after.excluded == {"dissatisfied": 1}
    raw = await aredis.hgetall(results.day(ASSESSED.astimezone(results.CHINA).date()))
    assert all(int(v) >= 0 for v in raw.values())  # no counter driven below zero
