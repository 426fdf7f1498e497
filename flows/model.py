"""A loaded flow: the validated definition as data, plus its content version.

A ``Flow`` is immutable once built. ``version`` is a content hash of the
canonical JSON of the (migrated) definition, so two files with the same
meaning have the same version whatever their YAML layout, and any change of a
prompt, digit or edge changes it. The version travels with every evaluation
(SubmitEvaluation.flow_version) and every statistics event.

Prompts: a node field such as ``prompt`` holds either the name of a shared
prompt (``prompts:`` at the top of the file) or a mapping of language →
text, where a text may be ``{text: ..., audio: file.wav}``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping

SPEC_VERSION = 2

QUESTION_DEFAULTS = {
    "timeout_ms": 6000,
    "inter_digit_ms": 3000,
    "max_attempts": 3,
    "max_repeats": 3,
    "repeat_key": "0",
    "barge_in": True,
    "max_no_input": None,  # time-outs that end a menu; None: max_attempts decides
}


def canonical_json(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def content_version(definition: Mapping) -> str:
    return hashlib.sha256(canonical_json(definition).encode()).hexdigest()[:12]


@dataclass(frozen=True)
class PromptText:
    prompt_id: str
    text: str
    lang: str
    audio: str | None


@dataclass(frozen=True)
class Flow:
    definition: Mapping[str, Any]
    version: str
    base_dir: str | None = None  # where relative audio paths are found
    nodes: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    @classmethod
    def from_definition(cls, definition: dict, base_dir: str | None = None) -> Flow:
        """Build from a definition already migrated and validated (flows.loader)."""
        frozen = json.loads(canonical_json(definition))  # a private deep copy
        nodes = {n["id"]: MappingProxyType(n) for n in frozen["nodes"]}
        return cls(MappingProxyType(frozen), content_version(frozen), base_dir,
                   MappingProxyType(nodes))

    # -- header ------------------------------------------------------------
    @property
    def id(self) -> str:
        return self.definition["id"]

    @property
    def name(self) -> str:
        return self.definition.get("name", self.id)

    @property
    def type(self) -> str:
        return self.definition["type"]

    @property
    def languages(self) -> list[str]:
        return list(self.definition.get("languages") or [self.default_language])

    @property
    def default_language(self) -> str:
        return self.definition.get("default_language", "zh")

    @property
    def start_node(self) -> str:
        return self.definition.get("start") or self.definition["nodes"][0]["id"]

    def setting(self, node: Mapping, name: str) -> Any:
        """A question setting: the node's own, else the flow's ``defaults``, else ours."""
        if name in node:
            return node[name]
        defaults = self.definition.get("defaults") or {}
        if name in defaults:
            return defaults[name]
        return QUESTION_DEFAULTS.get(name)

    # -- prompts -----------------------------------------------------------
    def prompt_variants(self, node: Mapping, field_name: str) -> tuple[str, Mapping] | None:
        """(prompt id, {lang: text-or-{text,audio}}) of a node's prompt field."""
        value = node.get(field_name)
        if value is None:
            return None
        if isinstance(value, str):
            return value, (self.definition.get("prompts") or {})[value]
        return f"{node['id']}.{field_name}", value

    def prompt(self, node: Mapping, field_name: str, lang: str) -> PromptText | None:
        found = self.prompt_variants(node, field_name)
        if found is None:
            return None
        prompt_id, variants = found
        used = lang if lang in variants else self.default_language
        if used not in variants:
            used = next(iter(variants))
        variant = variants[used]
        if isinstance(variant, str):
            return PromptText(prompt_id, variant, used, None)
        return PromptText(prompt_id, variant["text"], used, variant.get("audio"))

    def grade_label(self, grade_id: str, lang: str, fallback: str) -> str:
        labels = (self.definition.get("grade_labels") or {}).get(lang) or {}
        return labels.get(grade_id, fallback)
