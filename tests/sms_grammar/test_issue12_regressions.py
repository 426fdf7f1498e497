"""Issue 12's false grades and false opt-out, written before the fix (they failed then).

A false grade files a rating the citizen did not give; a false opt-out loses the
rating and the citizen. Each class: one of the issue's own examples."""

from __future__ import annotations

import pytest

from ratings.grades import Grade
from sms.grammar import Intent, parse


@pytest.mark.parametrize("text", [
    "哪里满意了",  # rhetorical question
    "满意？你觉得呢",
    "满意个鬼",  # sarcasm
    "可太满意了呵呵",
    "你们自己满意吧",  # someone else's satisfaction
    "窗口的人叫我回满意",  # reported pressure (seed art. 4)
    "窗口的人叫我回1",
    "9分",  # a score that is none of the seed's 10/8/6/3/0
    "七分",
])
def test_no_false_grade(text):
    got = parse(text)
    assert got.grade is None, got
    assert got.intent is not Intent.OPT_OUT


@pytest.mark.parametrize("text", ["窗口的人叫我回满意", "工作人员让我回1"])
def test_reported_pressure_is_flagged_never_graded(text):
    got = parse(text)
    assert (got.grade, getattr(got, "flagged", False)) == (None, True)


def test_a_sentence_about_something_else_is_no_opt_out():
    got = parse("5 以后别再发生这种事")
    assert (got.intent, got.grade, getattr(got, "opt_out", False)) == (
        Intent.RATING, Grade.VERY_DISSATISFIED, False)


def test_grade_and_opt_out_records_the_grade_then_opts_out():
    got = parse("满意 TD")
    assert (got.intent, got.grade, getattr(got, "opt_out", False)) == (
        Intent.RATING, Grade.SATISFIED, True)


@pytest.mark.parametrize("text, grade", [
    ("给8分", Grade.SATISFIED), ("打10分", Grade.VERY_SATISFIED),
    ("0分", Grade.VERY_DISSATISFIED), ("6分", Grade.BASICALLY_SATISFIED),
    ("3分", Grade.DISSATISFIED),
])
def test_the_seed_scores_map_through_grade(text, grade):
    got = parse(text)
    assert got.grade is grade and grade is Grade.from_score(int(text.strip("给打分")))
