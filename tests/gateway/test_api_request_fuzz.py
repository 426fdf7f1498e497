"""Any JSON body is either an Evaluation or a RequestError: never a 500."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.api_request import RequestError, decode_json, parse_evaluation
from ratings.model import Evaluation

scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
                    st.text(max_size=30))
json_values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)),
    max_leaves=12)

# Near-valid bodies: the right field names with values of any shape.
field_values = {
    "grade": st.one_of(st.sampled_from(["satisfied", "dissatisfied", "very_satisfied"]),
                       json_values),
    "channel": st.one_of(st.sampled_from(["api", "sms", "hotline"]), json_values),
    "phone": st.one_of(st.sampled_from(["13812345678", "+8613812345678", "12"]),
                       json_values),
    "reasons": st.one_of(st.lists(st.text(min_size=1, max_size=5), max_size=3), json_values),
    "comment": json_values,
    "assess_number": st.one_of(st.sampled_from([1, 2]), json_values),
    "assessed_at": st.one_of(st.sampled_from(["2026-11-27T10:00:00+08:00", "2026-11-27"]),
                             json_values),
    "context": json_values,
    "target": st.one_of(st.fixed_dictionaries({}, optional={
        "kind": st.one_of(st.sampled_from(["item", "batch", "theme", "staff"]), json_values),
        "id": st.one_of(st.text(max_size=8), json_values),
        "items": st.one_of(st.lists(st.text(max_size=4), max_size=3), json_values),
        "staff_id": st.one_of(st.text(max_size=4), json_values),
    }), json_values),
}
near_valid = st.fixed_dictionaries({}, optional=field_values)


def outcome(data) -> Evaluation | RequestError:
    try:
        return parse_evaluation(data)
    except RequestError as exc:
        assert 400 <= exc.status < 500 and exc.code and exc.message
        return exc


@settings(max_examples=300, deadline=None)
@given(near_valid)
def test_near_valid_bodies_parse_or_name_a_field(data):
    result = outcome(data)
    if isinstance(result, RequestError):
        assert result.field is None or isinstance(result.field, str)
    else:
        assert Evaluation.from_json(result.to_json()) == result  # storable as it is


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_any_json_document_is_refused_cleanly(value):
    raw = json.dumps(value).encode()
    try:
        data = decode_json(raw)
    except RequestError as exc:
        assert exc.code == "invalid_json"
        return
    outcome(data)
