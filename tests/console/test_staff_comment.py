"""A voice comment belongs to the rating it was given for: the caller's recording about
the service goes with the item rating, never with the staff rating that follows
(issue 13; flows/nodes.py Submit). The case page shows the recording of the item case."""

from __future__ import annotations

from flows import events as ev
from flows.loader import shipped_flow
from flows.session import Trigger
from tests.flows.conftest import Driver


def test_the_staff_rating_does_not_carry_the_service_voice_comment():
    d = Driver(shipped_flow("hotline-rating"), Trigger(context={"staff_id": "A17"}))
    d.send(ev.Digits("4"), ev.Digits("5"))  # 不满意, reason "other": record a comment
    d.send(ev.RecordingDone("rec-7", 4.2), ev.EvaluationResult(True))
    d.send(ev.Digits("1"), ev.Digits("4"), ev.Digits("2"))  # rate the agent: 不满意, attitude
    submits = d.of_type("submit_evaluation")
    assert [(s.target, s.grade, s.voice_comment) for s in submits] == [
        ("item", "dissatisfied", "rec-7"), ("staff", "dissatisfied", None)]
    assert submits[1].reasons == ("attitude",) and submits[1].comment == ""
