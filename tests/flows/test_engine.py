import pytest

from flows import effects as fx
from flows import events as ev
from flows.engine import resume, start
from flows.session import COMPLETED, FAILED, INTERRUPTED, WAITING, EngineError, Session, Trigger
from ratings.grades import Grade

from .conftest import NOW, Driver, flow_from

STAFF = Trigger(context={"staff_id": "A17"})


def confirming(flow):
    """The hotline flow with its confirm_grade option switched on."""
    from flows.simulate import with_options
    return with_options(flow, {"confirm_grade": True})


@pytest.mark.parametrize("grade", list(Grade), ids=lambda g: g.id)
def test_each_keypad_digit_submits_its_grade(hotline, grade):
    d = Driver(hotline).send(ev.Digits(grade.keypad))
    if grade.needs_reason:
        assert d.session.node == "ask_reason"
        d.send(ev.Digits("3"))
    (submit,) = d.effects
    assert isinstance(submit, fx.SubmitEvaluation)
    assert submit.grade == grade.id and submit.target == "item"
    assert submit.reasons == (("unresolved",) if grade.needs_reason else ())
    assert submit.reason_missing is None
    assert (submit.flow_id, submit.flow_version) == ("hotline-rating", hotline.version)
    d.send(ev.EvaluationResult(True))
    assert d.session.status == COMPLETED
    assert isinstance(d.effects[-1], fx.Hangup)


def test_the_grade_question_comes_first_and_one_key_rates(hotline):
    d = Driver(hotline)
    assert [e.TYPE for e in d.effects] == ["play", "collect_digits"]
    assert d.effects[0].prompt_id == "ask_grade.prompt" and d.effects[0].barge_in
    d.send(ev.Digits(Grade.SATISFIED.keypad))
    assert [e.TYPE for e in d.effects] == ["submit_evaluation"]  # no confirmation


def test_language_comes_from_the_trigger_and_the_language_key_switches(hotline):
    d = Driver(hotline, Trigger(lang="yue"))
    assert d.effects[0].lang == "yue" and "普通话按9" in d.effects[0].text
    d.send(ev.Digits("9"))
    assert [e.TYPE for e in d.effects] == ["set_language", "play", "collect_digits"]
    assert d.session.lang == "zh" and d.effects[1].lang == "zh"
    assert "粤语按9" in d.effects[1].text and d.session.attempts == 0
    d.send(ev.Digits(Grade.SATISFIED.keypad))
    assert d.effects[0].grade == "satisfied"


def test_confirm_option_reads_back_the_grade_in_the_callers_language(hotline):
    d = Driver(confirming(hotline), Trigger(lang="yue")).send(
        ev.Digits(Grade.DISSATISFIED.keypad))
    assert d.effects[0].lang == "yue" and "唔满意" in d.effects[0].text


def test_collection_ends_at_the_single_digit(hotline):
    collect = Driver(hotline).effects[-1]
    assert collect.max_digits == 1 and collect.terminator is None
    assert set(collect.valid_digits) == {g.keypad for g in Grade} | {"0", "9"}


def test_invalid_then_valid(hotline):
    d = Driver(hotline).send(ev.Digits("7"))
    assert d.session.node == "ask_grade" and d.session.attempts == 1
    assert d.effects[0].prompt_id == "invalid" and d.effects[1].prompt_id == "ask_grade.prompt"
    d.send(ev.Digits("1"))
    assert d.session.wait == "submit_evaluation"
    kinds = [s.kind for s in d.stats]
    assert "invalid" in kinds and "digit" in kinds


def test_a_silent_caller_is_let_go_after_one_question(hotline):
    d = Driver(hotline).send(ev.Timeout())
    assert d.session.status == COMPLETED and d.session.node == "not_rated"
    assert d.of_type("hangup")[-1].reason == "not_rated"
    assert not d.of_type("submit_evaluation")
    assert [s.kind for s in d.stats if s.node == "ask_grade"].count("no_input") == 1


def test_repeat_key_replays_without_costing_an_attempt(hotline):
    d = Driver(hotline).send(ev.Digits("0"))
    assert d.session.attempts == 0
    assert d.effects[0].prompt_id == "ask_grade.prompt"
    d.send(ev.Digits("0"), ev.Digits("0"), ev.Digits("0"))  # over max_repeats: invalid
    assert d.session.attempts == 1


def test_change_my_answer_goes_back(hotline):
    d = Driver(confirming(hotline)).send(ev.Digits("5"), ev.Digits("2"))
    assert d.session.node == "ask_grade"
    d.send(ev.Digits("1"), ev.Digits("1"))
    assert d.effects[0].grade == "very_satisfied"


def test_hangup_mid_question_interrupts_quietly(hotline):
    d = Driver(hotline).send(ev.HangUp())
    assert d.session.status == INTERRUPTED and d.effects == []
    assert [s.kind for s in d.session.stats] == ["hangup", "interrupted"]
    with pytest.raises(EngineError) as err:
        resume(d.session, ev.Digits("1"), NOW)
    assert err.value.code == "session_ended"


