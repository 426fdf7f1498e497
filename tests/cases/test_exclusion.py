"""Issue 10 point 5: 误评/恶意差评 excluded only after a callback verified the rating
不属实, requested by one supervisor and approved by a second; only the approval moves
the counts, and the same step queues one correction for the core store. Real Redis."""

from __future__ import annotations

import asyncio

import pytest

from ratings import cases as C
from ratings import corrections, results
from ratings.cases import CaseError, Cases
from ratings.grades import Grade
from tests.cases.conftest import T0, bad_ev, called_back, opened, totals


async def test_no_exclusion_before_the_callback(aredis):
    cases = Cases(aredis)
    cid = await opened(aredis)
    assert (await cases.get(cid))["next"] == [C.CALLED_BACK]
    with pytest.raises(CaseError) as straight:  # the console's old move
        await cases.move(cid, C.PENDING, C.MISTAKEN, "wang", "同号码反复差评")
    assert straight.value.code == "bad_transition"
    with pytest.raises(CaseError) as early:
        await cases.request_exclusion(cid, C.MISTAKEN, "按错键", "wang")
    assert early.value.code == "stale"  # not called back yet
    assert (await cases.get(cid))["status"] == C.PENDING
    assert (await totals(aredis)).excluded == {}


async def test_only_a_rating_verified_untrue_can_be_requested_and_a_finding_is_required(
        aredis):
    cases = Cases(aredis)
    cid = await opened(aredis)
    with pytest.raises(CaseError) as no_finding:
        await cases.callback(cid, "zhang", "  ", C.UNTRUE)
    assert no_finding.value.code == "note_required"
    rec = await called_back(cases, cid, C.TRUE)
    assert rec["verification_label"] == "属实" and rec["next"] == [C.RECTIFYING]
    with pytest.raises(CaseError) as founded:
        await cases.request_exclusion(cid, C.MALICIOUS, "恶意", "zhang")
    assert founded.value.code == "verification_required"
    rec = await cases.verify(cid, C.UNTRUE, "复核：市民承认误按", "zhang")
    assert rec["next"] == [C.UNFOUNDED, C.MISTAKEN, C.MALICIOUS]
    with pytest.raises(CaseError) as blank:
        await cases.request_exclusion(cid, C.MISTAKEN, "", "zhang")
    assert blank.value.code == "note_required"
    rec = await cases.request_exclusion(cid, C.MISTAKEN, "市民称按错键，实际满意", "zhang",
                                        via="console 10.0.0.7")
    assert rec["status"] == C.EXCLUSION_REQUESTED
    assert rec["next"] == [C.MISTAKEN, C.CALLED_BACK]
    assert (await totals(aredis)).excluded == {}  # a request moves nothing
    assert await aredis.xlen(corrections.CORRECTIONS) == 0


async def test_the_requester_can_neither_approve_nor_reject(aredis):
    cases = Cases(aredis)
    cid = await opened(aredis)
    await called_back(cases, cid)
    await cases.request_exclusion(cid, C.MALICIOUS, "同号码一日内差评 40 次", "zhang")
    for step in (cases.approve_exclusion(cid, C.MALICIOUS, "", "zhang"),
                 cases.reject_exclusion(cid, "不同意", "zhang"),
                 cases.move(cid, C.EXCLUSION_REQUESTED, C.MALICIOUS, "zhang")):
        with pytest.raises(CaseError) as same:
            await step
        assert same.value.code == "same_supervisor"
    rec = await cases.get(cid)
    assert rec["status"] == C.EXCLUSION_REQUESTED
    assert sum((await totals(aredis)).total.values()) == 1
    assert await aredis.xlen(corrections.CORRECTIONS) == 0


async def test_a_rejected_request_goes_back_and_counts_stay(aredis):
    cases = Cases(aredis)
    cid = await opened(aredis)
    await called_back(cases, cid)
    await cases.request_exclusion(cid, C.MISTAKEN, "按错键", "zhang")
    with pytest.raises(CaseError) as why:
        await cases.reject_exclusion(cid, " ", "li")
    assert why.value.code == "note_required"
    rec = await cases.move(cid, C.EXCLUSION_REQUESTED, C.CALLED_BACK, "li", "录音显示确有等待过久")
    assert rec["status"] == C.CALLED_BACK and rec["exclusion_rejected_by"] == "li"
    assert (await totals(aredis)).excluded == {}
    log = await cases.history(cid)
    assert [h.get("step") for h in log[1:]] == ["callback", "request_exclusion",
                                                 "reject_exclusion"]


