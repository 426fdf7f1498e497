"""Keypad menus: question (grade or choice), staff_rating, confirm, reasons,
language. All share one behaviour: play the prompt, collect digits, re-prompt
on invalid or no input up to ``max_attempts`` (with their own prompts), replay
on the repeat key, leave by ``exhausted`` (or end the call) when attempts run
out — ``max_attempts`` counts invalid keys and time-outs, ``max_no_input`` (when
set) only time-outs, so a silent caller can be let go after one question while
a caller who mistypes still gets other tries. Grades come from
ratings.grades.Grade only: a keypad digit becomes a grade through
``Grade.keypad``, never through a table in a flow file.

A menu may offer a language key as one option among others (``language_key:
{key: "9", to: {zh: yue, yue: zh}}``): the key switches the session's language
(SetLanguage) and asks the same question again in it; like the repeat key it
costs no attempt and is bounded by ``max_repeats``. It is never a menu of its
own in front of the question, so a caller who answers at once is not misread.

A reason menu that runs out of attempts (the caller chose no reason) marks
``vars[<store>_missing]`` (``no_input`` / ``invalid``) before it leaves by
``exhausted``: a submit then still records the bad grade (flows.nodes.Submit).
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
        valid = "".join(dict.fromkeys("".join(keys) + (repeat or "")
                                      + (language_switch(step, node)[0] or "")))
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
        key, lang = language_switch(step, node)
        if key and digits == key and s.repeats < step.flow.setting(node, "max_repeats"):
            s.repeats += 1
            step.stat("language", digits=digits, lang=lang)
            s.lang = lang
            step.effects.append(fx.SetLanguage(lang))
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
        why = "no_input" if prompt_field == "no_input_prompt" else "invalid"
        if why == "no_input":
            s.no_inputs += 1
        max_no_input = step.flow.setting(node, "max_no_input")
        if (s.attempts >= step.flow.setting(node, "max_attempts")
                or (why == "no_input" and max_no_input and s.no_inputs >= max_no_input)):
            step.stat("exhausted", attempts=s.attempts)
            return self.exhausted(step, node, why)
        step.play(node, prompt_field)
        return self.enter(step, node)

    def exhausted(self, step, node, why: str = "no_input"):
        if node.get("exhausted"):
            return node["exhausted"]
        return step.end(EXPIRED, "no_input")


def language_switch(step, node) -> tuple[str | None, str | None]:
    """(key, language it switches to) of a menu's language key in the session's
    language; (None, None) when the node has none for this language."""
    spec = node.get("language_key")
    if not spec:
        return None, None
    target = (spec.get("to") or {}).get(step.session.lang)
    return (spec["key"], target) if target else (None, None)


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

    def exhausted(self, step, node, why: str = "no_input"):
        # no reason chosen: say so for the submit, invent none (seed art. 4)
        step.session.vars[f"{node.get('store', 'reasons')}_missing"] = why
        return super().exhausted(step, node, why)


class Language(Menu):
    def options(self, step, node):
        return {o["digit"]: (o["lang"], node.get("next")) for o in node["options"]}

    def choose(self, step, node, value):
        step.session.lang = value
        step.effects.append(fx.SetLanguage(value))

    def exhausted(self, step, node, why: str = "no_input"):  # keep the language, go on
        return node.get("exhausted") or node.get("next")
