"""Node handlers other than keypad menus (flows.menus), and the registry that
picks a handler for a node. See flows.step for the handler contract.
"""

from __future__ import annotations

import unicodedata

from flows import effects as fx
from flows import events as ev
from flows import menus
from flows.reasons import reason_code
from flows.session import COMPLETED, EXPIRED, INTERRUPTED
from flows.step import STOP, FlowFailure, StepContext
from ratings.grades import Grade, UnknownGrade

__all__ = ["STOP", "FlowFailure", "StepContext", "handler"]


class Play:
    def enter(self, step, node):
        step.play(node)
        return node.get("next")


class RecordComment:
    def enter(self, step, node):
        step.play(node)
        return step.wait(fx.Record(node.get("max_seconds", 60), node.get("end_key", "#"),
                                   node.get("silence_ms", 3000)))

    def resume(self, step, node, event):
        if isinstance(event, ev.RecordingDone):
            step.session.vars[node.get("store", "voice_comment")] = event.ref
            step.stat("recorded", seconds=event.seconds)
        else:
            step.stat("timeout")
        return node.get("next")


class Branch:
    def enter(self, step, node):
        value = switch_value(step.session, node["switch"], step.flow)
        target = node["cases"].get(value, node.get("default"))
        if target is None:
            raise FlowFailure("no_case", f"{node['id']}: no case for {node['switch']}={value}")
        return target


def switch_value(session, switch: str, flow=None) -> str:
    v = session.vars
    if switch.endswith(".needs_reason"):
        grade = v.get(switch.split(".")[0])
        return "true" if grade and Grade.from_id(grade).needs_reason else "false"
    if switch in ("grade", "staff_grade", "result"):
        return str(v.get(switch) or "none")
    if switch == "has_reason":  # what the exchange needs for a bad grade
        return "true" if v.get("reasons") or v.get("comment") else "false"
    if switch == "lang":
        return session.lang
    if switch == "reasons":
        return (v.get("reasons") or ["none"])[0]
    scope, _, key = switch.partition(".")
    if scope == "option":  # a flow option (``options:``), e.g. confirm_grade
        flow = flow or getattr(session, "flow", None)
        value = ((flow.definition.get("options") or {}) if flow is not None else {}).get(key)
        return "none" if value is None else str(value).lower()
    source = session.context if scope == "context" else v
    return str(source.get(key, "none"))


class SendSms:
    def enter(self, step, node):
        step.sms(node, "text")
        return node.get("next")


def _normalise(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip()


def _grade_of(value) -> Grade | None:
    if value is None or isinstance(value, Grade):
        return value
    try:
        return Grade.from_id(str(value))
    except UnknownGrade:
        return None


STOP_INTENTS = ("opt_out", "stop")


class WaitReply:
    def enter(self, step, node):
        return step.wait(fx.WaitReply(node.get("timeout_s", 86400)))

    def resume(self, step, node, event):
        s = step.session
        if isinstance(event, ev.Timeout):
            step.stat("timeout")
            return node.get("timeout") or step.end(EXPIRED, "no_reply")
        parsed = step.grammar.parse(event.text, expecting_reason=node["expect"] == "reasons")
        intent = getattr(parsed, "intent", "unknown")
        intent = str(getattr(intent, "value", intent))
        step.stat("reply", intent=intent)
        if intent in STOP_INTENTS:
            s.vars["opted_out"] = True
            return node.get("stop") or step.end(INTERRUPTED, "opt_out")
        if getattr(parsed, "code", None):
            s.vars["reply_code"] = parsed.code
        if self.take(step, node, event.text, parsed):
            return node.get("next")
        step.stat("unparsed_reply", attempt=s.attempts + 1)
        s.attempts += 1
        if s.attempts >= node.get("max_attempts", 3):
            step.stat("exhausted", attempts=s.attempts)
            return node.get("exhausted") or step.end(EXPIRED, "no_valid_reply")
        step.sms(node, "invalid_text")
        return self.enter(step, node)

    def take(self, step, node, text, parsed) -> bool:
        v, expect = step.session.vars, node["expect"]
        reasons = [c for c in (reason_code(str(r)) for r in (parsed.reasons or ())) if c]
        comment = (parsed.comment or "").strip()
        if expect == "grade":
            grade = _grade_of(parsed.grade)
            if grade is None:
                return False
            v[node.get("store", "grade")] = grade.id
            step.stat("digit", value=grade.id)
        elif expect == "reasons":
            wanted = _normalise(text)
            chosen = [o["code"] for o in node.get("options", []) if o["reply"] == wanted]
            reasons = chosen or reasons or (["other"] if comment else [])
            if not reasons:
                return False
            step.stat("digit", value=reasons[0])
        elif expect == "comment":
            comment = comment or text.strip()
            if not comment:
                return False
        if reasons:
            v[node.get("store", "reasons") if expect == "reasons" else "reasons"] = reasons
        if comment:
            v["comment"] = comment[:2000]
        return True


class Submit:
    def enter(self, step, node):
        s, target = step.session, node["target"]
        grade_var = node.get("grade_var", "grade" if target == "item" else "staff_grade")
        reasons_var = node.get("reasons_var", "reasons" if target == "item" else "staff_reasons")
        grade_id = s.vars.get(grade_var)
        if not grade_id:
            raise FlowFailure("no_grade", f"{node['id']}: nothing stored in {grade_var}")
        grade = Grade.from_id(grade_id)
        reasons = tuple(s.vars.get(reasons_var) or ())
        # a comment belongs to the rating it was given for: the caller's words and
        # recording about the service go with the item, a staff rating carries only a
        # recording made for it (a record node with ``store: staff_voice_comment``)
        comment = s.vars.get("comment", "") if target == "item" else ""
        voice = s.vars.get("voice_comment" if target == "item" else "staff_voice_comment")
        missing = None
        if grade.needs_reason and not (reasons or comment):
            # the reason menu ran out without a choice: the grade still counts,
            # marked so the channel adds a system note (never a reason code)
            missing = s.vars.get(f"{reasons_var}_missing")
            if not missing:
                raise FlowFailure("no_reason", f"{node['id']}: {grade.id} needs a reason")
        assess = int(s.context.get("assess_number") or node.get("assess_number", 1))
        return step.wait(fx.SubmitEvaluation(
            target, grade.id, reasons, comment, assess, voice,
            step.flow.id, step.flow.version, missing))

    def resume(self, step, node, event):
        v = step.session.vars
        if event.accepted:
            v["result"] = v[f"result_{node['target']}"] = "accepted"
            step.stat("submitted", target=node["target"])
            return node.get("next")
        v["result"] = v[f"result_{node['target']}"] = event.reason or "rejected"
        step.stat("rejected", target=node["target"], reason=event.reason)
        return node.get("rejected") or node.get("next")


class End:
    def enter(self, step, node):
        if step.flow.type == "voice":
            step.play(node)
        else:
            step.sms(node, "prompt")
        step.end(COMPLETED, node.get("reason", "completed"))
        return STOP


_HANDLERS = {
    "play": Play(), "staff_rating": menus.StaffRating(), "confirm": menus.Confirm(),
    "reasons": menus.Reasons(), "language": menus.Language(), "record": RecordComment(),
    "branch": Branch(), "send_sms": SendSms(), "wait_reply": WaitReply(), "submit": Submit(),
    "end": End(),
}
_QUESTIONS = {"grade": menus.GradeQuestion(), "choice": menus.ChoiceQuestion()}


def handler(node):
    if node["type"] == "question":
        return _QUESTIONS[node["mode"]]
    return _HANDLERS[node["type"]]
