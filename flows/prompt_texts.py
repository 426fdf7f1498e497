"""Every text a voice flow can speak, filled in as the engine would fill it.

``hcp prompts render`` pre-renders prompt audio before the first call, so it
must produce exactly the strings the engine puts into ``Play.text`` (the audio
cache is keyed by text). Filling follows ``flows.step.StepContext.values``:
``{key_<grade>}`` from ``Grade``, ``{repeat_key}`` from the node's setting,
``{signature}``; ``{grade_name}`` / ``{staff_grade_name}`` depend on the
caller's choice, so such a text becomes one variant per grade. Placeholders
from the call context (``{item_name}``, ``{staff_id}`` …) cannot be known in
advance: those texts are listed with ``needs`` and rendered at call time.

Pure: no IO, like the engine. Messaging flows speak nothing and yield nothing.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from typing import Iterator

from flows.model import Flow
from ratings.grades import Grade

SPOKEN_FIELDS = ("prompt", "no_input_prompt", "invalid_prompt")
GRADE_VARS = ("grade", "staff_grade")


@dataclass(frozen=True)
class SpokenText:
    prompt_id: str     # as in Play.prompt_id: "<node>.<field>" or a shared prompt name
    lang: str          # the language of the text (the voice), as in Play.lang
    text: str          # filled text; raw template when ``needs`` is not empty
    audio: str | None  # recorded WAV named by the flow (relative to the flow file)
    variant: str = ""  # e.g. "grade=dissatisfied" for a text naming the chosen grade
    needs: tuple[str, ...] = ()  # context values only a real call has

    @property
    def renderable(self) -> bool:
        return not self.needs


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def fixed_values(flow: Flow, node) -> dict[str, str]:
    """Values every session has at this node: grade keys, repeat and language key,
    signature."""
    values = {"signature": flow.definition.get("signature", ""),
              "repeat_key": flow.setting(node, "repeat_key") or "",
              "language_key": (node.get("language_key") or {}).get("key", "")}
    for grade in Grade:
        values[f"key_{grade.id}"] = grade.keypad
    return values


def _grade_choices(template: str, flow: Flow, session_lang: str):
    """(variant label, values) for each combination of grades the text names."""
    named = [var for var in GRADE_VARS if f"{var}_name" in _fields(template)]
    if not named:
        yield "", {}
        return
    # One grade variable per text is the shipped case; several multiply out.
    combos: list[tuple[str, dict]] = [("", {})]
    for var in named:
        combos = [(f"{label},{var}={g.id}".lstrip(","),
                   {**vals, f"{var}_name": flow.grade_label(g.id, session_lang, g.name_zh)})
                  for label, vals in combos for g in Grade]
    yield from combos


def spoken_texts(flow: Flow) -> Iterator[SpokenText]:
    """Each distinct (prompt, language, filled text) a call of this flow may play."""
    if flow.type != "voice":
        return
    seen = set()
    for node in flow.nodes.values():
        fixed = fixed_values(flow, node)
        for field in SPOKEN_FIELDS:
            # The engine picks the prompt in the session's language, falling back to
            # the default one; walking the session languages reproduces that choice.
            for session_lang in flow.languages:
                prompt = flow.prompt(node, field, session_lang)
                if prompt is None:
                    continue
                for variant, chosen in _grade_choices(prompt.text, flow, session_lang):
                    values = {**fixed, **chosen}
                    needs = tuple(sorted(_fields(prompt.text) - set(values)))
                    text = prompt.text if needs else prompt.text.format_map(values)
                    key = (prompt.prompt_id, prompt.lang, text)
                    if key in seen:
                        continue
                    seen.add(key)
                    yield SpokenText(prompt.prompt_id, prompt.lang, text, prompt.audio,
                                     variant, needs)
