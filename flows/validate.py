"""Validation: the hard errors that stop a flow from loading.

Two layers, both pure: the published JSON Schema (flows/schema/flow.schema.json)
checks shape, then structural checks that a schema cannot express — unique
node ids, edges that lead somewhere, node types allowed in the flow's channel,
unambiguous keypad menus. Review issues that a supervisor should look at but
that do not break the engine (unreachable nodes, steering wording, missing
translations …) belong to inspection, not here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import jsonschema

from flows.model import QUESTION_DEFAULTS
from flows.nodetypes import NODE_TYPES, node_exits
from ratings.grades import Grade


@dataclass(frozen=True, order=True)
class Problem:
    where: str  # "nodes[3]" / node id / "flow"
    code: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.code}: {self.message}"


@lru_cache(maxsize=1)
def schema() -> dict:
    return json.loads(resources.files("flows").joinpath("schema/flow.schema.json").read_text())


def schema_problems(definition: dict) -> list[Problem]:
    validator = jsonschema.Draft202012Validator(schema())
    out = []
    for err in validator.iter_errors(definition):
        path = err.absolute_path
        where = "flow"
        if len(path) >= 2 and path[0] == "nodes":
            node = definition["nodes"][path[1]]
            where = f"nodes[{path[1]}]"
            if isinstance(node, dict) and isinstance(node.get("id"), str):
                where = node["id"]
            rest = "/".join(str(p) for p in list(path)[2:])
            message = f"{rest}: {err.message}" if rest else err.message
        else:
            message = ("/".join(str(p) for p in path) + ": " if path else "") + err.message
        out.append(Problem(where, "schema", message))
    return sorted(set(out))


def _menu_keys(node: dict, defaults: dict) -> list[str]:
    kind = node["type"]
    if kind in ("staff_rating",) or (kind == "question" and node.get("mode") == "grade"):
        return [g.keypad for g in Grade]
    if kind == "question":
        return [c["digit"] for c in node.get("choices", [])]
    if kind in ("reasons", "language"):
        return [o["digit"] for o in node.get("options", [])]
    if kind == "confirm":
        return [node.get("confirm_key", "1"), node.get("change_key", "2")]
    return []


def _structure_problems(d: dict) -> list[Problem]:
    out: list[Problem] = []
    nodes = d["nodes"]
    ids = [n["id"] for n in nodes]
    seen = set()
    for node_id in ids:
        if node_id in seen:
            out.append(Problem(node_id, "duplicate_id", "node id used twice"))
        seen.add(node_id)
    if d.get("start") and d["start"] not in seen:
        out.append(Problem("flow", "bad_start", f"start node {d['start']!r} does not exist"))
    languages = d.get("languages") or [d.get("default_language", "zh")]
    if d.get("default_language", languages[0]) not in languages:
        out.append(Problem("flow", "bad_language", "default_language is not in languages"))
    shared = d.get("prompts") or {}
    for name, variants in shared.items():
        for lang in variants:
            if lang not in languages:
                out.append(Problem(f"prompts.{name}", "bad_language",
                                   f"language {lang!r} is not one of the flow's"))
    defaults = {**QUESTION_DEFAULTS, **(d.get("defaults") or {})}
    for node in nodes:
        nid, kind = node["id"], NODE_TYPES[node["type"]]
        if d["type"] not in kind.channels:
            out.append(Problem(nid, "wrong_channel",
                               f"{kind.name} is not allowed in a {d['type']} flow"))
        for label, target in node_exits(node):
            if target not in seen:
                out.append(Problem(nid, "bad_exit", f"{label} leads to missing node {target!r}"))
        for field, value in node.items():
            if field.endswith("prompt") or field in ("text", "invalid_text"):
                if isinstance(value, str) and value not in shared:
                    out.append(Problem(nid, "bad_prompt", f"{field}: no shared prompt {value!r}"))
                elif isinstance(value, dict):
                    for lang in value:
                        if lang not in languages:
                            out.append(Problem(nid, "bad_language",
                                               f"{field}: {lang!r} is not one of the flow's"))
        if kind.menu:
            keys = _menu_keys(node, defaults)
            repeat = node.get("repeat_key", defaults["repeat_key"])
            if len(set(keys)) != len(keys):
                out.append(Problem(nid, "digit_conflict", "two options share a key"))
            if repeat is not None and repeat in keys:
                out.append(Problem(nid, "digit_conflict", f"repeat key {repeat!r} is an option"))
            switch_lang = node.get("language_key")
            if switch_lang:
                if switch_lang["key"] in keys or switch_lang["key"] == repeat:
                    out.append(Problem(nid, "digit_conflict", f"language key "
                                       f"{switch_lang['key']!r} is an option or the repeat key"))
                for src, dst in switch_lang["to"].items():
                    if src not in languages or dst not in languages or src == dst:
                        out.append(Problem(nid, "bad_language", f"language_key: {src} → {dst} "
                                           "must go between two of the flow's languages"))
            for a in keys:
                for b in keys:
                    if a != b and b.startswith(a):
                        out.append(Problem(nid, "digit_conflict",
                                           f"{a!r} is a prefix of {b!r}: input cannot end at it"))
        if node["type"] == "branch":
            out.extend(_branch_problems(node))
            option = node["switch"].removeprefix("option.")
            if option != node["switch"] and option not in (d.get("options") or {}):
                out.append(Problem(nid, "bad_option", f"no flow option {option!r}"))
    return out


def _branch_problems(node: dict) -> list[Problem]:
    switch, cases = node["switch"], node["cases"]
    allowed = None
    if switch in ("grade", "staff_grade"):
        allowed = {g.id for g in Grade} | {"none"}
    elif switch.endswith(".needs_reason") or switch == "has_reason":
        allowed = {"true", "false"}
    if allowed is None:
        return []
    return [Problem(node["id"], "bad_case", f"case {case!r} can never match {switch}")
            for case in cases if case not in allowed]


def problems(definition: dict) -> list[Problem]:
    """Every hard error of a (migrated) definition; empty when it can load."""
    found = schema_problems(definition)
    if found:
        return found  # structure checks assume a schema-valid document
    return sorted(set(_structure_problems(definition)))
