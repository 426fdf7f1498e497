"""Outcomes against the real intake and Redis: evaluation fields, duplicates, the
reason-menu hang-up rescue, unrated records and the SMS invitation hook."""

from __future__ import annotations

import json
from types import SimpleNamespace

from flows.effects import SubmitEvaluation
from ivr.call import CallFacts
from ivr.outcome import (
    REASON_HANGUP_COMMENT,
    Outcomes,
    build_evaluation,
    call_id_of,
    is_mobile,
)
from ratings.intake import Intake
from ratings.model import TargetKind


def submit(grade="satisfied", target="item", reasons=()):
    return SubmitEvaluation(target, grade, reasons, "", 1, None, "hotline-rating", "v1")


def session_at(node_id, node_type, store=None, **vars):
    node = {"id": node_id, "type": node_type, **({"store": store} if store else {})}
    return SimpleNamespace(vars=vars, status="interrupted", flow_id="hotline-rating",
                           flow_version="v1", node=node_id,
                           flow=SimpleNamespace(nodes={node_id: node}))


def outcomes(aredis, hook=None):
    return Outcomes(Intake(aredis, b"secret"), aredis, hook)


def test_evaluation_fields_and_a_stable_id():
    facts = CallFacts("call-1@pbx", {"ticket": "GD-1", "agent": "A1"}, "+8613800138000")
    ev = build_evaluation(submit(), facts)
    assert (ev.channel.value, ev.source_id) == ("hotline", "call-1@pbx")
    assert (ev.flow_id, ev.flow_version, ev.phone) == ("hotline-rating", "v1", "+8613800138000")
    assert ev.context["context_missing"] == "false" and ev.context["ticket"] == "GD-1"
    assert ev.id == build_evaluation(submit(), facts).id  # a retry is a replay
    staff = build_evaluation(submit(target="staff"), facts)
    assert (staff.target.kind.value, staff.target.staff_id) == ("staff", "A1")
    assert staff.target.id == ev.target.id  # the visit is this call
    assert staff.id != ev.id


def test_a_call_rates_the_call_not_the_tickets_item():
    """一次一评: the item keeps its one evaluation (and reminder) for after completion."""
    facts = CallFacts("call-1@pbx", {"ticket": "GD-1"})
    ev = build_evaluation(submit(), facts)
    assert ev.target.kind is TargetKind.CALL
    # no own id in the context: one derived from the Call-ID, not the Call-ID itself
    assert ev.target.id == call_id_of({}, "call-1@pbx")
    assert ev.target.id.startswith("HL") and "pbx" not in ev.target.id
    assert "hotline-call" not in ev.target.id
    own = build_evaluation(submit(), CallFacts("c", {"ticket": "GD-1", "call_record": "CR-9"}))
    assert (own.target.kind, own.target.id) == (TargetKind.CALL, "CR-9")
    order = build_evaluation(submit(), CallFacts("c", {"work_order": "WO-3"}))
    assert (order.target.kind, order.target.id) == (TargetKind.CALL, "WO-3")
    closing = build_evaluation(submit(), CallFacts("c", {"ticket": "GD-1", "closes_item": "true"}))
    assert (closing.target.kind, closing.target.id) == (TargetKind.ITEM, "GD-1")
    no_ticket = build_evaluation(submit(), CallFacts("c", {"closes_item": "true"}))
    assert no_ticket.target.kind is TargetKind.CALL
    assert no_ticket.context["context_missing"] == "true"


async def test_duplicate_and_staff_without_agent(aredis):
    out = outcomes(aredis)
    first = CallFacts("c-1", {"ticket": "GD-2", "closes_item": "true"})
    second = CallFacts("c-2", {"ticket": "GD-2", "closes_item": "true"})
    assert (await out.submit(submit(), first)).accepted
    again = await out.submit(submit(), first)  # the same call retrying: replay
    assert again.accepted
    dup = await out.submit(submit(), second)  # the item has its one evaluation
    assert (dup.accepted, dup.reason) == (False, "duplicate")
    no_agent = await out.submit(submit(target="staff"), second)
    assert (no_agent.accepted, no_agent.reason) == (False, "invalid")


async def test_two_calls_about_one_ticket_are_both_rated_and_the_item_stays_open(aredis):
    out = outcomes(aredis)
    for call in ("c-1", "c-2"):
        assert (await out.submit(submit(), CallFacts(call, {"ticket": "GD-2"}))).accepted
    assert not await Intake(aredis, b"secret").is_evaluated("GD-2")


