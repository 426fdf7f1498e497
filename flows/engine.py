"""The pure flow interpreter.

Theory of operation
-------------------
``start(flow, trigger, now)`` creates a session and runs it from the start
node; ``resume(session, event, now)`` feeds one channel event into the node
the session waits at and runs on. Both return ``(session, effects)``: a new
session (the one passed in is not changed) and the effects for the channel,
in order, the last of which is the wait (if the session waits).

Running means: enter a node, let its handler (flows.nodes) append effects
and pick the next node, until a handler waits or the flow ends. Nothing here
reads a clock, a file or a socket: ``now`` comes from the caller and is only
written into the session and statistics; timeouts are data in the wait
effects, and the channel turns an expired timer into a ``Timeout`` event.

Two kinds of trouble, kept apart (as in goflow):
  * caller mistakes — resuming an ended session, an event the wait does not
    accept, the wrong flow — raise ``EngineError`` with a stable code;
  * failures inside the flow — a template naming a missing value, a submit
    with no grade, a loop that never waits — end the session with status
    ``failed``, a ``failed`` statistics event and (voice) a hang-up.

Every step appends ``StatEvent``s (entered, digit, invalid, no_input, timeout,
hangup, completed …) to ``session.stats``, which holds the last step's only:
the channel drains them after each call.
"""

from __future__ import annotations

from datetime import datetime

from flows import effects as fx
from flows import events as ev
from flows import nodes
from flows.events import StatEvent
from flows.model import Flow
from flows.session import (
    COMPLETED, ENDED, FAILED, INTERRUPTED, WAITING, EngineError, Session, Trigger,
)

MAX_STEPS = 200  # nodes entered in one call without waiting: a loop with no wait

ACCEPTS: dict[str, tuple[type, ...]] = {
    fx.CollectDigits.TYPE: (ev.Digits, ev.Timeout, ev.HangUp),
    fx.Record.TYPE: (ev.RecordingDone, ev.Timeout, ev.HangUp),
    fx.WaitReply.TYPE: (ev.Reply, ev.Timeout, ev.HangUp),
    fx.SubmitEvaluation.TYPE: (ev.EvaluationResult, ev.HangUp),
}


class Step(nodes.StepContext):
    """One call of start/resume: the session being changed and the effects out."""

    def __init__(self, flow: Flow, session: Session, now: datetime, grammar=None):
        super().__init__(flow, session, grammar)
        self.now = now.isoformat()
        session.updated_at = self.now
        session.stats = []

    def stat(self, kind: str, node: str | None = None, **detail) -> None:
        self.session.stats.append(StatEvent(
            kind, node or self.session.node, self.flow.id, self.flow.version, self.now, detail))

    def run(self, node_id: str | None) -> None:
        try:
            for _ in range(MAX_STEPS):
                if node_id is None:
                    return self.end(COMPLETED, "completed")
                if node_id is nodes.STOP:
                    return None
                node_id = self._enter(node_id)
            raise nodes.FlowFailure("loop", f"{MAX_STEPS} nodes without waiting")
        except nodes.FlowFailure as failure:
            self.fail(failure)
        return None

    def _enter(self, node_id: str):
        node = self.flow.nodes[node_id]
        s = self.session
        s.node, s.attempts, s.repeats, s.no_inputs, s.wait = node_id, 0, 0, 0, None
        s.path.append(node_id)
        self.stat("entered")
        return nodes.handler(node).enter(self, node)

    def resume(self, event: ev.Event) -> None:
        node = self.flow.nodes[self.session.node]
        self.session.wait = None
        try:
            target = nodes.handler(node).resume(self, node, event)
        except nodes.FlowFailure as failure:
            return self.fail(failure)
        return self.run(target)

    def fail(self, failure: nodes.FlowFailure) -> None:
        self.session.failure = {"code": failure.code, "message": failure.message}
        self.stat("failed", code=failure.code)
        self.session.status = FAILED
        self.session.wait = None
        self.session.end_reason = "failed"
        if self.flow.type == "voice":
            self.effects.append(fx.Hangup("failed"))


def start(flow: Flow, trigger: Trigger, now: datetime, *, grammar=None
          ) -> tuple[Session, list[fx.Effect]]:
    lang = trigger.lang or flow.default_language
    if lang not in flow.languages:
        raise EngineError("bad_trigger", f"flow {flow.id} does not speak {lang!r}")
    stamp = now.isoformat()
    session = Session(flow.id, flow.version, flow.type, trigger.kind, lang,
                      dict(trigger.context), stamp, stamp)
    session.flow = flow
    step = Step(flow, session, now, grammar)
    step.stat("started", flow.start_node, trigger=trigger.kind, lang=lang)
    step.run(flow.start_node)
    return session, step.effects


def resume(session: Session, event: ev.Event, now: datetime, *, flow: Flow | None = None,
           grammar=None) -> tuple[Session, list[fx.Effect]]:
    """Feed one event to a waiting session. ``flow`` defaults to the flow the
    session was started or loaded with (``Session.from_json(text, flow)``)."""
    flow = flow or getattr(session, "flow", None)
    if flow is None:
        raise EngineError("flow_mismatch", "no flow given for this session")
    if (flow.id, flow.version) != (session.flow_id, session.flow_version):
        raise EngineError("flow_mismatch", f"session runs {session.flow_id}@"
                          f"{session.flow_version}, not {flow.id}@{flow.version}")
    if session.status in ENDED or session.status != WAITING or not session.wait:
        raise EngineError("session_ended", f"session is {session.status}")
    if not isinstance(event, ACCEPTS[session.wait]):
        raise EngineError("unexpected_event",
                          f"{event.TYPE} while waiting on {session.wait} at {session.node}")
    if isinstance(event, ev.Reply) and grammar is None:
        raise EngineError("no_grammar", "a reply needs a ReplyGrammar to be parsed")
    new = session.copy()
    new.flow = flow
    step = Step(flow, new, now, grammar)
    if isinstance(event, ev.HangUp):
        step.stat("hangup", wait=session.wait)
        step.end(INTERRUPTED, "hangup", hang_up=False)
    else:
        step.resume(event)
    return new, step.effects
