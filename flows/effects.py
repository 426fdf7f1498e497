"""Effects: what the engine asks a channel to do (engine → channel).

Every effect is a frozen dataclass that serialises to a JSON object with a
``type`` field (``effect_to_dict`` / ``effect_from_dict``). The engine returns
a list of effects from ``start``/``resume``; the channel runs them in order.
At most one effect in a list *waits* (``WAITS`` is true) and it is always the
last one: the channel then resumes the engine with exactly one event
(see ``flows.events``). The channel owns the timer for a wait's timeout and
resumes with ``Timeout()`` when it expires.

    effect            waits  resumed with
    Play              no     -
    CollectDigits     yes    Digits | Timeout | HangUp
    Record            yes    RecordingDone | Timeout | HangUp
    SendSms           no     -
    WaitReply         yes    Reply | Timeout
    SubmitEvaluation  yes    EvaluationResult (| HangUp: the result is then still due)
    SetLanguage       no     -
    Hangup            no     - (the session has ended)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import ClassVar


@dataclass(frozen=True)
class Effect:
    TYPE: ClassVar[str] = ""
    WAITS: ClassVar[bool] = False


@dataclass(frozen=True)
class Play(Effect):
    """Play one prompt. ``audio`` is a WAV path relative to the flow file, or None
    (the channel then synthesises ``text``). With ``barge_in`` a key press stops
    the prompt and counts as input of the collection that follows."""

    TYPE: ClassVar[str] = "play"
    prompt_id: str
    text: str
    lang: str
    audio: str | None = None
    barge_in: bool = True


@dataclass(frozen=True)
class CollectDigits(Effect):
    """Collect DTMF. Collection ends as soon as ``max_digits`` digits are in, or on
    ``terminator`` (None: no terminator), or ``inter_digit_ms`` after the last
    digit. ``timeout_ms`` is the wait for the first digit. ``valid_digits`` lists
    the keys that mean something here (the repeat key included); the channel
    reports any key, the engine judges validity."""

    TYPE: ClassVar[str] = "collect_digits"
    WAITS: ClassVar[bool] = True
    valid_digits: str
    max_digits: int = 1
    terminator: str | None = None
    timeout_ms: int = 6000
    inter_digit_ms: int = 3000
    repeat_key: str | None = "0"


@dataclass(frozen=True)
class Record(Effect):
    """Record the caller (voice comment). Ends on ``end_key``, after ``silence_ms``
    of silence, or at ``max_seconds``; resumed with RecordingDone."""

    TYPE: ClassVar[str] = "record"
    WAITS: ClassVar[bool] = True
    max_seconds: int = 60
    end_key: str | None = "#"
    silence_ms: int = 3000


@dataclass(frozen=True)
class SendSms(Effect):
    """Send one SMS to the session's evaluator (the channel knows the number)."""

    TYPE: ClassVar[str] = "send_sms"
    text: str


@dataclass(frozen=True)
class WaitReply(Effect):
    """Wait for the evaluator's next SMS reply, at most ``timeout_s`` seconds."""

    TYPE: ClassVar[str] = "wait_reply"
    WAITS: ClassVar[bool] = True
    timeout_s: int = 86400


@dataclass(frozen=True)
class SubmitEvaluation(Effect):
    """Hand one evaluation to the intake. The channel fills in what it knows
    (target id, evaluator, source id) and resumes with EvaluationResult —
    ``accepted=False, reason="duplicate"`` lets the flow say "already evaluated".

    ``target`` is ``"item"`` or ``"staff"`` (seed art. 10); ``grade`` is a
    ``ratings.grades.Grade`` id; ``reasons`` are reason codes (flows.reasons).
    ``reason_missing`` (``no_input`` / ``invalid``) says that a bad grade comes
    without a reason because the caller chose none in the reason menu: the grade
    is still the caller's, and the channel adds a note marked as system text
    (the engine never writes words in the caller's name)."""

    TYPE: ClassVar[str] = "submit_evaluation"
    WAITS: ClassVar[bool] = True
    target: str
    grade: str
    reasons: tuple[str, ...] = ()
    comment: str = ""
    assess_number: int = 1
    voice_comment: str | None = None
    flow_id: str = ""
    flow_version: str = ""
    reason_missing: str | None = None


@dataclass(frozen=True)
class SetLanguage(Effect):
    """The caller chose a language; later prompts come in it (zh, yue, en)."""

    TYPE: ClassVar[str] = "set_language"
    lang: str


@dataclass(frozen=True)
class Hangup(Effect):
    """End the call. The session is over when this is emitted."""

    TYPE: ClassVar[str] = "hangup"
    reason: str = "completed"


EFFECT_TYPES: dict[str, type[Effect]] = {
    cls.TYPE: cls
    for cls in (Play, CollectDigits, Record, SendSms, WaitReply, SubmitEvaluation,
                SetLanguage, Hangup)
}


def effect_to_dict(effect: Effect) -> dict:
    data = asdict(effect)
    for key, value in data.items():
        if isinstance(value, tuple):
            data[key] = list(value)
    return {"type": effect.TYPE, **data}


def effect_from_dict(data: dict) -> Effect:
    try:
        cls = EFFECT_TYPES[data["type"]]
    except KeyError as exc:
        raise ValueError(f"unknown effect type {data.get('type')!r}") from exc
    kwargs = {}
    for f in fields(cls):
        if f.name in data:
            value = data[f.name]
            kwargs[f.name] = tuple(value) if isinstance(value, list) else value
    return cls(**kwargs)
