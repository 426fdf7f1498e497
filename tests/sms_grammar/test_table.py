"""The golden table of real-looking replies, plus the convention's other settings."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from ratings.grades import Grade
from sms.grammar import (
    DEFAULT,
    DigitScale,
    Intent,
    ParsedReply,
    ReplyConvention,
    parse,
)

_spec = importlib.util.spec_from_file_location("replies", Path(__file__).with_name("replies.py"))
replies = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(replies)


def test_the_table_is_large():
    assert len(replies.RATING_ROWS) + len(replies.REASON_ROWS) >= 150
    texts = [row[0] for row in replies.RATING_ROWS]
    assert len(texts) == len(set(texts)), "a reply appears twice in the table"


@pytest.mark.parametrize("row", replies.RATING_ROWS, ids=lambda row: repr(row[0]))
def test_rating_replies(row):
    text, intent, grade, code, comment, detail = row
    got = parse(text)
    expected_comment = text.strip() if comment is replies.WHOLE else comment
    assert (got.intent.value, got.grade.id if got.grade else None, got.code, got.comment,
            got.detail) == (intent, grade, code, expected_comment, detail)
    assert got.reasons == ()
    if intent not in ("rating", "follow_up"):
        assert got.grade is None  # nothing rated


@pytest.mark.parametrize("row", replies.REASON_ROWS, ids=lambda row: repr(row[0]))
def test_reason_replies(row):
    text, intent, reasons, code, comment, detail = row
    got = parse(text, expecting_reason=True)
    assert (got.intent.value, got.reasons, got.code, got.comment, got.detail) == (
        intent, reasons, code, comment, detail)
    assert got.grade is None


@pytest.mark.parametrize("text, grade", [
    ("5", Grade.VERY_SATISFIED), ("4", Grade.SATISFIED), ("3", Grade.BASICALLY_SATISFIED),
    ("2", Grade.DISSATISFIED), ("1", Grade.VERY_DISSATISFIED), ("伍", Grade.VERY_SATISFIED),
])
def test_exchange_scale_reads_digits_the_other_way(text, grade):
    convention = ReplyConvention(digit_scale=DigitScale.EXCHANGE)
    assert parse(text, convention).grade is grade
    assert grade.exchange_code == int(text) if text.isdigit() else True


@pytest.mark.parametrize("scale", list(DigitScale))
def test_every_scale_agrees_with_grade(scale):
    for digit in "0123456789":
        got = parse(digit, ReplyConvention(digit_scale=scale))
        expected = scale.grade(digit)
        assert got.grade is expected
        assert got.intent is (Intent.RATING if expected else Intent.AMBIGUOUS)


def test_words_mean_the_same_on_every_scale():
    for scale in DigitScale:
        convention = ReplyConvention(digit_scale=scale)
        assert parse("非常不满意", convention).grade is Grade.VERY_DISSATISFIED
        assert parse("A3 满意", convention).grade is Grade.SATISFIED


@pytest.mark.parametrize("text, intent, grade, code", [
    ("1234 2", "rating", "satisfied", "1234"),
    ("2 1234", "rating", "satisfied", "1234"),
    ("123456：非常满意", "rating", "very_satisfied", "123456"),
    ("１２３４ ５", "rating", "very_dissatisfied", "1234"),
    ("12", "ambiguous", None, None),
    ("123", "ambiguous", None, None),
    ("1234", "unknown", None, "1234"),
    ("1234567 2", "rating", "satisfied", None),  # 7 digits: a phone or item number, text
    ("A3 1", "ambiguous", None, None),  # letters and digits are no code here
    ("1234 5678 1", "ambiguous", None, None),
    ("2024年办的 满意", "rating", "satisfied", None),  # 2024年 is a year
])
def test_numeric_codes(text, intent, grade, code):
    got = parse(text, ReplyConvention.numeric_codes())
    assert (got.intent.value, got.grade.id if got.grade else None, got.code) == (
        intent, grade, code)


def test_pending_codes():
    pending = ["A3", "b7"]
    assert parse("A3 1", pending_codes=pending).grade is Grade.VERY_SATISFIED
    assert parse("B7 2", pending_codes=pending).code == "B7"
    unknown = parse("A9 1", pending_codes=pending)
    assert (unknown.intent, unknown.grade, unknown.code, unknown.detail) == (
        Intent.UNKNOWN, None, "A9", "unknown_code")
    assert parse("1", pending_codes=pending).code is None  # no code: the flow decides


@pytest.mark.parametrize("pattern", [r"[0-9]", r"[0-9]{1,4}", r"T", r"[A-Z]{1,2}", r"\w+"])
def test_a_code_pattern_that_could_read_a_digit_or_keyword_is_refused(pattern):
    with pytest.raises(ValueError):
        ReplyConvention(code_pattern=pattern)


def test_reason_menu_is_configurable():
    convention = ReplyConvention(reason_menu=("attitude", "efficiency"))
    assert parse("1", convention, expecting_reason=True).reasons == ("attitude",)
    assert parse("3", convention, expecting_reason=True).intent is Intent.AMBIGUOUS
    with pytest.raises(ValueError):
        ReplyConvention(reason_menu=("speed",))


def test_json_form_names_the_grade_never_a_digit():
    got = parse("A3 5 窗口态度太差")
    data = got.to_json()
    assert data == {"intent": "rating", "grade": "very_dissatisfied", "code": "A3",
                    "reasons": [], "comment": "窗口态度太差", "detail": "",
                    "opt_out": False, "flagged": False}
    assert ParsedReply.from_json(json.loads(json.dumps(data))) == got
    assert ParsedReply.from_json(parse("12").to_json()) == parse("12")


def test_default_convention_is_keypad_with_letter_codes():
    assert DEFAULT.digit_scale is DigitScale.KEYPAD
    assert DEFAULT.code_re.fullmatch("A3") and not DEFAULT.code_re.fullmatch("1")


EXCHANGE = ReplyConvention(digit_scale=DigitScale.EXCHANGE)


@pytest.mark.parametrize("text, convention", [
    ("满 不满意 4", EXCHANGE),  # 满不满意 swallowed 不满意 into a vague word; 4 = 满意
    ("满ℏ十分唔满\x00\x00\x00\x00意;满意意", DEFAULT),  # control characters inside 唔满意
    ("5差并不是很满", EXCHANGE),  # a cut-off 不是很满意
    ("不\u200b满意 5", EXCHANGE),  # a zero-width space inside 不满意
    ("5 不\u00ad满意", EXCHANGE),  # a soft hyphen
])
def test_fuzz_findings_are_never_read_as_good(text, convention):
    got = parse(text, convention)
    assert got.grade not in (Grade.SATISFIED, Grade.VERY_SATISFIED), got


@pytest.mark.parametrize("text, grade, opt_out", [
    ("满意 TD", Grade.SATISFIED, True), ("满意 退订", Grade.SATISFIED, True),
    ("4 TD", Grade.DISSATISFIED, True), ("A3 1 退订", Grade.VERY_SATISFIED, True),
    ("差评 别再发短信了", Grade.DISSATISFIED, True),
    ("别再发生这样的事 5", Grade.VERY_DISSATISFIED, False),
    ("以后别再发错 4", Grade.DISSATISFIED, False),
])
def test_a_grade_with_an_opt_out_is_kept_and_flags_the_opt_out(text, grade, opt_out):
    got = parse(text)
    assert (got.intent, got.grade, got.opt_out) == (Intent.RATING, grade, opt_out)


@pytest.mark.parametrize("row", [r for r in replies.RATING_ROWS if r[5] == "pressure"],
                         ids=lambda row: repr(row[0]))
def test_reported_pressure_is_flagged_for_a_supervisor(row):
    got = parse(row[0])
    assert (got.grade, got.flagged) == (None, True)
    assert not any(parse(r[0]).flagged for r in replies.RATING_ROWS if r[5] != "pressure")
