"""Every review check the issue asks for, each shown on a broken flow.

A clean voice flow and a clean messaging flow lint clean; each case breaks one
thing and must produce exactly the issue codes it names (nothing else), so a
check that stops firing, or starts firing on neighbours, fails here.
"""

from __future__ import annotations

import subprocess

import pytest

from flows.inspect import inspect
from flows.loader import FlowError, load_flow, load_text
from gateway.cli import main

GRADES = ("非常满意请按{key_very_satisfied}，满意请按{key_satisfied}，基本满意请按"
          "{key_basically_satisfied}，不满意请按{key_dissatisfied}，非常不满意请按"
          "{key_very_dissatisfied}。重听请按{repeat_key}。")

VOICE = f"""
spec_version: 2
id: t-voice
type: voice
languages: [zh]
nodes:
  - id: ask
    type: question
    mode: grade
    prompt: {{zh: "{GRADES}"}}
    next: check
    exhausted: bye
  - id: check
    type: branch
    switch: grade.needs_reason
    cases: {{"true": why, "false": save}}
  - id: why
    type: reasons
    prompt: {{zh: 办事效率请按1，其他请按2。}}
    options: [{{digit: "1", code: efficiency}}, {{digit: "2", code: other}}]
    next: save
    exhausted: bye
  - id: save
    type: submit
    target: item
    next: bye
    rejected: bye
  - id: bye
    type: end
    prompt: {{zh: 感谢您的来电，再见。}}
"""

SMS = """
spec_version: 2
id: t-sms
type: messaging
languages: [zh]
signature: 【广东政务服务】
nodes:
  - id: invite
    type: send_sms
    text: {zh: "{signature}您办理的“{item_name}”已办结。评价自愿，请回复{key_very_satisfied}至\\
      {key_very_dissatisfied}：{key_very_satisfied}非常满意，{key_very_dissatisfied}非常不满意。回复TD退订。"}
    next: wait
  - id: wait
    type: wait_reply
    expect: grade
    next: check
    stop: bye
  - id: check
    type: branch
    switch: grade.needs_reason
    cases: {"true": ask_why, "false": save}
  - id: ask_why
    type: send_sms
    text: {zh: "{signature}请回复不满意的主要原因。"}
    next: wait_why
  - id: wait_why
    type: wait_reply
    expect: reasons
    next: save
    stop: bye
  - id: save
    type: submit
    target: item
    next: bye
    rejected: bye
  - id: bye
    type: end
    prompt: {zh: "{signature}感谢您的参与。"}
"""


def codes(text: str, base_dir: str = "/nonexistent") -> set[tuple[str, str]]:
    return {(i.node, i.code) for i in inspect(load_text(text, base_dir=base_dir))}


def test_the_clean_fixtures_lint_clean():
    assert codes(VOICE) == set()
    assert codes(SMS) == set()


