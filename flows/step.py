"""The step context node handlers work in: rendering prompts into effects,
waiting, ending. ``flows.engine.Step`` extends it with the run loop.

A handler's ``enter(step, node)`` and ``resume(step, node, event)`` append
effects to ``step.effects`` and return where to go: a node id, ``None`` (the
flow ends normally here) or ``STOP`` (the step is over: the session waits or
has ended). ``FlowFailure`` raised by a handler becomes a failed session.
"""

from __future__ import annotations

from typing import Any, Mapping

from flows import effects as fx
from flows.session import COMPLETED, WAITING
from ratings.grades import Grade

STOP = object()  # returned by a handler: the step is over


class FlowFailure(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class _Missing(dict):
    def __missing__(self, key):
        raise FlowFailure("template", f"prompt names {{{key}}}, which this session lacks")


class StepContext:
    """The helpers handlers use; flows.engine.Step adds the run loop."""

    def __init__(self, flow, session, grammar=None):
        self.flow, self.session, self.grammar = flow, session, grammar
        self.effects: list[fx.Effect] = []

    def stat(self, kind: str, node: str | None = None, **detail) -> None:  # pragma: no cover
        raise NotImplementedError

    # -- text ----------------------------------------------------------------
    def values(self) -> dict[str, Any]:
        s, out = self.session, dict(self.session.context)
        out["signature"] = self.flow.definition.get("signature", "")
        # Prompts name keys as {key_<grade id>}: the digit comes from Grade, not the text.
        for grade in Grade:
            out[f"key_{grade.id}"] = grade.keypad
        node = self.flow.nodes.get(s.node)
        out["repeat_key"] = (self.flow.setting(node, "repeat_key") if node else None) or ""
        out["language_key"] = ((node.get("language_key") or {}).get("key", "")
                               if node else "")
        for var in ("grade", "staff_grade"):
            if s.vars.get(var):
                grade = Grade.from_id(s.vars[var])
                out[f"{var}_name"] = self.flow.grade_label(grade.id, s.lang, grade.name_zh)
        return out

    def render(self, node: Mapping, field: str):
        prompt = self.flow.prompt(node, field, self.session.lang)
        if prompt is None:
            return None
        try:
            text = prompt.text.format_map(_Missing(self.values()))
        except (ValueError, IndexError) as exc:
            raise FlowFailure("template", f"{node['id']}.{field}: {exc}") from exc
        return prompt, text

    def play(self, node: Mapping, field: str = "prompt") -> None:
        found = self.render(node, field)
        if found:
            prompt, text = found
            barge = bool(self.flow.setting(node, "barge_in"))
            self.effects.append(fx.Play(prompt.prompt_id, text, prompt.lang, prompt.audio, barge))

    def sms(self, node: Mapping, field: str) -> None:
        found = self.render(node, field)
        if found:
            self.effects.append(fx.SendSms(found[1]))

    # -- waiting and ending ----------------------------------------------------
    def wait(self, effect: fx.Effect):
        self.effects.append(effect)
        self.session.status = WAITING
        self.session.wait = effect.TYPE
        return STOP

    def end(self, status: str, reason: str, hang_up: bool = True):
        s = self.session
        s.status, s.wait, s.end_reason = status, None, reason
        self.stat("completed" if status == COMPLETED else status, reason=reason)
        if hang_up and self.flow.type == "voice":
            self.effects.append(fx.Hangup(reason))
        return STOP


