"""The five grades of seed art. 9, and every outside scale they travel on.

Keypad digits, SMS replies and the exchange's codes are three different scales
(DESIGN.md, "Codes the outside world uses"). This module is the only place that
knows them; everything else holds a ``Grade`` and asks it.

    grade   name (zh)    score  keypad  exchange (5-best)  GB/T 39046
    very_satisfied      非常满意  10  1  5  1
    satisfied           满意       8  2  4  2
    basically_satisfied 基本满意   6  3  3  3
    dissatisfied        不满意     3  4  2  4
    very_dissatisfied   非常不满意 0  5  1  5
"""

from __future__ import annotations

from enum import Enum


class UnknownGrade(ValueError):
    """A code, digit or name that maps to no grade on the scale asked for."""


class Grade(Enum):
    # value = (id, Chinese name, score, keypad digit, exchange code, GB/T 39046 code)
    VERY_SATISFIED = ("very_satisfied", "非常满意", 10, "1", 5, 1)
    SATISFIED = ("satisfied", "满意", 8, "2", 4, 2)
    BASICALLY_SATISFIED = ("basically_satisfied", "基本满意", 6, "3", 3, 3)
    DISSATISFIED = ("dissatisfied", "不满意", 3, "4", 2, 4)
    VERY_DISSATISFIED = ("very_dissatisfied", "非常不满意", 0, "5", 1, 5)

    @property
    def id(self) -> str:
        """Stable English identifier used in JSON, flows and the API."""
        return self.value[0]

    @property
    def name_zh(self) -> str:
        return self.value[1]

    @property
    def score(self) -> int:
        """Points of seed art. 9."""
        return self.value[2]

    @property
    def keypad(self) -> str:
        """Hotline keypad convention: 1 = 非常满意 … 5 = 非常不满意."""
        return self.value[3]

    @property
    def exchange_code(self) -> int:
        """National exchange ``satisfaction``: 5 = 非常满意 … 1 = 非常不满意."""
        return self.value[4]

    @property
    def gbt_code(self) -> int:
        """GB/T 39046-2020 satisfaction code: 1 = 非常满意."""
        return self.value[5]

    @property
    def needs_reason(self) -> bool:
        """The exchange refuses a grade below 基本满意 without reasons or a comment."""
        return self.exchange_code < 3

    @property
    def is_bad(self) -> bool:
        """不满意/非常不满意 open a callback case (seed art. 15)."""
        return self.needs_reason

    @classmethod
    def from_id(cls, value: str) -> Grade:
        for grade in cls:
            if grade.id == value:
                return grade
        raise UnknownGrade(f"unknown grade {value!r}; expected one of {[g.id for g in cls]}")

    @classmethod
    def from_keypad(cls, digit: str) -> Grade:
        for grade in cls:
            if grade.keypad == digit:
                return grade
        raise UnknownGrade(f"keypad digit {digit!r} is not a grade")

    @classmethod
    def from_exchange_code(cls, code: int) -> Grade:
        for grade in cls:
            if grade.exchange_code == code:
                return grade
        raise UnknownGrade(f"exchange satisfaction code {code!r} is not a grade")

    @classmethod
    def from_gbt_code(cls, code: int) -> Grade:
        for grade in cls:
            if grade.gbt_code == code:
                return grade
        raise UnknownGrade(f"GB/T 39046 code {code!r} is not a grade")

    @classmethod
    def from_score(cls, score: int) -> Grade:
        for grade in cls:
            if grade.score == score:
                return grade
        raise UnknownGrade(f"score {score!r} is not a grade")
