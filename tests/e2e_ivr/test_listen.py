"""Listening as a caller would: full calls in Mandarin and in Cantonese (reached with the
language key inside the grade question, "粤语按9"), recorded on the
caller's side (ivr.demo_call) against ``hcp serve``, compared with the worker's own
timeline (its ``prompt <id>/<lang> <seconds> played +a..+b`` log lines):

* every prompt the worker played, in the flow's order, is heard, for its length;
* a key pressed during a barge-in prompt stops it (the caller hears it stop);
* no silence longer than 3 s between a key and the next prompt.

With ``-s`` the Mandarin call's timeline is printed (docs/ivr.md, "Listening").
"""

from __future__ import annotations

import re
import wave
from array import array

import pytest

from ivr.demo_call import place_call
from ivr.outcome import call_id_of
from ratings.grades import Grade
from tests.e2e_ivr.harness import wait_records
from tests.ivr.audio import best_correlation, envelope, read_samples

# One xdist worker runs every "realtime" module in turn (scripts/test: --dist loadgroup):
# the SIP floods and call storms must not overlap the tests that time what a caller hears.
pytestmark = pytest.mark.xdist_group("realtime")

PROMPT_LINE = re.compile(r"call (?P<call>\S+) prompt (?P<id>[^/\s]+)/(?P<lang>\w+) "
                         r"(?P<len>[\d.]+)s played \+(?P<a>[\d.]+)\.\.\+(?P<b>[\d.]+)s"
                         r"(?P<barge> \(barge-in\))?")
KEY_LINE = re.compile(r"call (?P<call>\S+) key (?P<digit>\S) method \S+ at \+(?P<at>[\d.]+)s")


def worker_timeline(log: str, call_id: str) -> tuple[list[dict], list[tuple[str, float]]]:
    prompts = [dict(m.groupdict(), a=float(m["a"]), b=float(m["b"]), len=float(m["len"]))
               for m in PROMPT_LINE.finditer(log) if m["call"] == call_id]
    keys = [(m["digit"], float(m["at"])) for m in KEY_LINE.finditer(log)
            if m["call"] == call_id]
    return prompts, keys


def prompt_wavs(served) -> dict[float, str]:
    """The worker's rendered prompts by length (s, 2 decimals), from its prompt cache."""
    out = {}
    for path in (served.workdir / "data" / "prompts").rglob("*.wav"):
        with wave.open(str(path)) as w:
            out[round(w.getnframes() / w.getframerate(), 2)] = str(path)
    return out


def heard_during(segments, start: float, end: float) -> float:
    """Seconds of heard speech segments inside [start, end]."""
    return sum(max(0.0, min(b, end) - max(a, start)) for a, b in segments)


def listen(served, digits: str, ticket: str, barge_in: bool = False, timeout_s: int = 120):
    result = place_call(f"127.0.0.1:{served.sip_port}", digits, ticket=ticket, agent="A5",
                        barge_in=barge_in, timeout_s=timeout_s)
    assert result.sipp_rc == 0, result.sipp_output + served.log()[-2000:]
    prompts, keys = worker_timeline(served.log(), result.call_id)
    assert [k for k, _ in keys] == list(digits)
    # align the two clocks on the first key (caller: sent; worker: received)
    offset = result.heard.keys[0][1] - keys[0][1]
    return result, prompts, keys, offset


def check_heard(result, prompts, offset):
    segments = result.heard.segments()
    for p in prompts:
        start, end = p["a"] + offset, p["b"] + offset
        # espeak pauses at punctuation: at least half of the interval is speech
        assert heard_during(segments, start, end) >= 0.5 * (end - start), (p, segments)
        if not p["barge"]:
            assert abs((p["b"] - p["a"]) - p["len"]) < 0.3, p  # played to its end
    for digit, gap in result.heard.silence_after_keys():
        assert 0 <= gap <= 3.0, (digit, gap, result.heard.keys, segments)


@pytest.mark.slow  # two whole calls, every prompt heard to its end (~1 min)
def test_mandarin_and_cantonese_calls_sound_right(served):
    satisfied, very = Grade.from_id("satisfied"), Grade.from_id("very_satisfied")
    expected = ["ask_grade.prompt", "offer_staff_rating.prompt", "rate_staff.prompt",
                "thanks.prompt"]
    timelines = {}
    for lang, switch in (("zh", ""), ("yue", "9")):  # 9: the language key in the question
        digits = f"{switch}{satisfied.keypad}1{very.keypad}"
        result, prompts, keys, offset = listen(served, digits, f"LISTEN-{lang}")
        ids = [p["id"] for p in prompts]
        assert ids == ["ask_grade.prompt"] * len(switch) + expected
        assert prompts[0]["lang"] == "zh"  # Mandarin when the context names no language
        assert {p["lang"] for p in prompts[len(switch):]} == {lang}  # the switch holds
        check_heard(result, prompts, offset)
        timelines[lang] = (prompts, keys)
        call_id = call_id_of({}, result.call_id)
        assert len(wait_records(served.store,
                                lambda r, c=call_id: r["projectNo"].endswith(c), 2)) == 2
    # Cantonese prompts are other recordings than the Mandarin ones
    zh, yue = ({p["id"]: p["len"] for p in timelines[k][0]} for k in ("zh", "yue"))
    assert zh["ask_grade.prompt"] != yue["ask_grade.prompt"]
    print("\nMandarin call timeline (worker clock, s):")
    for p in timelines["zh"][0]:
        print(f"  {p['id']:<20} {p['lang']:<4} +{p['a']:.2f} .. +{p['b']:.2f}"
              f"  ({p['len']:.2f} s{', barge-in' if p['barge'] else ''})")
    for digit, at in timelines["zh"][1]:
        print(f"  key {digit} at +{at:.2f}")


def test_a_key_stops_the_prompt(served):
    """--barge-in presses 1 s into each prompt: the caller hears the prompt stop there."""
    good = Grade.from_id("basically_satisfied")
    result, prompts, keys, offset = listen(served, f"{good.keypad}12", "LISTEN-barge",
                                           barge_in=True, timeout_s=60)
    barged = [p for p in prompts if p["barge"]]
    assert [p["id"] for p in barged] == ["ask_grade.prompt", "offer_staff_rating.prompt",
                                         "rate_staff.prompt"], prompts
    heard = array("h")
    heard.frombytes(bytes(result.heard.pcm))
    wavs = prompt_wavs(served)
    for n, (p, (_digit, at)) in enumerate(zip(barged, keys, strict=True)):
        assert p["b"] - at < 0.2  # the worker stopped it at the key
        # what the caller hears right after the key is the next prompt's beginning,
        # not the rest of the one it interrupted
        following = prompts[prompts.index(p) + 1]
        start = int((at + offset - 0.2) * 8000)  # from just before the key
        window = envelope(heard[start:start + 14000])
        nxt = envelope(read_samples(wavs[following["len"]])[:8000])
        rest_from = int((at - p["a"]) * 8000)
        rest = envelope(read_samples(wavs[p["len"]])[rest_from:rest_from + 8000])
        to_next, to_rest = best_correlation(window, nxt), best_correlation(window, rest)
        assert to_next > 0.7 and to_next > to_rest, (n, p["id"], to_next, to_rest)
    check_heard(result, prompts, offset)
