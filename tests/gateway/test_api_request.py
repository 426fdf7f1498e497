"""Request body → Evaluation: every refusal names its field (unit, no IO)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from gateway.api_request import RequestError, decode_json, parse_evaluation
from ratings.grades import Grade
from ratings.model import Channel, TargetKind

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=timezone.utc)


def body(**changes):
    data = {"target": {"kind": "item", "id": "GD-0001"}, "grade": "satisfied"}
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def refused(data) -> RequestError:
    with pytest.raises(RequestError) as err:
        parse_evaluation(data, now=NOW)
    return err.value


def test_minimal_body_defaults():
    ev = parse_evaluation(body(), now=NOW)
    assert ev.target.kind is TargetKind.ITEM and ev.target.id == "GD-0001"
    assert ev.grade is Grade.SATISFIED and ev.channel is Channel.API
    assert ev.assessed_at == NOW and ev.assess_number == 1 and ev.phone is None


def test_full_body():
    ev = parse_evaluation(body(
        target={"kind": "batch", "id": "B1", "items": ["i1", "i2"]},
        grade="very_dissatisfied", channel="sms", phone="138 1234 5678",
        reasons=["efficiency", "服务态度"], comment="排队太久", assess_number=2,
        assessed_at="2026-11-26T08:00:00Z", flow_id="f", flow_version="3",
        source_id="msg-1", context={"task_code": "T1"}), now=NOW)
    assert ev.target.items == ("i1", "i2") and ev.phone == "+8613812345678"
    assert ev.assessed_at == datetime(2026, 11, 26, 8, tzinfo=timezone.utc)
    assert ev.channel is Channel.SMS and ev.context == {"task_code": "T1"}
    assert ev.reasons == ("efficiency", "attitude")  # a Chinese label is taken as its code


def test_bad_grade_with_a_listed_reason_or_an_own_comment():
    assert parse_evaluation(body(grade="dissatisfied", reasons=["attitude"]),
                            now=NOW).reasons == ("attitude",)
    assert parse_evaluation(body(grade="dissatisfied", comment="排队太久"), now=NOW).comment
    configured = parse_evaluation(body(grade="dissatisfied", reasons=["R01"]), now=NOW,
                                  known_reasons=("R01", "R02"))
    assert configured.reasons == ("R01",)


@pytest.mark.parametrize("data, code, field", [
    ({"grade": "satisfied"}, "missing_field", "target"),
    (body(grade=None), "missing_field", "grade"),
    (body(target={"kind": "item"}), "missing_field", "target.id"),
    (body(target={"id": "x"}), "missing_field", "target.kind"),
    (body(target={"kind": "planet", "id": "x"}), "invalid_field", "target.kind"),
    (body(target={"kind": "batch", "id": "B"}), "invalid_field", "target.items"),
    (body(target={"kind": "staff", "id": "visit"}), "invalid_field", "target.staff_id"),
    (body(target={"kind": "item", "id": "x", "colour": 1}), "unknown_field", "target.colour"),
    (body(target="GD-1"), "invalid_field", "target"),
    (body(grade="great"), "unknown_grade", "grade"),
    (body(grade=5), "invalid_field", "grade"),
    (body(phone="12345"), "invalid_phone", "phone"),
    (body(phone="not a number"), "invalid_phone", "phone"),
    (body(channel="fax"), "invalid_field", "channel"),
    (body(assess_number=3), "invalid_field", "assess_number"),
    (body(assess_number=True), "invalid_field", "assess_number"),
    (body(assessed_at="yesterday"), "invalid_field", "assessed_at"),
    (body(assessed_at="2026-11-26T08:00:00"), "invalid_field", "assessed_at"),
    (body(grade="dissatisfied"), "invalid_field", "reasons"),
    (body(reasons="slow"), "invalid_field", "reasons"),
    # a bad grade needs a reason from the configured list or a non-blank comment
    (body(grade="very_dissatisfied", reasons=["slow"]), "invalid_field", "reasons"),
    (body(grade="very_dissatisfied", reasons=[" "]), "invalid_field", "reasons"),
    (body(grade="very_dissatisfied", reasons=[""]), "invalid_field", "reasons"),
    (body(grade="dissatisfied", comment="   "), "invalid_field", "reasons"),
    (body(grade="dissatisfied", reasons=["attitude", "attitude"]), "invalid_field", "reasons"),
    (body(reasons=["no-such-code"]), "invalid_field", "reasons"),
    (body(comment="x" * 2001), "invalid_field", "comment"),
    (body(context={"a": 1}), "invalid_field", "context"),
    (body(score=10), "unknown_field", "score"),
])
def test_refusals_name_the_field(data, code, field):
    err = refused(data)
    assert (err.status, err.code, err.field) == (400, code, field)
    assert err.body() == {"error": code, "field": field, "message": err.message}


@pytest.mark.parametrize("raw", [b"{", b"[1, 2]", b"\xff\xfe", b"", b"null"])
def test_bad_json(raw):
    with pytest.raises(RequestError) as err:
        decode_json(raw)
    assert err.value.code == "invalid_json" and err.value.field is None


def test_a_channel_the_store_files_no_pf_for_is_refused_at_the_edge():
    """Accepted then dead-lettered for want of a pf would be a rating lost after a 201."""
    body = {"target": {"kind": "item", "id": "GD-1"}, "grade": "satisfied"}
    filed = frozenset({"hotline", "sms"})
    with pytest.raises(RequestError) as refused:
        parse_evaluation(body, filed_channels=filed)  # no channel: api, which has no pf
    assert refused.value.status == 400 and refused.value.body()["field"] == "channel"
    assert "core.pf_api" in refused.value.body()["message"]
    assert parse_evaluation(dict(body, channel="sms"), filed_channels=filed).channel.value \
        == "sms"
    assert parse_evaluation(body, filed_channels=filed | {"api"}).channel.value == "api"