async def test_hang_up_in_the_reason_menu_is_rated_with_a_true_comment(aredis):
    out = outcomes(aredis)
    facts = CallFacts("c-3", {"ticket": "GD-3"})
    session = session_at("ask_reason", "reasons", grade="dissatisfied")
    assert await out.finish(facts, session, "unrated") == "rated_reason_missing"
    [(_id, fields)] = await aredis.xrange("{hcp}:outbox")
    ev = json.loads(fields[b"ev"])
    assert (ev["grade"], ev["reasons"], ev["comment"]) == (
        "dissatisfied", [], REASON_HANGUP_COMMENT)


async def test_good_grade_not_yet_submitted_stays_unrated_and_mobile_is_invited(aredis):
    invited = []

    async def hook(e164, context):
        invited.append((e164, context["ticket"]))

    out = outcomes(aredis, hook)
    session = session_at("confirm", "confirm", grade="satisfied")
    mobile = CallFacts("c-4", {"ticket": "GD-4"}, "+8613800138000")
    landline = CallFacts("c-5", {"ticket": "GD-5"}, "+862083000000")
    assert await out.finish(mobile, session, "unrated") == "unrated"
    assert await out.finish(landline, session, "unrated") == "unrated"
    assert invited == [("+8613800138000", "GD-4")]
    assert int(await aredis.get("{hcp}:ivr:unrated")) == 2
    entries = await aredis.xrange("{hcp}:ivr:unrated_calls")
    assert [e[1][b"node"] for e in entries] == [b"confirm", b"confirm"]
    assert not any(b"13800138000" in v for e in entries for v in e[1].values())
    assert await aredis.xlen("{hcp}:outbox") == 0


def test_is_mobile():
    assert is_mobile("+8613800138000") and not is_mobile("+862083000000")
    assert not is_mobile(None) and not is_mobile("garbage")


async def test_bad_grade_still_in_its_confirmation_is_not_submitted(aredis):
    out = outcomes(aredis)
    session = session_at("confirm_grade", "confirm", grade="very_dissatisfied")
    assert await out.finish(CallFacts("c-6", {"ticket": "GD-6"}), session, "unrated") == \
        "unrated"
    assert await aredis.xlen("{hcp}:outbox") == 0


async def test_hang_up_in_the_staff_reason_menu_rescues_the_staff_grade(aredis):
    out = outcomes(aredis)
    facts = CallFacts("c-7", {"ticket": "GD-7", "agent": "A7"})
    session = session_at("staff_reason", "reasons", "staff_reasons", grade="satisfied",
                         result_item="accepted", staff_grade="dissatisfied")
    assert await out.finish(facts, session, "rated") == "rated"
    [(_id, fields)] = await aredis.xrange("{hcp}:outbox")
    ev = json.loads(fields[b"ev"])
    assert (ev["target"]["kind"], ev["target"]["staff_id"], ev["grade"]) == (
        "staff", "A7", "dissatisfied")


async def test_reason_menu_without_a_choice_is_submitted_with_a_system_note(aredis):
    """Issue 10 point 3: the flow submits a bad grade whose reason menu ran out with
    ``reason_missing``; the record's comment is the system's note, flagged as such."""
    from ivr.outcome import REASON_MISSING_COMMENTS

    effect = SubmitEvaluation("item", "very_dissatisfied", (), "", 1, None,
                              "hotline-rating", "v1", "no_input")
    facts = CallFacts("c-9", {"ticket": "GD-9"})
    ev = build_evaluation(effect, facts)
    assert (ev.grade.id, ev.reasons) == ("very_dissatisfied", ())
    assert ev.comment == REASON_MISSING_COMMENTS["no_input"]
    assert ev.context["reason_missing"] == "no_input" and ev.context["comment_by"] == "system"
    assert ev.comment_by_system
    assert (await outcomes(aredis).submit(effect, facts)).accepted
    staff = SubmitEvaluation("staff", "dissatisfied", (), "", 1, None, "hotline-rating", "v1",
                             "invalid")
    sev = build_evaluation(staff, CallFacts("c-9", {"ticket": "GD-9", "agent": "A1"}))
    assert sev.comment == REASON_MISSING_COMMENTS["invalid"] and sev.comment_by_system
    # a chosen reason needs no note
    chosen = build_evaluation(submit("dissatisfied", reasons=("attitude",)), facts)
    assert chosen.comment == "" and "reason_missing" not in chosen.context
