import json

import jsonschema
import pytest
import yaml

from flows.loader import FlowError, load_text, shipped_paths
from flows.migrations import migrate
from flows.validate import schema

BASE = {
    "spec_version": 2, "id": "t", "type": "voice",
    "nodes": [
        {"id": "ask", "type": "question", "mode": "grade", "prompt": {"zh": "请评价"},
         "next": "bye"},
        {"id": "bye", "type": "end", "prompt": {"zh": "再见"}},
    ],
}


def load(data):
    return load_text(yaml.safe_dump(data, allow_unicode=True))


def codes(data):
    with pytest.raises(FlowError) as err:
        load(data)
    return {(p.where, p.code) for p in err.value.problems}


def with_node(index, **changes):
    data = json.loads(json.dumps(BASE))
    data["nodes"][index].update(changes)
    return data


def test_published_schema_is_valid_json_schema():
    jsonschema.Draft202012Validator.check_schema(schema())


def test_shipped_flows_load():
    assert len(shipped_paths()) >= 1
    for path in shipped_paths():
        assert load_text(path.read_text(), str(path)).version


def test_schema_errors_name_the_node():
    assert ("ask", "schema") in codes(with_node(0, digits="1"))
    assert ("ask", "schema") in codes(with_node(0, mode="poll"))
    assert ("flow", "schema") in codes({**BASE, "type": "fax"})


def test_node_not_allowed_in_channel():
    data = with_node(0, type="send_sms", text={"zh": "x"}, next="bye")
    for key in ("mode", "prompt"):
        data["nodes"][0].pop(key)
    assert ("ask", "wrong_channel") in codes(data)


def test_structural_errors():
    assert ("ask", "bad_exit") in codes(with_node(0, next="nowhere"))
    assert ("bye", "duplicate_id") in codes(with_node(0, id="bye"))
    assert ("ask", "digit_conflict") in codes(with_node(0, repeat_key="1"))
    assert ("ask", "bad_prompt") in codes(with_node(0, prompt="not_shared"))
    assert ("ask", "bad_language") in codes(with_node(0, prompt={"en": "rate"}))


def test_choice_prefix_conflict_is_an_error():
    data = with_node(0, mode="choice", choices=[{"digit": "1"}, {"digit": "12"}])
    assert ("ask", "digit_conflict") in codes(data)


def test_branch_case_that_cannot_match():
    data = json.loads(json.dumps(BASE))
    data["nodes"].insert(1, {"id": "b", "type": "branch", "switch": "grade",
                             "cases": {"excellent": "bye"}, "default": "bye"})
    data["nodes"][0]["next"] = "b"
    assert ("b", "bad_case") in codes(data)


V1 = """
spec_version: 1
id: t
type: voice
lang: zh
nodes:
  ask:
    type: question
    mode: grade
    prompt: 请评价
    timeout: 6
    inter_digit_timeout: 3
    next: bye
  bye:
    type: hangup
    prompt: 再见
"""

V2 = """
spec_version: 2
id: t
type: voice
default_language: zh
languages: [zh]
nodes:
  - {id: ask, type: question, mode: grade, prompt: {zh: 请评价}, timeout_ms: 6000,
     inter_digit_ms: 3000, next: bye}
  - {id: bye, type: end, prompt: {zh: 再见}}
"""


def test_v1_migrates_to_the_same_flow_as_its_v2_twin():
    migrated, steps = migrate(yaml.safe_load(V1))
    assert steps == [1] and migrated["spec_version"] == 2
    assert load_text(V1).version == load_text(V2).version


def test_newer_spec_version_is_refused():
    with pytest.raises(FlowError) as err:
        load({**BASE, "spec_version": 99})
    assert err.value.problems[0].code == "spec_version"


def test_version_is_content_not_layout():
    flow = load(BASE)
    relaid = load_text(json.dumps(BASE, ensure_ascii=False, indent=4))
    assert flow.version == relaid.version
    assert load(with_node(1, prompt={"zh": "再会"})).version != flow.version
