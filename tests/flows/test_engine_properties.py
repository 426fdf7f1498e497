"""Property test: any sequence of channel events, on every shipped flow, keeps the
engine's contract — at most one wait and always last, JSON round trips, coded
errors only for events the wait does not accept, a terminal statistic on end."""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sms.grammar
from flows import events as ev
from flows.engine import ACCEPTS, resume, start
from flows.loader import resolve
from flows.session import EngineError, Session, Trigger

from .conftest import NOW

FLOWS = {name: resolve(name) for name in ("hotline_rating", "sms_reminder", "sms_invitation")}
CONTEXT = {"item_name": "社保卡补办", "reply_code": "A3", "staff_id": "A17"}

events = st.one_of(
    st.builds(ev.Digits, st.sampled_from(["0", "1", "2", "3", "4", "5", "6", "9", "*", "#", "12"])),
    st.just(ev.Timeout()), st.just(ev.HangUp()),
    st.builds(ev.RecordingDone, st.just("rec"), st.floats(0, 60)),
    st.builds(ev.Reply, st.sampled_from(["1", "4", "不满意 太慢", "服务态度", "TD", "？", "满意",
                                         "2", "5", "随便", ""])),
    st.builds(ev.EvaluationResult, st.booleans(), st.sampled_from(["", "duplicate", "invalid"])),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(sorted(FLOWS)), lang=st.sampled_from([None, "zh", "yue", "en"]),
       script=st.lists(events, max_size=25))
def test_any_event_sequence_keeps_the_contract(name, lang, script):
    flow = FLOWS[name]
    if lang not in (None, *flow.languages):
        lang = None
    session, effects = start(flow, Trigger("test", dict(CONTEXT), lang), NOW)
    for event in script:
        _check(session, effects)
        if session.ended:
            break
        session = Session.from_json(session.to_json(), flow)
        if not isinstance(event, ACCEPTS[session.wait]):
            try:
                resume(session, event, NOW, grammar=sms.grammar)
            except EngineError as exc:
                assert exc.code == "unexpected_event"
                continue
            raise AssertionError("an unaccepted event was taken")
        session, effects = resume(session, event, NOW, grammar=sms.grammar)
    _check(session, effects)


def _check(session, effects):
    waits = [e for e in effects if e.WAITS]
    assert len(waits) <= 1 and (not waits or effects[-1] is waits[0])
    assert (session.status == "waiting") == bool(waits)
    assert session.status != "failed", session.failure
    if session.ended:
        assert session.stats and session.stats[-1].kind in (
            "completed", "interrupted", "expired")
        assert session.end_reason
    for stat in session.stats:
        assert stat.flow_version == session.flow_version and stat.node
