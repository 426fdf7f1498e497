"""Issue 12's bar on replies the golden table never saw: >= 97 % accepted outcomes,
no false grade, no false opt-out (replay/citizen_replies.tsv, replay_score.py)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

_spec = importlib.util.spec_from_file_location(
    "replay_score", Path(__file__).with_name("replay_score.py"))
replay = importlib.util.module_from_spec(_spec)
sys.modules["replay_score"] = replay  # dataclasses look their module up
_spec.loader.exec_module(replay)


def test_the_replay_set_is_large_and_new():
    texts = [text for _, text in replay.rows()]
    assert len(texts) >= 300 and len(set(texts)) == len(texts)
    golden_spec = importlib.util.spec_from_file_location(
        "replies", Path(__file__).with_name("replies.py"))
    golden = importlib.util.module_from_spec(golden_spec)
    golden_spec.loader.exec_module(golden)
    assert not set(texts) & {row[0] for row in golden.RATING_ROWS}


def test_no_false_grade_no_false_opt_out_and_97_percent_accepted():
    s = replay.score()
    assert s.false_grades == [], s.false_grades
    assert s.false_opt_outs == [], s.false_opt_outs
    assert s.percent >= 97.0, s.misses