def test_duplicate_says_already_evaluated(hotline):
    d = Driver(hotline).send(ev.Digits("1"))
    d.send(ev.EvaluationResult(False, "duplicate"))
    assert d.session.node == "already_rated"
    assert d.of_type("hangup")[-1].reason == "duplicate"


def test_staff_rating_is_separate(hotline):
    d = Driver(hotline, STAFF).send(
        ev.Digits("2"), ev.EvaluationResult(True), ev.Digits("1"),
        ev.Digits("5"), ev.Digits("2"))
    submits = d.of_type("submit_evaluation")
    assert [(s.target, s.grade, s.reasons) for s in submits] == [
        ("item", "satisfied", ()), ("staff", "very_dissatisfied", ("attitude",))]


def test_reason_other_records_a_voice_comment(hotline):
    d = Driver(hotline).send(ev.Digits("4"), ev.Digits("5"))
    assert isinstance(d.effects[-1], fx.Record)
    d.send(ev.RecordingDone("rec-7", 4.2))
    assert d.effects[-1].voice_comment == "rec-7" and d.effects[-1].reasons == ("other",)


def test_wrong_keys_in_the_reason_menu_still_submit_the_grade(hotline):
    d = Driver(hotline).send(ev.Digits("4"), ev.Digits("7"), ev.Digits("8"))
    (submit,) = d.of_type("submit_evaluation")
    assert (submit.grade, submit.reasons, submit.reason_missing) == ("dissatisfied", (),
                                                                     "invalid")


def test_unexpected_event_is_a_coded_error(hotline):
    session, _ = start(hotline, Trigger(), NOW)
    for event in (ev.Reply("1"), ev.EvaluationResult(True), ev.RecordingDone("r")):
        with pytest.raises(EngineError) as err:
            resume(session, event, NOW)
        assert err.value.code == "unexpected_event"


def test_resume_does_not_change_the_session_passed_in(hotline):
    session, _ = start(hotline, Trigger(), NOW)
    before = session.to_json()
    resume(session, ev.Digits("1"), NOW)
    assert session.to_json() == before


def test_session_survives_json(hotline):
    session, _ = start(hotline, Trigger(), NOW)
    direct, fx1 = resume(session, ev.Digits("3"), NOW)
    loaded = Session.from_json(session.to_json(), hotline)
    again, fx2 = resume(loaded, ev.Digits("3"), NOW)
    assert fx1 == fx2 and direct.to_dict() == again.to_dict()


def test_flow_mismatch_is_refused(hotline):
    session, _ = start(hotline, Trigger(), NOW)
    session = Session.from_json(session.to_json())
    with pytest.raises(EngineError) as err:
        resume(session, ev.Digits("1"), NOW)
    assert err.value.code == "flow_mismatch"
    other = flow_from(MINI.replace("hi", "hello"))
    with pytest.raises(EngineError) as err:
        resume(session, ev.Digits("1"), NOW, flow=other)
    assert err.value.code == "flow_mismatch"


def test_stats_name_node_and_version(hotline):
    d = Driver(hotline).send(ev.Digits("1"))
    assert all(s.flow_version == hotline.version for s in d.stats)
    assert ("ask_grade", "digit") in [(s.node, s.kind) for s in d.stats]
    assert all(s.at == NOW.isoformat() for s in d.stats)


MINI = """
spec_version: 2
id: mini
type: voice
nodes:
  - {id: hi, type: play, prompt: {zh: "hi {item_name}"}, next: ask}
  - {id: ask, type: question, mode: grade, prompt: {zh: ask}, next: save}
  - {id: save, type: submit, target: item}
"""


def test_missing_template_value_fails_the_flow_not_the_caller():
    session, effects = start(flow_from(MINI), Trigger(), NOW)
    assert session.status == FAILED and session.failure["code"] == "template"
    assert effects == [fx.Hangup("failed")]
    assert session.stats[-1].kind == "failed"


def test_loop_without_wait_fails():
    flow = flow_from("""
spec_version: 2
id: loop
type: voice
nodes:
  - {id: a, type: play, prompt: {zh: a}, next: b}
  - {id: b, type: play, prompt: {zh: b}, next: a}
""")
    session, _ = start(flow, Trigger(), NOW)
    assert session.status == FAILED and session.failure["code"] == "loop"


def test_bad_grade_without_reason_fails_at_submit():
    session, _ = start(flow_from(MINI), Trigger(context={"item_name": "x"}), NOW)
    assert session.status == WAITING
    session, effects = resume(session, ev.Digits(Grade.DISSATISFIED.keypad), NOW)
    assert session.status == FAILED and session.failure["code"] == "no_reason"


def test_unknown_language_is_a_caller_error(hotline):
    with pytest.raises(EngineError) as err:
        start(hotline, Trigger(lang="fr"), NOW)
    assert err.value.code == "bad_trigger"
