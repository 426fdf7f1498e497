"""Helpers for the flow tests: a tiny reply grammar (the real one is sms/grammar.py)
and a driver that runs a session through a list of events."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import datetime, timezone

import pytest

from flows.engine import resume, start
from flows.loader import load_text, shipped_flow
from flows.session import Trigger
from ratings.grades import Grade, UnknownGrade

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=timezone.utc)


@dataclass
class FakeParsed:
    intent: str
    grade: Grade | None = None
    code: str | None = None
    reasons: tuple[str, ...] = ()
    comment: str = ""


class FakeGrammar:
    """Just enough of a reply grammar for engine tests: a keypad digit or a grade
    name is a grade, TD is stop, a reason label is a reason, other text a comment."""

    def parse(self, text: str, *, expecting_reason: bool = False) -> FakeParsed:
        t = unicodedata.normalize("NFKC", text).strip()
        if t.upper() == "TD":
            return FakeParsed("opt_out")
        for grade in sorted(Grade, key=lambda g: -len(g.name_zh)):
            if t == grade.name_zh:
                return FakeParsed("rating", grade)
        try:
            return FakeParsed("rating", Grade.from_keypad(t))
        except UnknownGrade:
            pass
        if t in ("办事效率", "服务态度", "问题未解决", "流程繁琐", "其他"):
            return FakeParsed("reason", reasons=(t,))
        if t:
            return FakeParsed("comment", comment=t)
        return FakeParsed("unknown")


@pytest.fixture
def grammar():
    return FakeGrammar()


class Driver:
    """Runs one session; keeps every effect and statistics event seen."""

    def __init__(self, flow, trigger=None, grammar=None):
        self.flow, self.grammar = flow, grammar or FakeGrammar()
        self.session, self.effects = start(flow, trigger or Trigger(), NOW)
        self.all_effects = list(self.effects)
        self.stats = list(self.session.stats)

    def send(self, *events):
        for event in events:
            self.session, self.effects = resume(self.session, event, NOW, grammar=self.grammar)
            self.all_effects += self.effects
            self.stats += self.session.stats
        return self

    def texts(self):
        return [getattr(e, "text", None) for e in self.effects if hasattr(e, "text")]

    def of_type(self, effect_type):
        return [e for e in self.all_effects if e.TYPE == effect_type]


@pytest.fixture
def hotline():
    return shipped_flow("hotline-rating")


@pytest.fixture
def drive():
    return Driver


def flow_from(text: str):
    return load_text(text)
