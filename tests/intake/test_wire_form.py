"""``Evaluation.to_dict`` is built field by field for speed (issue 16); its JSON must
stay byte-identical to the ``dataclasses.asdict`` form it replaced, which the outbox,
the status API and the submitter have always read."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from ratings.grades import Grade
from ratings.model import Channel, Evaluation, InvalidEvaluation, Target, TargetKind


def asdict_form(ev: Evaluation) -> dict:
    """The wire form as it was built before issue 16 (dataclasses.asdict)."""
    data = dataclasses.asdict(ev)
    data["target"] = {
        "kind": ev.target.kind.value, "id": ev.target.id,
        "items": list(ev.target.items), "staff_id": ev.target.staff_id}
    data["channel"] = ev.channel.value
    data["grade"] = ev.grade.id
    data["reasons"] = list(ev.reasons)
    data["assessed_at"] = ev.assessed_at.isoformat()
    return data


def wire(data: dict) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


ident = st.text(st.characters(blacklist_categories=("Cc", "Cs"),
                              blacklist_characters="\u2028\u2029:"), min_size=1, max_size=12)
optional = st.none() | ident


@st.composite
def evaluations(draw) -> Evaluation:
    kind = draw(st.sampled_from(list(TargetKind)))
    items = tuple(draw(st.lists(ident.filter(lambda s: not s.startswith(("staff", "call"))),
                                min_size=1, max_size=4, unique=True))) \
        if kind in (TargetKind.BATCH, TargetKind.THEME) else ()
    target_id = draw(ident.filter(lambda s: not s.startswith(("staff:", "call:"))))
    staff = draw(ident) if kind is TargetKind.STAFF else draw(st.none() | ident)
    offset = timedelta(minutes=draw(st.integers(-12 * 60, 14 * 60)))
    when = datetime(2026, 1, 1, tzinfo=timezone(offset)) + timedelta(
        microseconds=draw(st.integers(0, 10 ** 14)))
    grade = draw(st.sampled_from(list(Grade)))
    reasons = tuple(draw(st.lists(ident, max_size=3, unique=True)))
    comment = draw(st.text(max_size=30))
    if grade.needs_reason and not (reasons or comment.strip()):
        comment = "太慢"
    fields = dict(
        target=Target(kind, target_id, items, staff),
        channel=draw(st.sampled_from(list(Channel))), grade=grade, assessed_at=when,
        reasons=reasons, comment=comment,
        phone=draw(st.none() | st.from_regex(r"\+861[3-9][0-9]{9}", fullmatch=True)),
        assess_number=draw(st.sampled_from([1, 2])), flow_id=draw(optional),
        flow_version=draw(optional), source_id=draw(optional),
        voice_comment=draw(st.none() | st.text(max_size=20)),
        context=draw(st.dictionaries(st.text(max_size=8), st.text(max_size=12), max_size=4)))
    if draw(st.booleans()):
        fields["id"] = draw(ident)
    return Evaluation(**fields)


@settings(max_examples=500)
@given(evaluations())
def test_to_dict_is_the_asdict_form_byte_for_byte(ev):
    assert ev.to_dict() == asdict_form(ev)
    assert ev.to_json() == wire(asdict_form(ev))
    assert list(ev.to_dict()) == list(asdict_form(ev))  # same key order, same bytes
    assert Evaluation.from_json(ev.to_json()) == ev


def test_to_dict_is_a_copy():
    ev = Evaluation(Target(TargetKind.ITEM, "P1"), Channel.API, Grade.SATISFIED,
                    datetime(2026, 1, 1, tzinfo=timezone.utc), context={"a": "b"})
    data = ev.to_dict()
    data["context"]["a"] = "changed"
    data["target"]["items"].append("x")
    assert ev.context == {"a": "b"} and ev.target.items == ()


def test_a_refused_number_is_refused_every_time():
    from ratings.model import normalise_phone
    for _ in range(3):  # the cache keeps answers, never a refusal
        try:
            normalise_phone("12345")
        except InvalidEvaluation as exc:
            assert exc.field == "phone"
        else:
            raise AssertionError("12345 accepted")
    assert normalise_phone("13812345678") == normalise_phone("138 1234 5678") == "+8613812345678"
