import json

import pytest

from flows import effects as fx
from flows import events as ev
from flows.reasons import REASON_CODES, reason_code

ALL_EFFECTS = [
    fx.Play("welcome", "您好", "zh", "welcome.zh.wav", barge_in=False),
    fx.CollectDigits("123450", 1, None, 6000, 3000, "0"),
    fx.Record(60, "#", 3000),
    fx.SendSms("【广东政务服务】…"),
    fx.WaitReply(3600),
    fx.SubmitEvaluation("staff", "dissatisfied", ("attitude",), "", 1, "rec-1", "f", "v"),
    fx.SetLanguage("yue"),
    fx.Hangup("completed"),
]
ALL_EVENTS = [
    ev.Digits("1", "rfc2833"), ev.Timeout(), ev.HangUp(), ev.RecordingDone("r", 3.5),
    ev.Reply("非常满意"), ev.EvaluationResult(False, "duplicate"),
]


@pytest.mark.parametrize("effect", ALL_EFFECTS, ids=lambda e: e.TYPE)
def test_effect_json_round_trip(effect):
    text = json.dumps(fx.effect_to_dict(effect), ensure_ascii=False)
    assert fx.effect_from_dict(json.loads(text)) == effect


@pytest.mark.parametrize("event", ALL_EVENTS, ids=lambda e: e.TYPE)
def test_event_json_round_trip(event):
    text = json.dumps(ev.event_to_dict(event), ensure_ascii=False)
    assert ev.event_from_dict(json.loads(text)) == event


def test_only_waiting_effects_wait():
    waiting = {t for t, cls in fx.EFFECT_TYPES.items() if cls.WAITS}
    assert waiting == {"collect_digits", "record", "wait_reply", "submit_evaluation"}


def test_unknown_types_are_refused():
    with pytest.raises(ValueError):
        fx.effect_from_dict({"type": "dance"})
    with pytest.raises(ValueError):
        ev.event_from_dict({"type": "dance"})


def test_reason_codes_accept_national_labels():
    assert REASON_CODES == ("efficiency", "attitude", "unresolved", "process", "other")
    assert reason_code("服务态度") == "attitude"
    assert reason_code("other") == "other"
    assert reason_code("态度") is None
