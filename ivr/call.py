"""One call = one asyncio task: SIP events in, engine resumes; engine effects out, media.

Theory of operation. The stack pushes ``DtmfSignal``/``MediaReady``/``CallEnded``
into ``deliver`` (the call's inbox). ``CallTask.run`` waits for media, starts
the flow engine, then runs each returned effect in order:

* ``Play``: resolve the WAV and play it to its end. With ``barge_in`` a key
  press stops it at once, and a prompt is skipped when keys are already
  waiting. Keys pressed during any prompt are kept (type-ahead).
* ``CollectDigits`` (a wait): take keys from the type-ahead buffer, then from
  the line. Ends at once when ``max_digits`` keys are in or the repeat key is
  the first key (a complete answer needs no ``#``), on the terminator, after
  ``inter_digit_ms`` since the last key, or ``timeout_ms`` with no key; keys
  beyond the answer stay buffered for the next question.
* ``Record`` (a wait): record the caller to the data dir until the end key,
  ``silence_ms`` of silence, ``max_seconds`` or hang-up.
* ``SubmitEvaluation`` (a wait): hand the evaluation to the intake through
  ``ivr.outcome``; also after the caller has hung up (the result is still due).
* ``SetLanguage`` switches the synthesised voice; ``Hangup`` ends the call.

The single event of the wait goes back to ``resume``. Every timer is here, not
in the engine. The maximum call duration is a deadline on every wait; when it
passes the call is hung up and the engine hears ``HangUp``. Every key press is
logged with its method and time since the call began (never the caller's number).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from flows.events import Digits, HangUp, RecordingDone, Timeout
from ivr.dtmf import KeyPress, KeyPressDeduper
from ivr.media import CallEnded, CallMedia, DtmfSignal, MediaReady
from ivr.metrics import IvrMetrics
from ivr.prompts import PromptLibrary

log = logging.getLogger("hcp.ivr.call")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class CallSettings:
    max_call_s: float = 600.0
    media_wait_s: float = 5.0
    recordings_dir: Path = Path("data/recordings")
    data_dir: Path = Path("data")


@dataclass
class CallFacts:
    """What the call knows that the flow does not: for the evaluation record."""

    call_id: str
    context: dict[str, str]
    caller: str | None = None  # E.164 when known; never logged
    lang: str = "zh"
    digits: list[tuple[str, str, float]] = field(default_factory=list)
    submitted: list[str] = field(default_factory=list)  # results: accepted/duplicate/…
    # what the caller heard: (prompt id, language, from, to) in seconds since the call
    # began, and when it began (ISO 8601 UTC): the console's call timeline
    prompts: list[tuple[str, str, float, float]] = field(default_factory=list)
    began_at: str = ""


class CallTask:
    def __init__(self, media: CallMedia, facts: CallFacts,
                 engine_start: Callable, engine_resume: Callable,
                 prompts: PromptLibrary, submit: Callable, metrics: IvrMetrics,
                 settings: CallSettings, clock: Callable[[], float] = time.monotonic):
        self.media = media
        self.facts = facts
        self.engine_start = engine_start
        self.engine_resume = engine_resume
        self.prompts = prompts
        self.submit = submit  # async (effect, facts, hung_up) -> EvaluationResult
        self.metrics = metrics
        self.settings = settings
        self.clock = clock
        self.inbox: asyncio.Queue = asyncio.Queue()
        self.dedupe = KeyPressDeduper()
        self.typeahead: deque[KeyPress] = deque()
        self.hung_up = False
        self.media_ready = False
        self.began = clock()
        facts.began_at = facts.began_at or utcnow().isoformat()
        self.deadline = self.began + settings.max_call_s
        self.session = None
        self._answer_key_at: float | None = None
        self._recordings = 0
        self.on_step = None  # async (session) -> None, after every start/resume

    # -- inbox ---------------------------------------------------------------------
    def deliver(self, event) -> None:
        """The stack's sink (called on the loop thread)."""
        self.inbox.put_nowait(event)

    def _take(self, event) -> None:
        if isinstance(event, DtmfSignal):
            press = self.dedupe.observe(event)
            if press is None:
                if event.whole or not event.end:
                    self.metrics.duplicate_signals.inc()
                return
            self.typeahead.append(press)
            self.metrics.digit(press.method)
            offset = press.at - self.began
            self.facts.digits.append((press.digit, press.method, round(offset, 3)))
            log.info("call %s key %s method %s at +%.3fs", self.facts.call_id, press.digit,
                     press.method, offset)
        elif isinstance(event, CallEnded):
            self.hung_up = True
        elif isinstance(event, MediaReady):
            self.media_ready = True

    async def _wait_input(self, until: float) -> bool:
        """Wait for one inbox event until ``until`` (monotonic); False on time-out."""
        if self.clock() >= self.deadline and not self.hung_up:
            log.info("call %s reached its maximum duration", self.facts.call_id)
            self.media.hangup()
            self.hung_up = True
            return False
        remaining = min(until, self.deadline) - self.clock()
        if remaining <= 0:
            return False
        try:
            event = await asyncio.wait_for(self.inbox.get(), remaining)
        except asyncio.TimeoutError:
            return False
        self._take(event)
        return True

    def _drain_inbox(self) -> None:
        while not self.inbox.empty():
            self._take(self.inbox.get_nowait())

    # -- the call ------------------------------------------------------------------------
    async def run(self) -> str:
        """Run the call to its end; returns the outcome (rated, duplicate, unrated …)."""
        media_by = self.clock() + self.settings.media_wait_s
        while not self.media_ready and not self.hung_up:
            if not await self._wait_input(media_by) and self.clock() >= media_by:
                break
        if not self.media_ready:
            self.media.hangup()
            return "no_media"
        self.session, effects = self.engine_start(utcnow())
        await self._stepped()
        hangups_told = 0
        while True:
            event = await self._run_effects(effects)
            if event is None:
                break
            if isinstance(event, HangUp):
                hangups_told += 1
                if hangups_told > 3:  # an engine that keeps asking a gone caller
                    log.error("call %s: flow keeps waiting after hang-up", self.facts.call_id)
                    break
            self.session, effects = self.engine_resume(self.session, event, utcnow())
            await self._stepped()
        if not self.hung_up:
            self.media.hangup()
        return self.outcome()

    async def _stepped(self) -> None:
        if self.on_step is not None:
            await self.on_step(self.session)

    def outcome(self) -> str:
        if "accepted" in self.facts.submitted:
            return "rated"
        if "duplicate" in self.facts.submitted:
            return "duplicate"
        if self.facts.submitted:
            return "refused"
        return "unrated"

    async def _run_effects(self, effects):
        """Run effects in order; the last may wait. Returns the event for resume, or
        None when the flow is over (Hangup, or nothing waits)."""
        for effect in effects:
            kind = effect.TYPE
            self._drain_inbox()
            if kind == "play":
                if not self.hung_up:
                    await self._play(effect)
            elif kind == "set_language":
                self.facts.lang = effect.lang
            elif kind == "collect_digits":
                return await self._collect(effect)
            elif kind == "record":
                return await self._record(effect)
            elif kind == "submit_evaluation":
                result = await self.submit(effect, self.facts, self.hung_up)
                self.facts.submitted.append("accepted" if result.accepted else result.reason)
                return result
            elif kind == "hangup":
                self.media.stop_play()
                self.media.hangup()
                return None
            else:  # SMS effects have no meaning on a voice call
                log.warning("call %s: effect %s ignored on a voice call", self.facts.call_id,
                            kind)
        return None

    async def _play(self, play) -> None:
        if play.barge_in and self.typeahead:
            return  # the caller already answered ahead of this prompt
        try:
            audio = await self.prompts.aresolve(play.text, play.lang or self.facts.lang,
                                                play.audio)
        except Exception:  # a prompt that cannot be made must not end the call
            log.exception("call %s: prompt %s unavailable", self.facts.call_id, play.prompt_id)
            return
        self._drain_inbox()
        if play.barge_in and self.typeahead:
            return
        self.media.play(audio.path)
        started = self.clock()
        if self._answer_key_at is not None:
            self.metrics.keypress_latency.observe(started - self._answer_key_at)
            self._answer_key_at = None
        ends = started + audio.seconds + 0.1
        while not self.hung_up and self.clock() < ends:
            await self._wait_input(ends)
            if play.barge_in and self.typeahead:
                break
        self.media.stop_play()
        # the call's timeline, as the caller hears it (docs/ivr.md, "Listening")
        stopped = self.clock()
        self.facts.prompts.append((play.prompt_id, play.lang or self.facts.lang,
                                   round(started - self.began, 3), round(stopped - self.began, 3)))
        log.info("call %s prompt %s/%s %.2fs played +%.3f..+%.3fs%s", self.facts.call_id,
                 play.prompt_id, play.lang or self.facts.lang, audio.seconds,
                 started - self.began, stopped - self.began,
                 " (barge-in)" if stopped < started + audio.seconds else "")

    async def _collect(self, collect):
        digits, method = "", ""
        until = self.clock() + collect.timeout_ms / 1000
        while True:
            while self.typeahead:
                press = self.typeahead.popleft()
                if collect.terminator and press.digit == collect.terminator:
                    return self._answered(digits or press.digit, press)
                digits += press.digit
                method = press.method
                if (len(digits) >= collect.max_digits
                        or (digits == collect.repeat_key and len(digits) == 1)):
                    return self._answered(digits, press)
                until = press.at + collect.inter_digit_ms / 1000
            if self.hung_up:
                return HangUp()
            if not await self._wait_input(until) and not self.typeahead:
                if self.hung_up:
                    return HangUp()
                if self.clock() >= until:
                    return Digits(digits, method) if digits else Timeout()

    def _answered(self, digits: str, press: KeyPress) -> Digits:
        self._answer_key_at = press.at
        return Digits(digits, press.method)

    async def _record(self, record):
        self._recordings += 1
        day = utcnow().strftime("%Y-%m-%d")
        safe_id = "".join(c if c.isalnum() else "_" for c in self.facts.call_id)[:64]
        path = self.settings.recordings_dir / day / f"{safe_id}-{self._recordings}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        self.media.start_recording(str(path))
        started = self.clock()
        ends = started + record.max_seconds
        while not self.hung_up and self.clock() < ends:
            await self._wait_input(min(ends, self.clock() + 0.1))
            if record.end_key and any(p.digit == record.end_key for p in self.typeahead):
                self.typeahead.clear()
                break
            if self.clock() - max(self.media.last_voice_at(), started) >= record.silence_ms / 1000:
                break
        self.media.stop_recording()
        seconds = round(self.clock() - started, 2)
        if self.media.last_voice_at() <= started or not path.exists():
            path.unlink(missing_ok=True)
            return HangUp() if self.hung_up else Timeout()
        try:
            ref = str(path.relative_to(self.settings.data_dir))
        except ValueError:
            ref = str(path)
        log.info("call %s recorded %.1fs comment %s", self.facts.call_id, seconds, ref)
        return RecordingDone(ref=ref, seconds=seconds)
