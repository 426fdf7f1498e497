"""The fast path (sms.grammar_fast) answers exactly what the full grammar answers:
every row of the golden table, every form of the table, and generated short
replies, in both modes, on both digit scales, with and without pending codes."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sms.grammar import DigitScale, ReplyConvention, parse, parse_full
from sms.grammar_fast import FORMS, FastPath

_spec = importlib.util.spec_from_file_location("replies", Path(__file__).with_name("replies.py"))
replies = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(replies)

CONVENTIONS = [ReplyConvention(), ReplyConvention(digit_scale=DigitScale.EXCHANGE)]
PENDING = [None, (), ("A3",), ("a3", "B12")]
TEXTS = sorted({row[0] for row in replies.RATING_ROWS + replies.REASON_ROWS})


def same(text: str, convention, reason: bool, pending) -> None:
    fresh = FastPath(parse_full)  # a table filled by this very call, and then read
    full = parse_full(text, convention, expecting_reason=reason, pending_codes=pending)
    for _ in range(2):
        assert fresh.parse(text, convention, reason, pending) == full, text
    assert parse(text, convention, expecting_reason=reason, pending_codes=pending) == full


@pytest.mark.parametrize("convention", CONVENTIONS, ids=["keypad", "exchange"])
@pytest.mark.parametrize("reason", [False, True], ids=["rating", "reason"])
def test_every_golden_row(convention, reason):
    for text in TEXTS:
        for pending in PENDING:
            same(text, convention, reason, pending)


def test_the_table_covers_the_common_replies():
    hits = [t for t in TEXTS if t in FORMS]
    assert {"1", "５", "①", "满意", "不满意", "TD", "退订", "好评"} <= FORMS
    assert len(hits) >= 30, hits  # the fast path serves a good part of the golden table


@pytest.mark.parametrize("convention", CONVENTIONS, ids=["keypad", "exchange"])
def test_every_form(convention):
    for text in sorted(FORMS):
        for reason in (False, True):
            for pending in (None, ("A3",)):
                same(text, convention, reason, pending)


ALPHABET = "12345607９５① 。!？?满意不非常基本好差评很还行TDtdA3退订帮助追加👍"


@settings(max_examples=600)
@given(st.text(ALPHABET, max_size=6) | st.sampled_from(sorted(FORMS)),
       st.sampled_from(CONVENTIONS), st.booleans(), st.sampled_from(PENDING))
def test_generated_short_replies(text, convention, reason, pending):
    same(text, convention, reason, pending)


def test_a_reply_with_a_code_checks_the_pending_codes_every_time(monkeypatch):
    import sms.grammar_fast

    monkeypatch.setattr(sms.grammar_fast, "FORMS", FORMS | {"A3"})  # a form with a code
    fast = FastPath(parse_full)
    assert fast.parse("A3", ReplyConvention(), False, None).code == "A3"
    assert fast.parse("A3", ReplyConvention(), False, ("B1",)).detail == "unknown_code"


def per_character_tokenize(text: str) -> list:
    """sms.grammar_lexer.tokenize as it was before issue 16: one Token per plain
    character, merged into the run before it."""
    from sms import grammar_lexer as lx

    tokens: list = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        entry = lx._KEYWORDS.get(ch)
        if entry is not None:
            glued = bool(tokens) and tokens[-1].tok is lx.Tok.TEXT and tokens[-1].end == i
            match = entry[0 if glued else 1].match(text, i)
            if match and ch.isascii() and not lx._whole_latin_word(text, i, match.end()):
                match = None
            if match:
                word = "".join(match.group().split())
                kind, grade = lx._TABLE[word]
                tokens.append(lx.Token(lx.Tok.KEY, i, match.end(), word, kind, grade))
                i = match.end()
                continue
        stars = lx._STARS.match(text, i)
        if stars:
            tokens.append(lx.Token(lx.Tok.NUM, i, stars.end(), stars.group(), scale=True))
            i = stars.end()
            continue
        if ch.isascii() and ch.isalnum():
            match = lx._ALNUM.match(text, i)
            if match:
                tokens.append(lx._number_token(text, lx.Tok.ALNUM, i, match.end()))
                i = tokens[-1].end
                continue
        if ch in lx.NUMERALS:
            j = i + 1
            while j < n and text[j] in lx.NUMERALS:
                j += 1
            tokens.append(lx._number_token(text, lx.Tok.NUM, i, j))
            i = tokens[-1].end
            continue
        tok = lx.Tok.SEP if lx.is_separator(ch) else lx.Tok.TEXT
        if tokens and tokens[-1].tok is tok and tokens[-1].end == i:
            last = tokens.pop()
            tokens.append(lx.Token(tok, last.start, i + 1, last.text + ch))
        else:
            tokens.append(lx.Token(tok, i, i + 1, ch))
        i += 1
    return tokens


LEXER_ALPHABET = ALPHABET + "办事效率很高工作人员态度差等了天⭐★分钟星期，,.;OKGOODab \t\u200b"


@settings(max_examples=1500)
@given(st.text(LEXER_ALPHABET, max_size=40) | st.sampled_from(TEXTS))
def test_the_run_scanning_lexer_cuts_as_the_per_character_one(text):
    from sms.grammar_normalise import fold
    from sms.grammar_lexer import tokenize

    folded = fold(text).text
    assert tokenize(folded) == per_character_tokenize(folded)
