"""An independent check of a parse: is there evidence in the text for the grade read?

Written without the grammar's lexer or roles: a grade is only acceptable if the folded
text contains a grade word naming it, or a digit/numeral that means it on the
convention's scale. Used by the property tests and the atheris fuzzer.
"""

from __future__ import annotations

import re

from ratings.grades import Grade
from sms.grammar import ParsedReply, ReplyConvention
from sms.grammar_lexicon import GRADE_WORDS, NUMERALS, POLARITY_WORDS
from sms.grammar_normalise import fold

GOOD = (Grade.VERY_SATISFIED, Grade.SATISFIED)
# Written out by hand, not taken from the lexicon: with any of these in a reply, it
# must never come out 满意 or 非常满意.
NEGATIVE = ("不满", "唔满", "冇满", "不太满", "不大满", "不很满", "不是很满", "不是太满",
            "不怎么满", "唔系好满", "唔太满", "差评", "👎")


# Written out by hand (seed art. 9), not taken from Grade.
SEED_SCORES = {10: Grade.VERY_SATISFIED, 8: Grade.SATISFIED, 6: Grade.BASICALLY_SATISFIED,
               3: Grade.DISSATISFIED, 0: Grade.VERY_DISSATISFIED}
SCORE = re.compile(r"(?<![0-9.])(\d+|[零〇一二三四五六七八九十壹贰叁肆伍陆柒捌玖拾])分")


def evidence(text: str, convention: ReplyConvention) -> set[Grade]:
    folded = "".join(fold(text).text.split())  # spaces may sit inside a grade word
    found: set[Grade] = set()
    for word, grade in GRADE_WORDS.items():
        if word in folded:
            found.add(grade)
            found |= POLARITY_WORDS.get(word, set())
    for number in SCORE.findall(fold(text).text):  # the seed's scores: 10/8/6/3/0 分
        value = NUMERALS.get(number, number)
        if value.isdigit() and int(value) in SEED_SCORES:
            found.add(SEED_SCORES[int(value)])
    for ch in folded:
        digit = NUMERALS.get(ch, ch)
        if len(digit) == 1 and digit.isdigit():
            grade = convention.digit_scale.grade(digit)
            if grade is not None:
                found.add(grade)
    return found


def check(text: str, convention: ReplyConvention, got: ParsedReply) -> None:
    """Raise AssertionError if ``got`` reads a grade the text gives no evidence for."""
    assert got.intent.value in {"rating", "reason", "follow_up", "opt_out", "help", "unknown",
                                "ambiguous"}
    if got.grade is None:
        return
    assert got.intent.value in ("rating", "follow_up"), got
    assert got.grade in evidence(text, convention), (text, got)
    squeezed = "".join(fold(text).text.split())
    if any(word in squeezed for word in NEGATIVE):
        assert got.grade not in GOOD, (text, got)
    if got.code is not None:
        assert got.code in fold(text).text, (text, got)
    # a rating always has exactly one grade and never any reasons
    assert got.reasons == ()
