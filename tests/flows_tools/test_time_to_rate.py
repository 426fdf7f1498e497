"""Time to rate on the shipped hotline flow, per language, with the real prompt
lengths (espeak-ng at the speech rates of adapters.tts, 8 kHz as the IVR plays them)
driven through the engine on a simulated clock (flows.timing).

Issue 11 part 3: the grade question at most ~12 s in each language; a caller who
presses at once is rated in a couple of seconds; a silent caller is let go within
~20 s. ``python -m tests.flows_tools.test_time_to_rate`` prints the table that
docs/flows.md ("Time to rate") publishes.
"""

from __future__ import annotations

import sys
import tempfile
import wave
from functools import lru_cache
from pathlib import Path

import pytest

from adapters.tts import PromptCache
from flows.loader import shipped_flow
from flows.timing import Caller, time_call
from ratings.grades import Grade

LANGS = ("zh", "yue", "en")
SATISFIED = Grade.from_id("satisfied")
DISSATISFIED = Grade.from_id("dissatisfied")


def prompt_seconds(cache_dir: Path):
    cache = PromptCache(cache_dir, 8000)

    @lru_cache(maxsize=None)
    def seconds(text: str, lang: str) -> float:
        path = cache.synthetic(text, lang).path
        with wave.open(str(path)) as w:
            return w.getnframes() / w.getframerate()
    return seconds


def figures(durations) -> dict[str, dict[str, float]]:
    flow = shipped_flow("hotline-rating")
    question = flow.nodes["ask_grade"]
    out = {}
    for lang in LANGS:
        from flows.step import StepContext  # the engine's own template filling
        from flows.session import Session
        s = Session(flow.id, flow.version, "voice", "test", lang, {}, "", "", node="ask_grade")
        text = StepContext(flow, s).render(question, "prompt")[1]
        once = time_call(flow, Caller({"ask_grade": SATISFIED.keypad}, at_once=True),
                         durations, lang)
        listen = time_call(flow, Caller({"ask_grade": SATISFIED.keypad}), durations, lang)
        bad = time_call(flow, Caller({"ask_grade": DISSATISFIED.keypad, "ask_reason": "3"}),
                        durations, lang)
        silent = time_call(flow, Caller({}), durations, lang)
        out[lang] = {"question_s": round(durations(text, lang), 1),
                     "at_once_rated_s": once.rated_at, "at_once_call_s": once.ended_at,
                     "listens_rated_s": listen.rated_at, "listens_call_s": listen.ended_at,
                     "bad_with_reason_rated_s": bad.rated_at,
                     "silent_released_s": silent.ended_at}
        assert silent.rated_at is None and silent.end_reason == "not_rated"
    return out


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    return figures(prompt_seconds(tmp_path_factory.mktemp("prompts")))


@pytest.mark.parametrize("lang", LANGS)
def test_the_grade_question_is_short(table, lang):
    assert table[lang]["question_s"] <= 12.5, table[lang]


@pytest.mark.parametrize("lang", LANGS)
def test_a_caller_who_presses_at_once_is_rated_at_once(table, lang):
    assert table[lang]["at_once_rated_s"] <= 1.5, table[lang]  # the key, 1 s in


@pytest.mark.parametrize("lang", LANGS)
def test_a_caller_who_listens_is_rated_after_one_question(table, lang):
    assert table[lang]["listens_rated_s"] <= table[lang]["question_s"] + 1.5, table[lang]


@pytest.mark.parametrize("lang", LANGS)
def test_a_silent_caller_is_released_within_20_s(table, lang):
    assert table[lang]["silent_released_s"] <= 20.5, table[lang]


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        table = figures(prompt_seconds(Path(tmp)))
    cols = list(next(iter(table.values())))
    print("| lang | " + " | ".join(cols) + " |")
    print("|---" * (len(cols) + 1) + "|")
    for lang, row in table.items():
        print(f"| {lang} | " + " | ".join(f"{row[c]:.1f}" for c in cols) + " |")


if __name__ == "__main__":
    sys.exit(main())
