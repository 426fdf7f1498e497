"""Events: what a channel tells the engine (channel → engine), and the
statistics events the engine records about every step.

A channel resumes a waiting session with exactly one input event. Which input
events a wait accepts is fixed by the waiting effect (see ``flows.effects``);
any other is a caller mistake and ``flows.engine.resume`` raises a coded
``EngineError``. Input events serialise like effects: a JSON object with a
``type`` field.

``StatEvent`` is different: the engine appends them to the session (entered,
digit, invalid, no_input, timeout, hangup, completed, failed …), each with its
node id, flow id and flow version, so statistics can count per node and per
flow version (seed art. 19) without knowing how the engine works. They carry
no phone number and no free text typed by the evaluator.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import ClassVar


@dataclass(frozen=True)
class Event:
    TYPE: ClassVar[str] = ""


@dataclass(frozen=True)
class Digits(Event):
    """Keys pressed during a CollectDigits (or barge-in into the Play before it).
    ``method``: how they arrived — "rfc2833", "info", "inband", "sim"."""

    TYPE: ClassVar[str] = "digits"
    digits: str
    method: str = "rfc2833"


@dataclass(frozen=True)
class Timeout(Event):
    """The wait's timeout expired with no (complete) input."""

    TYPE: ClassVar[str] = "timeout"


@dataclass(frozen=True)
class HangUp(Event):
    """The caller hung up (voice) or the conversation was closed (messaging)."""

    TYPE: ClassVar[str] = "hangup"


@dataclass(frozen=True)
class RecordingDone(Event):
    """A Record effect finished; ``ref`` names the stored recording."""

    TYPE: ClassVar[str] = "recording_done"
    ref: str
    seconds: float = 0.0


@dataclass(frozen=True)
class Reply(Event):
    """An SMS reply from the evaluator, raw text (parsed by the ReplyGrammar)."""

    TYPE: ClassVar[str] = "reply"
    text: str


@dataclass(frozen=True)
class EvaluationResult(Event):
    """Outcome of a SubmitEvaluation. ``reason`` when refused: "duplicate",
    "invalid", "unavailable" …"""

    TYPE: ClassVar[str] = "evaluation_result"
    accepted: bool
    reason: str = ""


EVENT_TYPES: dict[str, type[Event]] = {
    cls.TYPE: cls
    for cls in (Digits, Timeout, HangUp, RecordingDone, Reply, EvaluationResult)
}


def event_to_dict(event: Event) -> dict:
    return {"type": event.TYPE, **asdict(event)}


def event_from_dict(data: dict) -> Event:
    try:
        cls = EVENT_TYPES[data["type"]]
    except KeyError as exc:
        raise ValueError(f"unknown event type {data.get('type')!r}") from exc
    return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})


# -- statistics --------------------------------------------------------------

STAT_KINDS = (
    "started", "entered", "digit", "repeat", "invalid", "no_input", "timeout",
    "exhausted", "hangup", "recorded", "reply", "unparsed_reply", "submitted", "rejected",
    "expired", "interrupted",
    "completed", "failed",
)


@dataclass(frozen=True)
class StatEvent:
    """One countable thing that happened at a node. ``at`` is ISO-8601 (from the
    ``now`` the caller passed in). ``detail`` holds codes only (a digit, a grade
    id, a reason code), never evaluator text."""

    kind: str
    node: str
    flow_id: str
    flow_version: str
    at: str
    detail: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"kind": self.kind, "node": self.node, "flow_id": self.flow_id,
                "flow_version": self.flow_version, "at": self.at, "detail": dict(self.detail)}

    @classmethod
    def from_dict(cls, data: dict) -> StatEvent:
        return cls(**data)
