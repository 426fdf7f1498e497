"""Time to rate: a voice flow driven with a simulated clock and prompt lengths.

The engine reads no clock, so how long a caller needs to rate is a property of the
flow's shape and of its prompts' lengths. ``time_call`` plays a call the way the
IVR's call task (ivr.call) runs it, on a simulated clock:

* a ``Play`` lasts ``durations(text, lang)`` seconds (+0.1 s, the call task's end
  margin); with ``barge_in`` a key the caller has pressed stops it, and a prompt
  is skipped when a key is already waiting (type-ahead);
* a ``CollectDigits`` takes the waiting key at once, else waits for the caller's
  key or its ``timeout_ms`` (then ``Timeout``);
* a ``SubmitEvaluation`` is accepted at once; its moment is the *time to rate*.

A caller is a ``Caller``: which key it presses at each menu (by node id; none =
silent there) and when — ``at_once``: ``react_s`` after the menu's first prompt
begins (the caller knows the keys), ``listens``: ``react_s`` after the menu's last
prompt ends. Durations come from the channel (the IVR measures its rendered
WAVs); this module stays pure (no IO, no clock), like the engine.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from flows import effects as fx
from flows import events as ev
from flows.engine import resume, start
from flows.model import Flow
from flows.session import Trigger

PLAY_MARGIN_S = 0.1  # ivr.call plays audio.seconds + 0.1
_EPOCH = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)


@dataclass(frozen=True)
class Caller:
    keys: dict[str, str]  # node id → digit; a menu not named here hears silence
    at_once: bool = False
    react_s: float = 1.0


@dataclass
class Timing:
    rated_at: float | None = None  # first SubmitEvaluation (None: not rated)
    ended_at: float = 0.0  # Hangup
    end_reason: str | None = None
    submitted: list[tuple[str, str, float]] = field(default_factory=list)  # target, grade, t
    prompts: list[tuple[str, float, float]] = field(default_factory=list)  # id, start, end


def time_call(flow: Flow, caller: Caller, durations: Callable[[str, str], float],
              lang: str | None = None, context: dict | None = None,
              max_steps: int = 100) -> Timing:
    out, t = Timing(), 0.0
    session, effects = start(flow, Trigger("call", dict(context or {}), lang), _EPOCH)
    for _ in range(max_steps):
        node = session.node if session.wait == fx.CollectDigits.TYPE else None
        digit = caller.keys.get(node) if node else None
        key_at = t + caller.react_s if (digit and caller.at_once) else None
        event = None
        for effect in effects:
            if isinstance(effect, fx.Play):
                if effect.barge_in and key_at is not None and key_at <= t:
                    continue  # type-ahead: the caller already answered
                ends = t + durations(effect.text, effect.lang) + PLAY_MARGIN_S
                if effect.barge_in and key_at is not None and key_at < ends:
                    ends = key_at
                out.prompts.append((effect.prompt_id, round(t, 2), round(ends, 2)))
                t = ends
            elif isinstance(effect, fx.CollectDigits):
                if digit is None:
                    t += effect.timeout_ms / 1000
                    event = ev.Timeout()
                else:
                    t = max(t, key_at if key_at is not None else t + caller.react_s)
                    event = ev.Digits(digit, "sim")
            elif isinstance(effect, fx.Record):
                t += effect.max_seconds
                event = ev.Timeout()
            elif isinstance(effect, fx.SubmitEvaluation):
                out.submitted.append((effect.target, effect.grade, round(t, 2)))
                if out.rated_at is None:
                    out.rated_at = round(t, 2)
                event = ev.EvaluationResult(True)
            elif isinstance(effect, fx.Hangup):
                out.ended_at, out.end_reason = round(t, 2), effect.reason
        if event is None or session.ended:
            out.ended_at = round(t, 2)
            return out
        session, effects = resume(session, event, _EPOCH + timedelta(seconds=t))
    raise RuntimeError(f"{flow.id}: the call did not end in {max_steps} steps")
