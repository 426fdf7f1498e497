"""The text that tells an evaluator their problem was rectified (seed art. 15).

One function composes it, for the preview on the case page and for the message
sent on 已整改, so the supervisor sees exactly what goes out, with its length and
SMS segments (``sms.segments``). The signature comes from configuration (the SMS
channel's ``sms.http.sign_name``). The note is the supervisor's own words: white
space folded, its closing punctuation dropped (the sentence ends with one 。),
and a long note shortened at a clause boundary (，。；！？ or a space) with "…",
never inside a Latin word or a number. No steering, no request to rate again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from ratings.model import CHINA
from sms import segments
from sms.texts import DEFAULT_SIGNATURE

NOTE_LIMIT = 70  # characters of the note in the text (the whole stays within 2 segments)
_BREAKS = "，。；！？,.;!? 、"
_CLOSING = "。．.！!；;，,、 "


@dataclass(frozen=True)
class Preview:
    text: str
    length: int  # characters
    segments: int
    encoding: str
    note_shortened: bool


def clean_note(note: str, limit: int = NOTE_LIMIT) -> tuple[str, bool]:
    """(note as it goes into the text, shortened?)"""
    note = re.sub(r"\s+", " ", note).strip().rstrip(_CLOSING)
    if len(note) <= limit:
        return note, False
    head = note[:limit]
    cut = max(head.rfind(ch) for ch in _BREAKS)
    if cut >= limit // 2:
        head = head[:cut]
    else:  # no clause boundary: do not end inside a Latin word or a number
        word = re.search(r"[0-9A-Za-z]+$", head)
        if word and note[limit:limit + 1].isalnum() and word.start() >= limit // 2:
            head = head[:word.start()]
    return head.rstrip(_CLOSING) + "…", True


def compose(rec: dict, note: str, signature: str = DEFAULT_SIGNATURE) -> str:
    when = datetime.fromisoformat(rec["assessed_at"]).astimezone(CHINA)
    text, _shortened = clean_note(note)
    sign = signature.strip("【】 ") or DEFAULT_SIGNATURE
    return (f"【{sign}】您好，您于{when.month}月{when.day}日反映的服务问题已整改完毕"
            + (f"：{text}" if text else "") + "。感谢您的监督。")


def preview(rec: dict, note: str, signature: str = DEFAULT_SIGNATURE) -> Preview:
    text = compose(rec, note, signature)
    info = segments.count(text)
    return Preview(text, len(text), info.segments, info.encoding, clean_note(note)[1])
