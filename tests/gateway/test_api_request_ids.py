"""Issue 14.1a: every identifier is checked at the edge, in the domain (so the IVR,
SMS and API channels all get it): 1-200 characters, none a control character
(U+0000-U+001F, U+007F-U+009F), a line/paragraph separator or a surrogate. An id
with CR/LF or NUL was accepted (201) and then failed at submission for ever."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path

import pytest
import yaml

from gateway.api_request import RequestError, parse_evaluation
from ratings.grades import Grade
from ratings.model import (
    IDENTIFIER_MAX_LEN,
    IDENTIFIER_PATTERN,
    Channel,
    Evaluation,
    InvalidEvaluation,
    Target,
    TargetKind,
)
from tests.gateway.conftest import AUTH

NOW = datetime(2026, 3, 1, 8, 0, tzinfo=timezone.utc)
BAD = ["P\r\n1", "P\n", "P\x00", "P\t1", "P\x7f", "P\x85", "P\u2028", "x" * 201]
DOC = yaml.safe_load((Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml")
                     .read_text())


def body(**kw):
    data = {"target": {"kind": "item", "id": "GD-0001"}, "grade": "dissatisfied",
            "reasons": ["efficiency"], "flow_id": "f", "flow_version": "1", "source_id": "s"}
    data.update(kw)
    return data


CASES = [
    ("target.id", lambda v: body(target={"kind": "item", "id": v})),
    ("target.id", lambda v: body(target={"kind": "call", "id": v})),
    ("target.id", lambda v: body(target={"kind": "batch", "id": v, "items": ["I1"]})),
    ("target.items", lambda v: body(target={"kind": "batch", "id": "B1", "items": ["I1", v]})),
    ("target.items", lambda v: body(target={"kind": "theme", "id": "T1", "items": [v]})),
    ("target.staff_id", lambda v: body(target={"kind": "staff", "id": "V1", "staff_id": v})),
    ("source_id", lambda v: body(source_id=v)),
    ("flow_id", lambda v: body(flow_id=v)),
    ("flow_version", lambda v: body(flow_version=v)),
]


@pytest.mark.parametrize("bad", BAD, ids=repr)
@pytest.mark.parametrize("field,make", CASES, ids=[f"{f}-{i}" for i, (f, _m) in enumerate(CASES)])
def test_a_bad_identifier_is_refused_naming_its_field(field, make, bad):
    with pytest.raises(RequestError) as err:
        parse_evaluation(make(bad), now=NOW)
    assert err.value.status == 400 and err.value.field == field, err.value.body()


@pytest.mark.parametrize("bad", BAD, ids=repr)
def test_the_domain_refuses_them_for_every_channel(bad):
    with pytest.raises(InvalidEvaluation) as err:
        Target(TargetKind.ITEM, bad)
    assert err.value.field == "target.id"
    with pytest.raises(InvalidEvaluation) as err:
        Evaluation(target=Target(TargetKind.ITEM, "P1"), channel=Channel.SMS,
                   grade=Grade.DISSATISFIED, assessed_at=NOW, reasons=(bad,))
    assert err.value.field == "reasons"
    with pytest.raises(InvalidEvaluation) as err:
        Evaluation(target=Target(TargetKind.ITEM, "P1"), channel=Channel.HOTLINE,
                   grade=Grade.SATISFIED, assessed_at=NOW, id=bad)
    assert err.value.field == "id"


@pytest.mark.parametrize("good", ["GD-0001", "粤2026(1)/办件#7", "a b", "x" * 200,
                                  "call-id@10.0.0.1", "\U0001f600"])
def test_printable_identifiers_of_any_script_pass(good):
    ev = parse_evaluation(body(target={"kind": "item", "id": good}, source_id=good), now=NOW)
    assert ev.target.id == good and ev.source_id == good


def test_the_document_states_the_same_rule():
    schemas = DOC["components"]["schemas"]
    required, optional = schemas["Identifier"], schemas["OptionalIdentifier"]
    assert required["pattern"] == IDENTIFIER_PATTERN
    assert optional["pattern"] == IDENTIFIER_PATTERN.replace("{1,", "{0,")  # blank: none
    assert required["maxLength"] == optional["maxLength"] == IDENTIFIER_MAX_LEN
    assert re.fullmatch(required["pattern"], "GD-1")
    assert not re.fullmatch(required["pattern"], "G\nD")

    def ref(schema):
        return schema["$ref"].rsplit("/", 1)[1]

    target = schemas["Target"]["properties"]
    request = schemas["EvaluationRequest"]["properties"]
    assert ref(target["id"]) == ref(target["items"]["items"]) == "Identifier"
    assert ref(request["reasons"]["items"]) == "Identifier"
    for schema in (target["staff_id"], request["source_id"], request["flow_id"],
                   request["flow_version"]):
        assert ref(schema) == "OptionalIdentifier"


async def test_over_http_the_400_names_the_field_and_nothing_is_written(api, aredis):
    before = await aredis.dbsize()
    resp = await api.post("/v1/evaluations", headers=AUTH,
                          json={"target": {"kind": "item", "id": "P\r\n1"},
                                "grade": "satisfied"})
    assert resp.status == 400
    answer = await resp.json()
    assert answer["field"] == "target.id" and answer["error"] == "invalid_field"
    assert "control" in answer["message"]
    assert await aredis.dbsize() == before
