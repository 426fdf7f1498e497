"""flows.timing: the simulated clock of a call, on the shipped hotline flow with
made-up prompt lengths (one second per ten characters)."""

from flows.loader import shipped_flow
from flows.timing import PLAY_MARGIN_S, Caller, time_call
from ratings.grades import Grade


def seconds(text, lang):
    return len(text) / 10


def test_at_once_listens_and_silent():
    flow = shipped_flow("hotline-rating")
    key = Grade.from_id("satisfied").keypad
    once = time_call(flow, Caller({"ask_grade": key}, at_once=True, react_s=1.0), seconds)
    assert once.rated_at == 1.0 and once.submitted == [("item", "satisfied", 1.0)]
    assert once.prompts[0] == ("ask_grade.prompt", 0.0, 1.0)  # barge-in stopped it
    question = once.prompts[0]
    listen = time_call(flow, Caller({"ask_grade": key}, react_s=1.0), seconds)
    length = listen.prompts[0][2]
    assert length > question[2] and listen.rated_at == round(length + 1.0, 2)
    silent = time_call(flow, Caller({}), seconds)
    assert silent.rated_at is None and silent.end_reason == "not_rated"
    goodbye = silent.prompts[-1]
    assert goodbye[0] == "goodbye" and goodbye[1] == round(length + 5.0, 2)  # 5 s timeout
    assert silent.ended_at == round(goodbye[2], 2)
    assert PLAY_MARGIN_S == 0.1


def test_a_key_typed_ahead_skips_the_prompt_and_a_bad_grade_goes_to_the_reasons():
    flow = shipped_flow("hotline-rating")
    bad = Grade.from_id("very_dissatisfied").keypad
    t = time_call(flow, Caller({"ask_grade": bad, "ask_reason": "2"}, at_once=True), seconds)
    assert [p[0] for p in t.prompts][:2] == ["ask_grade.prompt", "ask_reason.prompt"]
    assert t.submitted[0][:2] == ("item", "very_dissatisfied")
