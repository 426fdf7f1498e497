"""A flow session: everything the engine needs to resume, as JSON-able data.

A session does not embed its flow; it names it by id and content version.
``Session.from_json(text)`` gives the data back, and ``resume`` takes the flow
alongside, refusing a flow whose version differs from the session's (a flow
edited while an SMS conversation slept in Redis must not resume it at a node
that may no longer mean the same thing).

Statuses (as in goflow): ``waiting`` for an event, ``completed``,
``interrupted`` (hang-up, opt-out), ``expired`` (no reply before the wait
timed out and the flow had no timeout exit), ``failed`` (a failure inside the
flow, e.g. a template naming a missing value; see ``failure``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields, replace

from flows.events import StatEvent

WAITING = "waiting"
COMPLETED = "completed"
INTERRUPTED = "interrupted"
EXPIRED = "expired"
FAILED = "failed"
ENDED = (COMPLETED, INTERRUPTED, EXPIRED, FAILED)


class EngineError(Exception):
    """A caller mistake, with a stable ``code``:

    session_ended     resume of a session that is no longer waiting
    unexpected_event  an event the current wait does not accept
    flow_mismatch     the flow passed is not the one (or version) the session runs
    no_grammar        a reply arrived but no ReplyGrammar was passed in
    bad_trigger       start() with a language the flow does not speak
    """

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Trigger:
    """Why a session starts. ``kind``: "call" (hotline), "reminder" (SMS 24 h
    after completion), "invitation" (caller hung up before rating), "test".
    ``context`` holds codes and names the prompts may quote (item_name,
    reply_code, staff_id …) — never the evaluator's phone number."""

    kind: str = "call"
    context: dict[str, str] = field(default_factory=dict)
    lang: str | None = None


@dataclass
class Session:
    flow_id: str
    flow_version: str
    flow_type: str
    trigger: str
    lang: str
    context: dict[str, str]
    started_at: str
    updated_at: str
    status: str = WAITING
    node: str = ""
    wait: str | None = None  # TYPE of the waiting effect, e.g. "collect_digits"
    attempts: int = 0  # failed attempts at the current node
    repeats: int = 0  # repeat-key (and language-key) presses at the current node
    no_inputs: int = 0  # time-outs at the current node (a menu's max_no_input)
    vars: dict = field(default_factory=dict)  # grade, reasons, comment, result …
    path: list[str] = field(default_factory=list)  # node ids entered, in order
    stats: list[StatEvent] = field(default_factory=list)  # of the last step only
    failure: dict | None = None  # {"code": ..., "message": ...} when failed
    end_reason: str | None = None  # why it ended: completed, not_rated, duplicate, opt_out …

    flow = None  # the Flow it runs; not a field, never serialised

    def copy(self) -> Session:
        """An independent copy (containers copied; values are immutable)."""
        new = replace(
            self, context=dict(self.context), path=list(self.path), stats=list(self.stats),
            vars={k: list(v) if isinstance(v, list) else v for k, v in self.vars.items()},
            failure=dict(self.failure) if self.failure else None)
        new.flow = self.flow
        return new

    @property
    def ended(self) -> bool:
        return self.status in ENDED

    def to_dict(self) -> dict:
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data.update(context=dict(self.context), path=list(self.path),
                    vars={k: list(v) if isinstance(v, list) else v for k, v in self.vars.items()},
                    stats=[s.to_dict() for s in self.stats],
                    failure=dict(self.failure) if self.failure else None)
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_dict(cls, data: dict) -> Session:
        data = dict(data)
        data["stats"] = [StatEvent.from_dict(s) for s in data.get("stats") or []]
        return cls(**data)

    @classmethod
    def from_json(cls, text: str | bytes, flow=None) -> Session:
        """The session back from JSON; pass its ``flow`` so ``resume`` finds it."""
        session = cls.from_dict(json.loads(text))
        session.flow = flow
        return session
