"""The fold: width, traditional characters, case, invisible characters, origins."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from sms import grammar_normalise
from sms.grammar import parse
from sms.grammar_normalise import fallback_t2s, fold

_spec = importlib.util.spec_from_file_location("replies", Path(__file__).with_name("replies.py"))
replies = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(replies)


@pytest.mark.parametrize("raw, folded", [
    ("１２３", "123"), ("ＴＤ", "TD"), ("ｔｄ", "TD"), ("a3", "A3"), ("①", "1"),
    ("滿意", "满意"), ("幾滿意", "几满意"), ("好評", "好评"), ("退訂", "退订"),
    ("不\u200b满意", "不满意"), ("1\ufe0f\u20e3", "1"), ("不\x00满意", "不满意"),
    ("\u3000满意", " 满意"), ("１\n２", "1\n2"),
])
def test_fold(raw, folded):
    assert fold(raw).text == folded


def test_every_folded_character_knows_its_origin():
    raw = "Ａ３：非常滿意\u200b，謝謝！"
    folded = fold(raw)
    assert folded.text == "A3:非常满意,谢谢!"
    assert len(folded.origin) == len(folded.text)
    start = folded.text.index("谢谢")
    assert folded.original_span(start, start + 2) == "謝謝"  # the citizen's characters
    assert folded.original_span(0, len(folded.text)) == raw


def test_comment_keeps_what_the_citizen_wrote():
    got = parse("５，窗口態度太差。")
    assert got.comment == "窗口態度太差"


TRADITIONAL_ROWS = [row for row in replies.RATING_ROWS
                    if fallback_t2s(row[0]) != row[0] or "參" in row[0]]


@pytest.mark.parametrize("row", TRADITIONAL_ROWS, ids=lambda row: repr(row[0]))
def test_the_small_table_reads_the_traditional_rows_without_opencc(row, monkeypatch):
    monkeypatch.setattr(grammar_normalise, "_OPENCC", None)
    text, intent, grade = row[:3]
    got = parse(text)
    assert (got.intent.value, got.grade.id if got.grade else None) == (intent, grade)


def test_there_are_traditional_rows():
    assert len(TRADITIONAL_ROWS) >= 10
