"""Issue 10 point 6: rectification within a deadline (art. 15 限期整改) in working days,
the verification result recorded with the callback, the outcome fed back, overdue
rectifications counted. Real Redis."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from ratings import cases as C
from ratings import results
from ratings.cases import CaseError, Cases
from ratings.grades import Grade
from ratings.workdays import WorkCalendar
from tests.cases.conftest import T0, bad_ev, called_back, opened, totals


@pytest.fixture
def calendar():
    """A calendar with 2026-12-01 (a Tuesday) off, as an override file would say."""
    before = C.SETTINGS
    C.configure(C.CaseSettings(2, WorkCalendar({date(2026, 12, 1): False}), 5))
    yield
    C.configure(before)


async def test_only_a_founded_rating_is_rectified(aredis):
    cases = Cases(aredis)
    cid = await opened(aredis)
    rec = await cases.move(cid, C.PENDING, C.CALLED_BACK, "zhang", "已电话联系")  # no result yet
    assert "verification" not in rec and rec["verification_label"] == ""
    assert rec["next"] == []  # the verification result first
    with pytest.raises(CaseError) as unknown:
        await cases.move(cid, C.CALLED_BACK, C.RECTIFYING, "zhang")
    assert unknown.value.code == "verification_required"
    await cases.verify(cid, C.UNTRUE, "市民称按错键", "zhang")
    with pytest.raises(CaseError) as untrue:
        await cases.rectify(cid, "zhang")
    assert untrue.value.code == "verification_required"
    with pytest.raises(CaseError) as bad:
        await cases.verify(cid, "maybe", "?", "zhang")
    assert bad.value.code == "bad_verification"
    rec = await cases.move(cid, C.CALLED_BACK, C.CALLED_BACK, "zhang", "复核：确有等待过久",
                           verification=C.PARTLY)
    assert rec["verification_label"] == "部分属实" and rec["next"] == [C.RECTIFYING]


async def test_the_rectification_deadline_is_counted_in_working_days(aredis, calendar):
    cases = Cases(aredis)
    cid = await opened(aredis)
    await called_back(cases, cid, C.TRUE)
    rec = await cases.rectify(cid, "zhang", "窗口人员培训", working_days=3, now=T0)
    # Friday 10:00 + 3 working days, Tuesday 1 Dec off: Mon 30, Wed 2, Thu 3 Dec
    deadline = datetime.fromisoformat(rec["rectify_deadline"])
    assert deadline.astimezone(results.CHINA).date() == date(2026, 12, 3)
    assert rec["rectify_days"] == "3" and rec["status"] == C.RECTIFYING
    # the open queue is ordered by the rectification deadline now
    assert await aredis.zscore(results.CASES_OPEN, cid) == int(deadline.timestamp())
    other = await opened(aredis, bad_ev("GD-2"))
    await called_back(cases, other, C.PARTLY)
    rec = await cases.move(other, C.CALLED_BACK, C.RECTIFYING, "li", now=T0)  # the default, 5
    assert datetime.fromisoformat(rec["rectify_deadline"]).astimezone(
        results.CHINA).date() == date(2026, 12, 7)
    with pytest.raises(CaseError) as nonsense:
        await cases.rectify(await opened(aredis, bad_ev("GD-3")), "li", working_days=0)
    assert nonsense.value.code == "bad_deadline"


async def test_overdue_rectifications_are_visible_and_counted(aredis):
    cases = Cases(aredis)
    late, on_time, waiting = [await opened(aredis, bad_ev(f"GD-{n}")) for n in range(3)]
    now = datetime.now(timezone.utc)
    for cid in (late, on_time):
        await called_back(cases, cid, C.TRUE)
    await cases.rectify(late, "zhang", working_days=2, now=now - timedelta(days=30))
    await cases.rectify(on_time, "zhang", working_days=20, now=now)
    rec = await cases.get(late)
    assert rec["overdue"] and rec["overdue_kind"] == "rectification"
    assert not (await cases.get(on_time))["overdue"]
    # ``waiting`` was opened on 27 Nov with a 2-working-day callback deadline: overdue
    assert (await cases.get(waiting))["overdue_kind"] == "callback"
    counts = await cases.counts()
    assert counts["overdue_rectification"] == 1 and counts["overdue_callback"] == 1
    assert counts["overdue"] == 2 and counts[C.RECTIFYING] == 2 and counts[C.PENDING] == 1
    done = await cases.rectified(late, "已培训并调整排班", "zhang")
    assert done["rectified_late"] == "1" and done["status"] == C.RECTIFIED
    assert (await cases.counts())["overdue_rectification"] == 0


async def test_rectified_records_the_outcome_and_the_feedback_to_the_citizen(aredis):
    cases = Cases(aredis)
    cid = await opened(aredis)
    await called_back(cases, cid, C.TRUE)
    await cases.rectify(cid, "zhang", "整改：延长午间窗口", working_days=5)
    rec = await cases.move(cid, C.RECTIFYING, C.RECTIFIED, "zhang", "已延长午间窗口",
                           via="console 10.0.0.7")
    assert rec["rectify_result"] == "已延长午间窗口" and rec["rectified_late"] == "0"
    assert await aredis.zscore(results.CASES_OPEN, cid) is None
    text = C.feedback_text(rec, rec["rectify_result"])
    assert "已整改完毕：已延长午间窗口" in text
    await cases.mark_feedback(cid, "sent 已发送 (file, 1 条)")
    rec = await cases.get(cid)
    assert rec["feedback"].startswith("sent")
    steps = [(h.get("step"), h.get("verification")) for h in await cases.history(cid)]
    assert steps == [(None, None), ("callback", C.TRUE), ("rectify", None),
                     ("rectified", None)]
    assert sum((await totals(aredis)).total.values()) == 1  # rectified: still counted


async def test_a_rating_verified_untrue_but_not_a_misrating_is_closed_with_reasons(aredis):
    cases = Cases(aredis)
    cid = await opened(aredis)
    await called_back(cases, cid, C.UNTRUE)
    with pytest.raises(CaseError) as why:
        await cases.move(cid, C.CALLED_BACK, C.UNFOUNDED, "zhang")
    assert why.value.code == "note_required"
    rec = await cases.move(cid, C.CALLED_BACK, C.UNFOUNDED, "zhang", "办理合规，市民理解")
    assert rec["status"] == C.UNFOUNDED and rec["next"] == []
    assert (await totals(aredis)).excluded == {}  # not excluded: a genuine rating


async def test_excluding_a_follow_up_moves_only_its_follow_up_count(aredis):
    cases = Cases(aredis)
    first = bad_ev("GD-9", Grade.SATISFIED, reasons=(), comment="")
    follow = bad_ev("GD-9", Grade.DISSATISFIED, assess_number=2)
    assert await results.record_accepted(aredis, first, T0)
    await opened(aredis, follow)
    before = await totals(aredis)
    await called_back(cases, follow.id)
    await cases.request_exclusion(follow.id, C.MISTAKEN, "回访核实：误按", "zhang")
    await cases.approve_exclusion(follow.id, None, "", "li")
    after = await totals(aredis)
    assert after.by_channel == before.by_channel and after.follow_ups.get("dissatisfied", 0) == 0
    assert after.excluded == {"dissatisfied": 1}
