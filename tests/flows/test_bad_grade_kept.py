"""Issue 10 point 3 (hotline side): a confirmed bad grade is never lost.

A caller who gives 不满意/非常不满意 and then presses no reason (every attempt of
the reason menu times out) is still rated: the flow submits the grade with no
reason code and marks that no reason was chosen (``reason_missing``), so the
channel can add a system note the exchange accepts. The same for a bad staff
rating. Driven through whatever menus the shipped flow puts in front (language,
confirmation), so the test holds for any shape of the flow.
"""

from __future__ import annotations

import pytest

from flows import events as ev
from flows.session import COMPLETED, Trigger
from ratings.grades import Grade

from .conftest import Driver

BAD = [g for g in Grade if g.needs_reason]


def drive_to(d: Driver, answers: dict[str, str], stop_at: str) -> Driver:
    """Answer every menu before ``stop_at`` from ``answers`` (node id → digit)."""
    for _ in range(20):
        if d.session.node == stop_at or d.session.wait != "collect_digits":
            return d
        node = d.session.node
        d.send(ev.Digits(answers[node]) if node in answers else ev.Timeout())
    raise AssertionError(f"never reached {stop_at}: at {d.session.node}")


def time_out_menu(d: Driver, node: str) -> Driver:
    for _ in range(10):
        if d.session.node != node or d.session.wait != "collect_digits":
            return d
        d.send(ev.Timeout())
    raise AssertionError(f"{node} never gave up")


@pytest.mark.parametrize("grade", BAD, ids=lambda g: g.id)
def test_bad_item_grade_with_no_reason_is_submitted(hotline, grade):
    answers = {"choose_language": "1", "ask_grade": grade.keypad, "confirm_grade": "1"}
    d = drive_to(Driver(hotline), answers, "ask_reason")
    assert d.session.node == "ask_reason"
    time_out_menu(d, "ask_reason")
    submits = d.of_type("submit_evaluation")
    assert submits, f"the bad grade was dropped: ended at {d.session.node}"
    (submit,) = submits
    assert (submit.target, submit.grade, submit.reasons) == ("item", grade.id, ())
    assert submit.reason_missing == "no_input"
    assert submit.comment == ""  # the engine writes no words for the caller
    d.send(ev.EvaluationResult(True))
    assert d.session.status == COMPLETED and d.session.end_reason == "completed"


def test_bad_staff_grade_with_no_reason_is_submitted(hotline):
    good, bad = Grade.from_id("satisfied"), Grade.from_id("very_dissatisfied")
    d = Driver(hotline, Trigger(context={"staff_id": "A17"}))
    answers = {"choose_language": "1", "ask_grade": good.keypad, "confirm_grade": "1",
               "offer_staff_rating": "1", "rate_staff": bad.keypad}
    drive_to(d, answers, "submit_item")
    if d.session.wait == "submit_evaluation":
        d.send(ev.EvaluationResult(True))
    drive_to(d, answers, "staff_reason")
    assert d.session.node == "staff_reason"
    time_out_menu(d, "staff_reason")
    submits = d.of_type("submit_evaluation")
    staff = [s for s in submits if s.target == "staff"]
    assert staff, f"the bad staff grade was dropped: ended at {d.session.node}"
    assert (staff[0].grade, staff[0].reasons, staff[0].reason_missing) == (
        bad.id, (), "no_input")
