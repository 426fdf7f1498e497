"""Frames around a grade word that make it something other than the citizen's answer.

A grade word is evidence, not an answer. The same 满意 is an answer in "满意，谢谢",
a rhetorical question in "哪里满意了", mockery in "满意个鬼" or "可太满意了呵呵",
someone else's satisfaction in "你们自己满意吧", and reported pressure in
"窗口的人叫我回满意" (seed art. 4: nobody may press or steer the evaluator). Only the
first is a grade; the others are asked again, and pressure is also flagged so that
a supervisor sees it. Opt-out, likewise, is a command, not a substring: "别再发了"
asks us to stop, "以后别再发生这种事" does not.

Every check here works on the folded text (sms.grammar_normalise) and on one grade
token's clause (since the last punctuation mark; a space does not end a clause).
These checks can only take a grade away, never give one (the property tests hold
the grammar to that).
"""

from __future__ import annotations

import re

from sms import grammar_lexicon as lex

# Why a grade word is not the citizen's answer (ParsedReply.detail).
RHETORICAL = "question"  # 哪里满意了, 满意？你觉得呢 (same detail as 满意吗)
SARCASM = "sarcasm"  # 满意个鬼, 可太满意了呵呵
NOT_OWN = "not_own"  # 你们自己满意吧: someone else's satisfaction
PRESSURE = "pressure"  # 窗口的人叫我回满意: flagged for a supervisor, never a grade
HEDGED = "vague"  # 应该满意吧, 满意吧可能: a guess, not a grade

_CLAUSE_END = "，。！？,.!?；;：:\n"
# A question word earlier in the clause makes the grade word rhetorical.
_QUESTION_BEFORE = re.compile(r"哪里|哪儿|哪|怎么|怎能|怎会|怎可能|如何|凭什么|难道|有什么|有啥|"
                              r"能不能|会不会|咋|啥")
# Anywhere in the reply: the citizen turns the question back, or laughs it off.
_RETORT = re.compile(r"你觉得呢|你说呢|你猜|你觉得[咧嘞]|开玩笑|逗我|搞笑")
# Mockery: 呵呵 (a cold laugh in Chinese texting), eye-rolls, 可太…了.
_MOCK = re.compile(r"呵呵|[🙄😒🙃😏😑]")
_SARCASM_AFTER = ("个屁", "个鬼", "才怪", "个毛", "个啥", "个头", "个锤子", "个DER", "个蛋", "个球",
                  "个P")
# Someone else is the one satisfied: 你们(自己)满意, 领导满意就行 — unless the person is
# the object (我对你们很满意, 给你们点赞, 让他满意).
_OTHERS = re.compile(r"(?<![对给跟为让令使向谢感])(你们|你|他们|她们|他|她|领导|人家|别人|大家|"
                     r"上面|单位)(自己)?(都|也|就|肯定|应该|会|一定|是)?\s*$")
# Reported pressure: somebody told the citizen what to reply.
_PRESSURE = re.compile(
    r"(?:(?:叫|让|要求|要|逼|喊|吩咐|交代|嘱咐|提醒|求|指导|教)(?:我|我们)"
    r"|说(?:要|让我|叫我)|说了?(?=一定|必须|务必))"
    r"(?:一定|必须|务必|最好|尽量|都|只能)?(?:要)?"
    r"(?:回复|回|选择|选|给个|给|打|评|发|填|点|按)")
# ... followed by an answer in the same clause (叫我回满意, 让我选1; not 让我回复什么).
_ANSWER_MARK = re.compile(r"[0-9零一二三四五六七八九十壹贰叁肆伍]|五星|满分|👍|👎")
_HEDGES = re.compile(r"可能|应该|也许|大概|或许|估计")
# An explicit request to stop the messages (not 别再发生…, 别再发错…).
STOP_REQUEST = re.compile(
    r"(?:不要|别|不用|请勿|勿|停止|不想|不需要|不必|甭|唔好)再?(?:给我|向我)?"
    r"(?:发送|发来|发|推送)(?:短信|信息|消息|这种短信|这类短信|这些)?(?:给我)?(?:了|啦|咯)?"
    r"(?=$|[^\w]|谢谢|谢了)")  # 发 then 生/错/现…: another verb, not a message


_CLAUSE_MARKS = frozenset(_CLAUSE_END)
_NEXT_CLAUSE_END = re.compile(f"[{re.escape(_CLAUSE_END)}]")


def clause_before(text: str, start: int) -> str:
    """The text of the clause that ends at ``start``."""
    begin = start
    while begin > 0 and text[begin - 1] not in _CLAUSE_MARKS:  # one pass, not one per mark
        begin -= 1
    return text[begin:start]


def clause_after(text: str, end: int) -> tuple[str, str]:
    """(rest of the clause after ``end``, the mark that ends it or "")."""
    found = _NEXT_CLAUSE_END.search(text, end)
    stop = found.start() if found else len(text)
    return text[end:stop], text[stop] if stop < len(text) else ""


def grade_frame(text: str, start: int, end: int) -> str:
    """Why the grade word at text[start:end] is not the citizen's own answer, or ""."""
    before = clause_before(text, start)
    after, mark = clause_after(text, end)
    if any(after.startswith(word) for word in _SARCASM_AFTER) or before.endswith("可"):
        return SARCASM  # 满意个鬼, 可太满意了
    if _QUESTION_BEFORE.search(before) or (mark and mark in "?？"):
        return RHETORICAL  # 哪里满意了, 满意？你觉得呢, 还满意？等了三天
    if _OTHERS.search(before):
        return NOT_OWN
    if _HEDGES.search(before) or _HEDGES.search(after):
        return HEDGED
    return ""


def reply_frame(text: str) -> str:
    """A frame that concerns the whole reply: pressure, a retort, mockery; or ""."""
    squeezed = "".join(text.split())
    pressed = _PRESSURE.search(squeezed)
    if pressed:
        rest, _ = clause_after(squeezed, pressed.end())
        if _ANSWER_MARK.search(rest) or any(word in rest for word in lex.GRADE_WORDS):
            return PRESSURE
    if _RETORT.search(squeezed):
        return RHETORICAL
    if _MOCK.search(text):
        return SARCASM
    return ""


# Right before a command, these make it no command: 我不想退订, 没说退订, 怎么退订.
_NOT_A_COMMAND = re.compile(r"(?:不想|不要|不用|不会|不是|没说|没有|没要|别|不|没|未|无需|无须|"
                            r"怎么|如何|怎样|咋|什么|为什么|是否|要不要)\s*(?:说|要|去)?\s*$")


def not_a_command(before: str) -> bool:
    """The words right before 退订/TD negate or question it (我不想退订, 怎么退订)."""
    return _NOT_A_COMMAND.search(before) is not None


def asks_to_stop(text: str) -> bool:
    """An explicit request to stop the messages anywhere in the reply."""
    return STOP_REQUEST.search(text) is not None