async def test_approval_moves_the_counts_queues_one_correction_and_logs_who_what_where(
        aredis):
    cases = Cases(aredis)
    ev = bad_ev(grade=Grade.DISSATISFIED)
    cid = await opened(aredis, ev)
    await called_back(cases, cid)
    await cases.move(cid, C.CALLED_BACK, C.MISTAKEN, "zhang", "市民称按错键，实际满意",
                     via="console 10.0.0.7")  # the console's move = the request
    rec = await cases.move(cid, C.EXCLUSION_REQUESTED, C.MISTAKEN, "li", "同意",
                           via="console 10.0.0.8")  # … and, by another, the approval
    assert rec["status"] == C.MISTAKEN and rec["next"] == []
    assert rec["excluded_by"] == "li" and rec["excluded_why"] == "市民称按错键，实际满意"
    assert rec["exclusion_requested_by"] == "zhang" and rec["correction_status"] == "queued"
    r = await totals(aredis)
    assert sum(r.total.values()) == 0 and r.excluded == {"dissatisfied": 1}
    assert not r.by_task.get("T-1") and not r.by_staff.get("S-9")
    assert await aredis.zscore(results.CASES_OPEN, cid) is None
    [(_, fields)] = await aredis.xrange(corrections.CORRECTIONS)
    assert fields[b"case"].decode() == cid
    log = await cases.history(cid)
    request, approval = log[-2], log[-1]
    assert (request["by"], request["step"], request["via"], request["kind"]) == (
        "zhang", "request_exclusion", "console 10.0.0.7", C.MISTAKEN)
    assert (approval["by"], approval["step"], approval["via"], approval["requested_by"]) == (
        "li", "approve_exclusion", "console 10.0.0.8", "zhang")
    assert approval["from"] == C.EXCLUSION_REQUESTED and approval["to"] == C.MISTAKEN
    assert log[1]["verification"] == C.UNTRUE and log[1]["by"] == "zhang"
    with pytest.raises(CaseError) as again:
        await cases.approve_exclusion(cid, C.MISTAKEN, "", "wang")
    assert again.value.code == "stale"
    assert await aredis.xlen(corrections.CORRECTIONS) == 1
    raw = await aredis.hgetall(results.day(T0.astimezone(results.CHINA).date()))
    assert all(int(v) >= 0 for v in raw.values())


async def test_two_approvers_racing_exclude_once(aredis):
    cids = []
    for n in range(20):
        cid = await opened(aredis, bad_ev(f"GD-{n}"))
        await called_back(Cases(aredis), cid)
        await Cases(aredis).request_exclusion(cid, C.MALICIOUS, "恶意", "zhang")
        cids.append(cid)
    outcomes = await asyncio.gather(*(
        Cases(aredis).approve_exclusion(cid, None, "", who)
        for cid in cids for who in ("li", "wang")), return_exceptions=True)
    refused = [o for o in outcomes if isinstance(o, CaseError)]
    assert len(refused) == 20 and {o.code for o in refused} == {"stale"}
    assert await aredis.xlen(corrections.CORRECTIONS) == 20
    r = await totals(aredis)
    assert r.excluded == {"very_dissatisfied": 20} and sum(r.total.values()) == 0


async def test_the_approval_is_of_the_kind_requested_by_whoever_asked_last(aredis):
    cases = Cases(aredis)
    cid = await opened(aredis)
    await called_back(cases, cid)
    await cases.request_exclusion(cid, C.MISTAKEN, "按错键", "zhang")
    with pytest.raises(CaseError) as other_kind:
        await cases.approve_exclusion(cid, C.MALICIOUS, "", "li")
    assert other_kind.value.code == "bad_transition"
    await cases.reject_exclusion(cid, "录音不支持", "li")
    await cases.request_exclusion(cid, C.MALICIOUS, "同号码反复差评", "li")  # li asks now
    with pytest.raises(CaseError) as own:
        await cases.approve_exclusion(cid, None, "", "li")
    assert own.value.code == "same_supervisor"
    rec = await cases.approve_exclusion(cid, None, "", "zhang")
    assert rec["status"] == C.MALICIOUS and rec["exclusion_requested_by"] == "li"
