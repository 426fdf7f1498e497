"""How a reminder told the citizen to reply: which scale a bare digit is on, what a
reply code looks like, and the numbered reason menu.

A digit becomes a grade only through ``Grade``'s own conversions (DESIGN.md: keypad,
exchange and GB/T codes are three scales). A code pattern that could read a grade
digit or a keyword is refused, so a code is never a grade and a grade never a code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum

from ratings.grades import Grade, UnknownGrade
from sms import grammar_lexicon as lex

REASON_CODES = tuple(lex.REASON_LABELS_ZH)  # efficiency, attitude, unresolved, process, other
REASON_LABELS_ZH = dict(lex.REASON_LABELS_ZH)


class DigitScale(str, Enum):
    """Which grade a bare reply digit means."""

    KEYPAD = "keypad"  # 1 = 非常满意 … 5 = 非常不满意 (hotline convention)
    EXCHANGE = "exchange"  # 5 = 非常满意 … 1 = 非常不满意 (national exchange)
    GBT = "gbt"  # GB/T 39046-2020: 1 = 非常满意

    def grade(self, digit: str) -> Grade | None:
        try:
            if self is DigitScale.KEYPAD:
                return Grade.from_keypad(digit)
            if self is DigitScale.EXCHANGE:
                return Grade.from_exchange_code(int(digit))
            return Grade.from_gbt_code(int(digit))
        except (UnknownGrade, ValueError):
            return None


LETTER_CODES = r"[A-Z][0-9]{1,3}"  # A3, B12
NUMERIC_CODES = r"[0-9]{4,6}"  # 4–6 digits


@dataclass(frozen=True)
class ReplyConvention:
    """How the reminder told the citizen to reply."""

    digit_scale: DigitScale = DigitScale.KEYPAD
    code_pattern: str = LETTER_CODES  # whole-token regex on the folded, upper-case text
    reason_menu: tuple[str, ...] = REASON_CODES  # digit 1 → reason_menu[0] …
    code_re: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        code_re = re.compile(self.code_pattern)
        object.__setattr__(self, "code_re", code_re)
        clashes = [w for w in [*"0123456789", *lex.LATIN_OPT_OUT, *lex.LATIN_OPT_OUT_ALONE,
                               *lex.LATIN_HELP, *lex.LATIN_CONNECT, *lex.LATIN_VAGUE]
                   if code_re.fullmatch(w)]
        if clashes:
            raise ValueError(f"code pattern {self.code_pattern!r} matches {clashes}: "
                             "a code must never read as a grade digit or a keyword")
        unknown = set(self.reason_menu) - set(REASON_CODES)
        if unknown or not 0 < len(self.reason_menu) <= 9:
            raise ValueError(f"reason menu must be 1–9 of {REASON_CODES}")

    @classmethod
    def letter_codes(cls, scale: DigitScale = DigitScale.KEYPAD) -> ReplyConvention:
        return cls(digit_scale=scale, code_pattern=LETTER_CODES)

    @classmethod
    def numeric_codes(cls, min_len: int = 4, max_len: int = 6,
                      scale: DigitScale = DigitScale.KEYPAD) -> ReplyConvention:
        return cls(digit_scale=scale, code_pattern=f"[0-9]{{{min_len},{max_len}}}")

    def reason_for_digit(self, digit: str) -> str | None:
        index = int(digit) - 1 if digit.isdigit() else -1
        return self.reason_menu[index] if 0 <= index < len(self.reason_menu) else None


DEFAULT = ReplyConvention()
