"""The call task on the real flow engine with a fake media layer (unit test of ivr.call):
barge-in, type-ahead, repeat, maximum duration, voice comment. The SIPp and pjsua2
tests run the same task on real calls."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from flows import engine
from flows.events import EvaluationResult
from flows.loader import load_flow
from flows.session import Trigger
from ivr.call import CallFacts, CallSettings, CallTask
from ivr.media import CallEnded, DtmfSignal, MediaReady
from ivr.metrics import IvrMetrics
from ivr.prompts import PromptAudio

FLOW = load_flow(Path(__file__).parent / "flows" / "hotline_short.yaml")


class FakeMedia:
    call_id = "fake-1"

    def __init__(self):
        self.log: list[tuple] = []
        self.voice_at = 0.0

    def play(self, path):
        self.log.append(("play", path))

    def stop_play(self):
        self.log.append(("stop_play",))

    def start_recording(self, path):
        Path(path).write_bytes(b"RIFF")
        self.log.append(("record", path))

    def stop_recording(self):
        self.log.append(("stop_record",))

    def last_voice_at(self):
        return self.voice_at

    def hangup(self):
        self.log.append(("hangup",))

    def plays(self):
        return [e[1] for e in self.log if e[0] == "play"]


class FakePrompts:
    async def aresolve(self, text, lang, audio):
        return PromptAudio(text, 0.4)  # the "path" is the text: easy to assert


def make_task(tmp_path, max_call_s=30.0):
    media = FakeMedia()
    submitted = []

    async def submit(effect, facts, hung_up):
        submitted.append(effect)
        return EvaluationResult(True)

    task = CallTask(
        media, CallFacts("fake-1", {"ticket": "T"}),
        lambda now: engine.start(FLOW, Trigger("call", {}), now),
        lambda s, e, now: engine.resume(s, e, now),
        FakePrompts(), submit, IvrMetrics("test"),
        CallSettings(max_call_s=max_call_s, recordings_dir=tmp_path / "rec", data_dir=tmp_path))
    task.deliver(MediaReady(time.monotonic()))
    return task, media, submitted


def press(task, digit, after_s):
    loop = asyncio.get_running_loop()
    loop.call_later(after_s, lambda: task.deliver(DtmfSignal(digit, "info", time.monotonic())))


async def test_barge_in_stops_the_prompt_and_answers(tmp_path):
    task, media, submitted = make_task(tmp_path)
    press(task, "1", 0.1)
    assert await task.run() == "rated"
    first_play = media.log.index(("play", media.plays()[0]))
    assert media.log[first_play + 1] == ("stop_play",)
    assert submitted[0].grade == "very_satisfied"
    assert task.metrics.keypress_latency._sum.get() > 0  # the thanks prompt was timed


async def test_type_ahead_skips_the_next_prompt(tmp_path):
    task, media, submitted = make_task(tmp_path)
    press(task, "5", 0.05)
    press(task, "2", 0.05)  # reason typed ahead, together with the grade
    assert await task.run() == "rated"
    assert not any(p.startswith("原因") for p in media.plays())
    assert (submitted[0].grade, submitted[0].reasons) == ("very_dissatisfied", ("attitude",))


async def test_repeat_key_plays_the_question_again(tmp_path):
    task, media, submitted = make_task(tmp_path)
    press(task, "0", 0.1)
    press(task, "1", 0.7)
    assert await task.run() == "rated"
    assert media.plays()[:2] == [media.plays()[0]] * 2


async def test_caller_hang_up_ends_the_wait(tmp_path):
    task, media, submitted = make_task(tmp_path)
    asyncio.get_running_loop().call_later(0.1, lambda: task.deliver(CallEnded(0.0)))
    assert await task.run() == "unrated"
    assert task.session.status == "interrupted" and submitted == []


async def test_maximum_call_duration_hangs_up(tmp_path):
    task, media, submitted = make_task(tmp_path, max_call_s=0.6)
    assert await task.run() == "unrated"
    assert ("hangup",) in media.log
    assert task.session.status == "interrupted"


async def test_voice_comment_ends_on_pound_and_is_referenced(tmp_path):
    task, media, submitted = make_task(tmp_path)
    press(task, "4", 0.05)
    press(task, "5", 0.1)  # reason "other" -> record a comment

    def speak():
        media.voice_at = time.monotonic()
    for t in (0.9, 1.0, 1.1):
        asyncio.get_running_loop().call_later(t, speak)
    press(task, "#", 1.3)
    assert await task.run() == "rated"
    ref = submitted[0].voice_comment
    assert ref and ref.startswith("rec/") and (tmp_path / ref).exists()
    assert ("stop_record",) in media.log


async def test_silent_comment_is_no_comment(tmp_path):
    task, media, submitted = make_task(tmp_path)
    press(task, "4", 0.05)
    press(task, "5", 0.1)
    assert await task.run() == "rated"
    assert submitted[0].voice_comment is None
    assert not list((tmp_path / "rec").rglob("*.wav"))


# -- the shipped hotline flow (issue 11 part 3, issue 10 point 3) -----------------------

def shipped_task(tmp_path, context=None, prompt_s=0.4):
    from flows.loader import shipped_flow

    flow = shipped_flow("hotline-rating")
    media = FakeMedia()
    submitted = []

    class Prompts:
        async def aresolve(self, text, lang, audio):
            return PromptAudio(f"{lang}:{text}", prompt_s)

    async def submit(effect, facts, hung_up):
        submitted.append(effect)
        return EvaluationResult(True)

    ctx = dict(context or {})
    task = CallTask(
        media, CallFacts("fake-2", ctx),
        lambda now: engine.start(flow, Trigger("call", ctx, ctx.get("lang")), now),
        lambda s, e, now: engine.resume(s, e, now),
        Prompts(), submit, IvrMetrics("test"),
        CallSettings(max_call_s=30, recordings_dir=tmp_path / "rec", data_dir=tmp_path))
    return task, media, submitted


async def test_a_key_pressed_before_the_first_prompt_rates_with_one_key(tmp_path):
    """Type-ahead from the first moment: "2" arrives with the media, before any prompt."""
    task, media, submitted = shipped_task(tmp_path)
    task.deliver(DtmfSignal("2", "rfc2833", time.monotonic()))
    task.deliver(MediaReady(time.monotonic()))
    assert await task.run() == "rated"
    assert [(e.target, e.grade) for e in submitted] == [("item", "satisfied")]
    assert not any("请评价本次服务" in p for p in media.plays())  # the question was skipped
    assert [d for d, _m, _t in task.facts.digits] == ["2"]


async def test_language_from_the_context_and_the_language_key(tmp_path):
    task, media, submitted = shipped_task(tmp_path, {"lang": "yue"})
    task.deliver(MediaReady(time.monotonic()))
    press(task, "9", 0.1)  # 普通话按9
    press(task, "1", 0.3)
    assert await task.run() == "rated"
    assert media.plays()[0].startswith("yue:") and media.plays()[1].startswith("zh:")
    assert task.facts.lang == "zh" and submitted[0].grade == "very_satisfied"


async def test_silent_reason_menu_still_submits_the_bad_grade(tmp_path, monkeypatch):
    task, media, submitted = shipped_task(tmp_path, prompt_s=0.05)
    task.deliver(MediaReady(time.monotonic()))
    press(task, "4", 0.02)
    real = engine.resume

    def quick(s, e, now):  # the reason menu's 6 s timers, shortened for the test
        s2, effects = real(s, e, now)
        return s2, [type(x)(**{**x.__dict__, "timeout_ms": 200})
                    if x.TYPE == "collect_digits" else x for x in effects]
    task.engine_resume = quick
    assert await task.run() == "rated"
    [effect] = submitted
    assert (effect.grade, effect.reasons, effect.reason_missing) == ("dissatisfied", (),
                                                                     "no_input")
