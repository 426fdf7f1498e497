"""Record identity at the exchange: every rating the seed allows is its own record.

The loopback store keeps one record per (projectNo, assessNumber), as the exchange
does, and answers a repeat with its Chinese 重复 wording. The item, the staff member
and the hotline call rated in one call must all arrive as distinct records, and a
"duplicate" answer is done only when the record stored there is ours.
"""

from __future__ import annotations

from ratings.grades import Grade
from ratings.intake import Intake
from ratings.model import Channel, TargetKind
from tests.submitter.conftest import (
    Running,
    fast_submitter,
    make_ev,
    outbox_empty,
    status,
    wait_for,
)


async def test_item_and_staff_of_one_call_are_two_records(aredis, store, http_store):
    """Regression: both went out as (ticket, 1); the staff record was refused as 重复
    and the HTTP store took that for "already stored": a bad staff grade lost."""
    intake = Intake(aredis, phone_secret=b"s")
    item = make_ev("GD-T1", grade=Grade.SATISFIED)
    staff = make_ev("GD-T1", kind=TargetKind.STAFF, staff_id="A7",
                    grade=Grade.VERY_DISSATISFIED, reasons=("attitude",))
    for ev in (item, staff):
        assert (await intake.accept(ev)).accepted
    async with Running(fast_submitter(aredis, http_store)) as sub:
        await wait_for(lambda: outbox_empty(aredis))
    assert store.stats()["refused_repeats"] == 0
    assert len(store.records) == 2, store.records
    projects = {(r["projectNo"], r["assessNumber"]) for r in store.records.values()}
    assert len(projects) == 2
    staff_record = store.records[f"{staff.id}:GD-T1"]
    assert staff_record["proManager"] == "A7" and staff_record["satisfaction"] == 1
    assert sub.counts["duplicates"] == 0 and sub.counts["stored"] == 2
    assert (await status(aredis, staff.id))["status"] == "submitted"


async def test_call_item_and_staff_are_three_records(aredis, store, http_store):
    intake = Intake(aredis, phone_secret=b"s")
    call = make_ev("HL-CALL-1", kind=TargetKind.CALL, grade=Grade.SATISFIED,
                   context={"ticket": "GD-T2"})
    item = make_ev("GD-T2", channel=Channel.SMS)
    staff = make_ev("HL-CALL-1", kind=TargetKind.STAFF, staff_id="A7")
    for ev in (call, item, staff):
        assert (await intake.accept(ev)).accepted
    async with Running(fast_submitter(aredis, http_store)):
        await wait_for(lambda: outbox_empty(aredis))
    assert len(store.records) == 3
    assert len({(r["projectNo"], r["assessNumber"]) for r in store.records.values()}) == 3
    assert store.stats()["refused_repeats"] == 0
