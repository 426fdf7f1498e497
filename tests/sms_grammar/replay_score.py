"""Replay the citizen-style replies (replay/citizen_replies.tsv) through the grammar.

Each reply's outcome is one of: a grade id; ``ask`` (ambiguous, unknown, help: the
citizen is asked again); ``opt_out``; ``<grade>+opt_out`` (graded, then opted out);
``flag`` (reported pressure, seed art. 4: no grade, a supervisor sees it).

A *false grade* is a grade the citizen did not give (any grade other than the expected
one); a *false opt-out* is an opt-out the citizen did not ask for. Both must be 0.

    .venv/bin/python tests/sms_grammar/replay_score.py      # prints the score and misses
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sms.grammar import Intent, parse  # noqa: E402

REPLAY = Path(__file__).with_name("replay") / "citizen_replies.tsv"


def rows() -> list[tuple[str, str]]:
    out = []
    for line in REPLAY.read_text(encoding="utf-8").split("\n"):
        if line and not line.startswith("#"):
            expected, text = line.split("\t", 1)
            out.append((expected, text))
    return out


def outcome(text: str) -> str:
    got = parse(text)
    if got.intent is Intent.OPT_OUT:
        return "opt_out"
    if got.grade is not None:
        return got.grade.id + ("+opt_out" if getattr(got, "opt_out", False) else "")
    if getattr(got, "flagged", False):
        return "flag"
    return "ask"


def _grade(label: str) -> str | None:
    head = label.split("+")[0]
    return None if head in ("ask", "flag", "opt_out") else head


@dataclass
class Score:
    total: int
    accepted: int
    false_grades: list[tuple[str, str, str]]
    false_opt_outs: list[tuple[str, str, str]]
    misses: list[tuple[str, str, str]]  # (reply, expected, got)

    @property
    def percent(self) -> float:
        return 100.0 * self.accepted / self.total


def score() -> Score:
    data = rows()
    accepted, false_grades, false_opt_outs, misses = 0, [], [], []
    for expected, text in data:
        got = outcome(text)
        if got == expected:
            accepted += 1
            continue
        misses.append((text, expected, got))
        if _grade(got) is not None and _grade(got) != _grade(expected):
            false_grades.append((text, expected, got))
        if "opt_out" in got and "opt_out" not in expected:
            false_opt_outs.append((text, expected, got))
    return Score(len(data), accepted, false_grades, false_opt_outs, misses)


def main() -> int:
    s = score()
    print(f"{s.total} replies, {s.accepted} accepted ({s.percent:.1f} %), "
          f"{len(s.false_grades)} false grades, {len(s.false_opt_outs)} false opt-outs")
    for text, expected, got in s.misses:
        print(f"  miss: {text!r}: expected {expected}, got {got}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
