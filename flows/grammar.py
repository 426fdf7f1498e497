"""The reply-grammar interface the engine parses SMS replies through.

The engine does not know how Chinese SMS replies are read (full-width digits,
"非常满意谢谢", 满意 inside 不满意 …); the SMS channel does (sms/grammar.py) and
passes an object with this shape to ``flows.engine.resume``. Keeping it a
Protocol keeps ``flows`` the lowest layer.

``parse(text, expecting_reason=...)``: ``expecting_reason`` is true when the
flow has just asked why (after a bad grade), so reply digits are reason-menu
numbers, not grades. ``sms.grammar`` (the module) fits this protocol as is.

``ParsedReply`` fields the engine uses:
  intent   "opt_out" (or "stop") ends the conversation; other intents
           ("rating", "reason", "help", "unknown", "ambiguous" …) are judged by
           the fields below
  grade    a ratings.grades.Grade, or its id, or None (no certain grade)
  code     the reply code the evaluator quoted (several pending items), or None
  reasons  reason codes from flows.reasons.REASON_CODES (or their Chinese labels)
  comment  free text, "" if none
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class ParsedReplyLike(Protocol):
    intent: str
    grade: Any
    code: str | None
    reasons: Any
    comment: str


@runtime_checkable
class ReplyGrammar(Protocol):
    def parse(self, text: str, *, expecting_reason: bool = False) -> ParsedReplyLike: ...
