"""Keypad menus: question (grade or choice), staff_rating, confirm, reasons,
language. All share one behaviour: play the prompt, collect digits, re-prompt
on invalid or no input up to ``max_attempts`` (with their own prompts), replay
on the repeat key, leave by ``exhausted`` (or end the call) when attempts run
out. Grades come from ratings.grades.Grade only: a keypad digit becomes a grade
through ``Grade.keypad``, never through a table in a flow file.
"""

from __future__ import annotations

from typing import Any

from flows import effects as fx
from flows import events as ev
from flows.session import EXPIRED
from ratings.grades import Grade


class Menu:
    """question, staff_rating, confirm, reasons, language: play, collect digits,
    re-prompt on invalid or no input up to max_attempts, repeat on the repeat key."""

    def options(self, step, node) -> dict[str, tuple[Any, str | None]]:
        """digit → (value, next node)."""
        raise NotImplementedError

    def choose(self, step, node, value) -> None:
        pass

    def enter(self, step, node):
        step.play(node)
        return self.collect(step, node)

    def collect(self, step, node):
        keys = list(self.options(step, node))
        repeat = step.flow.setting(node, "repeat_key")
        longest = max(len(k) for k in keys)
        valid = "".join(dict.fromkeys("".join(keys) + (repeat or "")))
        return step.wait(fx.CollectDigits(
            valid, longest, "#" if longest > 1 else None,
            step.flow.setting(node, "timeout_ms"), step.flow.setting(node, "inter_digit_ms"),
            repeat))

    def resume(self, step, node, event):
        s, options = step.session, self.options(step, node)
        if isinstance(event, ev.Timeout):
            step.stat("no_input", attempt=s.attempts + 1)
            return self.retry(step, node, "no_input_prompt")
        digits = event.digits.rstrip("#") if len(event.digits) > 1 else event.digits
        repeat = step.flow.setting(node, "repeat_key")
        if repeat and digits == repeat and s.repeats < step.flow.setting(node, "max_repeats"):
            s.repeats += 1
            step.stat("repeat", digits=digits)
            return self.enter(step, node)
        if digits not in options:
            step.stat("invalid", digits=digits[:8], attempt=s.attempts + 1)
            return self.retry(step, node, "invalid_prompt")
        value, target = options[digits]
        step.stat("digit", digits=digits, value=value)
        self.choose(step, node, value)
        return target

    def retry(self, step, node, prompt_field):
        s = step.session
        s.attempts += 1
        if s.attempts >= step.flow.setting(node, "max_attempts"):
            step.stat("exhausted", attempts=s.attempts)
            return self.exhausted(step, node)
        step.play(node, prompt_field)
        return self.enter(step, node)

    def exhausted(self, step, node):
        if node.get("exhausted"):
            return node["exhausted"]
        return step.end(EXPIRED, "no_input")


class GradeQuestion(Menu):
    default_store = "grade"

    def options(self, step, node):
        return {g.keypad: (g.id, node.get("next")) for g in Grade}

    def choose(self, step, node, value):
        step.session.vars[node.get("store", self.default_store)] = value


class StaffRating(GradeQuestion):
    default_store = "staff_grade"


class ChoiceQuestion(Menu):
    def options(self, step, node):
        return {c["digit"]: (c.get("value", c["digit"]), c.get("next") or node.get("next"))
                for c in node["choices"]}

    def choose(self, step, node, value):
        if node.get("store"):
            step.session.vars[node["store"]] = value


class Confirm(Menu):
    def options(self, step, node):
        return {node.get("confirm_key", "1"): ("confirm", node.get("next")),
                node.get("change_key", "2"): ("change", node["change"])}


class Reasons(Menu):
    def options(self, step, node):
        return {o["digit"]: (o["code"], o.get("next") or node.get("next"))
                for o in node["options"]}

    def choose(self, step, node, value):
        step.session.vars[node.get("store", "reasons")] = [value]


class Language(Menu):
    def options(self, step, node):
        return {o["digit"]: (o["lang"], node.get("next")) for o in node["options"]}

    def choose(self, step, node, value):
        step.session.lang = value
        step.effects.append(fx.SetLanguage(value))

    def exhausted(self, step, node):  # keep the default language and go on
        return node.get("exhausted") or node.get("next")
