import pytest

from flows.inspect import inspect, sms_segments
from flows.loader import load_flow, load_text, shipped_paths

BAD_VOICE = """
spec_version: 2
id: bad-voice
type: voice
languages: [zh, en]
nodes:
  - id: ask
    type: question
    mode: grade
    prompt:
      zh: 非常满意请按{key_very_satisfied}，满意请按{key_satisfied}。请给个好评！
      en: {text: "Rate us", audio: missing.wav}
    next: save
  - id: save
    type: submit
    target: item
    next: spin
    rejected: stop
  - id: spin
    type: play
    prompt: {zh: 一, en: one}
    next: spin2
  - id: spin2
    type: play
    prompt: {zh: 二}
    next: spin
  - id: orphan
    type: end
    prompt: {zh: 再见, en: bye}
  - id: stop
    type: play
    prompt: {zh: 停, en: stop}
"""

BAD_SMS = """
spec_version: 2
id: bad-sms
type: messaging
nodes:
  - id: invite
    type: send_sms
    text:
      zh: "您好，请参加本次问卷调查。回复{key_very_dissatisfied}非常不满意，\
        {key_very_satisfied}非常满意。{item_name}{item_name}{item_name}{item_name}\
        {item_name}{item_name}"
    next: wait
  - id: wait
    type: wait_reply
    expect: grade
    next: check
  - id: check
    type: branch
    switch: grade.needs_reason
    cases: {"true": save, "false": save}
  - id: save
    type: submit
    target: item
  - id: orphan_submit
    type: submit
    target: item
"""


def found(text):
    flow = load_text(text, base_dir="/nonexistent")
    return {(i.node, i.code) for i in inspect(flow)}


def test_voice_review_issues():
    issues = found(BAD_VOICE)
    assert {
        ("ask", "grade_not_offered"), ("ask", "steering"), ("ask", "missing_audio"),
        ("ask", "no_timeout_exit"), ("save", "bad_grade_without_reason"),
        ("spin2", "missing_translation"), ("orphan", "unreachable"),
        ("stop", "dead_end"),
    } <= issues
    assert ("spin", "no_way_out") in issues
    assert any(code == "loop_without_wait" for _, code in issues)


def test_sms_review_issues():
    issues = found(BAD_SMS)
    assert {
        ("invite", "rejected_wording"), ("invite", "sms_no_signature"),
        ("invite", "sms_too_long"), ("invite", "grade_not_offered"),
        ("save", "bad_grade_without_reason"), ("orphan_submit", "unreachable"),
    } <= issues


def test_issues_are_sorted_by_node_position():
    flow = load_text(BAD_VOICE)
    order = list(flow.nodes)
    positions = [order.index(i.node) for i in inspect(flow)]
    assert positions == sorted(positions)


@pytest.mark.parametrize("path", shipped_paths(), ids=lambda p: p.stem)
def test_shipped_flows_lint_clean(path):
    assert inspect(load_flow(path)) == []


def test_segments():
    assert sms_segments("a" * 160) == 1 and sms_segments("字" * 70) == 1
    assert sms_segments("字" * 71) == 2 and sms_segments("字" * 135) == 3