# (name, base, old text, new text, expected issues)
CASES = [
    ("unreachable node", VOICE, "  - id: bye\n",
     "  - id: orphan\n    type: end\n    prompt: {zh: 再见。}\n  - id: bye\n",
     {("orphan", "unreachable")}),
    ("dead end", VOICE, "    next: bye\n    rejected: bye\n",
     "    next: hold\n    rejected: bye\n  - id: hold\n    type: play\n"
     "    prompt: {zh: 请稍候。}\n", {("hold", "dead_end")}),
    ("digit conflict: prompt announces a key the menu lacks", VOICE,
     "办事效率请按1，其他请按2。", "办事效率请按1，其他请按3。",
     {("why", "digit_conflict"), ("why", "key_not_announced")}),
    ("option never announced", VOICE, "办事效率请按1，其他请按2。", "办事效率请按1。",
     {("why", "key_not_announced")}),
    ("a grade no input reaches", VOICE, "，非常不满意请按{key_very_dissatisfied}", "",
     {("ask", "grade_not_offered")}),
    ("grades out of scale order", VOICE,
     "不满意请按{key_dissatisfied}，非常不满意请按{key_very_dissatisfied}",
     "非常不满意请按{key_very_dissatisfied}，不满意请按{key_dissatisfied}",
     {("ask", "grade_order")}),
    ("bad grade with no reason step", VOICE, 'cases: {"true": why, "false": save}',
     'cases: {"true": save, "false": save}',
     {("save", "bad_grade_without_reason"), ("why", "unreachable")}),
    ("question with no timeout exit", VOICE, "    next: check\n    exhausted: bye\n",
     "    next: check\n", {("ask", "no_timeout_exit")}),
    ("loop with no way out", VOICE, "    next: bye\n    rejected: bye\n",
     "    next: spin\n    rejected: spin\n  - id: spin\n    type: play\n"
     "    prompt: {zh: 请稍候。}\n    next: save\n",
     {("save", "no_way_out"), ("spin", "no_way_out")}),
    ("prompt missing in a language", VOICE, "languages: [zh]", "languages: [zh, en]",
     {(n, "missing_translation") for n in ("ask", "why", "bye")}),
    ("missing audio file", VOICE, "prompt: {zh: 感谢您的来电，再见。}",
     "prompt: {zh: {text: 感谢您的来电，再见。, audio: bye.zh.wav}}",
     {("bye", "missing_audio")}),
    ("steering: no answer counts as satisfied", VOICE, "感谢您的来电，再见。",
     "不按键将视为满意，再见。", {("bye", "steering")}),
    ("steering: asking for a good rating", VOICE, "非常满意请按", "请给个好评，非常满意请按",
     {("ask", "steering")}),
    ("SMS over its segment budget", SMS, "请回复不满意的主要原因。",
     "请回复不满意的主要原因。" * 13,
     {("ask_why", "sms_too_long")}),
    ("SMS without a signature", SMS, '{zh: "{signature}请回复不满意', '{zh: "请回复不满意',
     {("ask_why", "sms_no_signature")}),
    ("wording template reviews reject", SMS, "请回复不满意的主要原因。",
     "本次问卷调查请回复原因。", {("ask_why", "rejected_wording")}),
    ("SMS steering", SMS, "评价自愿，", "恳请您给予满意，", {("invite", "steering")}),
]


@pytest.mark.parametrize("name, base, old, new, expected", CASES, ids=[c[0] for c in CASES])
def test_each_review_check_fires_on_its_broken_flow(name, base, old, new, expected):
    assert old in base, name
    assert codes(base.replace(old, new, 1)) == expected


def test_audio_that_exists_but_is_not_a_wav(tmp_path):
    text = VOICE.replace("prompt: {zh: 感谢您的来电，再见。}",
                         "prompt: {zh: {text: 感谢您的来电，再见。, audio: bye.zh.wav}}")
    (tmp_path / "bye.zh.wav").write_bytes(b"not a wav at all")
    assert codes(text, str(tmp_path)) == {("bye", "bad_audio")}
    subprocess.run(["sox", "-n", "-r", "8000", "-c", "1", "-b", "16",
                    str(tmp_path / "bye.zh.wav"), "synth", "0.2", "sine", "440"], check=True)
    assert codes(text, str(tmp_path)) == set()


def test_a_repeat_key_that_is_also_an_option_is_a_hard_error():
    with pytest.raises(FlowError, match="digit_conflict"):
        load_text(VOICE.replace('{digit: "2", code: other}', '{digit: "0", code: other}'))


def test_lint_cli_lists_issues_and_strict_fails(tmp_path, capsys):
    path = tmp_path / "broken.yaml"
    path.write_text(VOICE.replace("办事效率请按1，其他请按2。", "办事效率请按1，其他请按3。"),
                    encoding="utf-8")
    assert main(["flows", "lint", str(path)]) == 0
    assert main(["flows", "lint", "--strict", str(path)]) == 1
    out = capsys.readouterr().out
    assert "why: warning digit_conflict: prompt (zh): announces key 3" in out
    assert load_flow(path).id == "t-voice"
