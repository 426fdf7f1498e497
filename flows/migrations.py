"""Spec-version migrations: an older flow file is brought up to SPEC_VERSION
before validation, one version step at a time (as goflow does), so the
engine only ever runs the current format. A migration is a pure function of
the definition dict and never drops meaning; the migrated flow's content
version is computed after migration.

Spec version 1 (the first hotline trial files) differed from 2 in:
  - ``nodes`` was a mapping id → node instead of a list of nodes with ``id``;
  - ``lang`` named the single language, prompts were plain strings in it
    (in 2 a plain string names a shared prompt and texts are per language);
  - question timeouts were seconds (``timeout``, ``inter_digit_timeout``),
    2 uses milliseconds (``timeout_ms``, ``inter_digit_ms``);
  - the last node type was ``hangup``; 2 calls it ``end``.
"""

from __future__ import annotations

import copy

from flows.model import SPEC_VERSION


class MigrationError(ValueError):
    pass


PROMPT_FIELDS = ("prompt", "no_input_prompt", "invalid_prompt", "text", "invalid_text")


def _v1_to_v2(old: dict) -> dict:
    new = {k: v for k, v in old.items() if k not in ("nodes", "lang", "spec_version")}
    lang = old.get("lang", "zh")
    new["spec_version"] = 2
    new.setdefault("default_language", lang)
    new.setdefault("languages", [lang])
    nodes = old.get("nodes") or {}
    if isinstance(nodes, list):  # tolerate v1 files already written as a list
        items = [(n.get("id"), n) for n in nodes]
    else:
        items = list(nodes.items())
    out = []
    for node_id, node in items:
        node = dict(node)
        node["id"] = node_id
        if node.get("type") == "hangup":
            node["type"] = "end"
        for field in PROMPT_FIELDS:
            if isinstance(node.get(field), str):
                node[field] = {lang: node[field]}
        if "timeout" in node and node.get("type") != "wait_reply":
            node["timeout_ms"] = int(float(node.pop("timeout")) * 1000)
        if "inter_digit_timeout" in node:
            node["inter_digit_ms"] = int(float(node.pop("inter_digit_timeout")) * 1000)
        out.append(node)
    new["nodes"] = out
    return new


MIGRATIONS = {1: _v1_to_v2}  # from version → function to version + 1


def migrate(definition: dict) -> tuple[dict, list[int]]:
    """The definition at SPEC_VERSION and the versions it was migrated from."""
    data = copy.deepcopy(definition)
    version = data.get("spec_version", 1)
    if not isinstance(version, int) or version < 1:
        raise MigrationError(f"spec_version {version!r} is not a positive integer")
    if version > SPEC_VERSION:
        raise MigrationError(
            f"spec_version {version} is newer than this gateway understands ({SPEC_VERSION})")
    steps = []
    while version < SPEC_VERSION:
        data = MIGRATIONS[version](data)
        steps.append(version)
        version = data["spec_version"]
    return data, steps
