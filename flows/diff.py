"""A readable, node-by-node difference of two versions of a flow: what a
supervisor reads before approving a change. Prompt texts per language, keypad
and reply maps, exits and settings are compared field by field; nodes are
matched by their stable ids, so a renamed node shows as removed + added."""

from __future__ import annotations

import json
from typing import Any

from flows.model import Flow

HEADER_FIELDS = ("name", "type", "languages", "default_language", "start", "signature",
                 "defaults", "grade_labels")
MAP_FIELDS = {"choices": "digit", "options": None}  # list fields keyed by digit / reply


def _show(value: Any) -> str:
    if isinstance(value, str):
        return repr(value)
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _variants(value) -> dict[str, str] | None:
    """lang → text (audio noted) of an inline prompt; None for a shared-prompt name."""
    if not isinstance(value, dict):
        return None
    out = {}
    for lang, v in value.items():
        out[lang] = v if isinstance(v, str) else v["text"] + (
            f" [{v['audio']}]" if v.get("audio") else "")
    return out


def _keyed(items: list[dict]) -> dict[str, dict]:
    out = {}
    for item in items or []:
        key = item.get("digit") or item.get("reply") or _show(item)
        out[key] = {k: v for k, v in item.items() if k not in ("digit", "reply")}
    return out


def _field_changes(name: str, old: Any, new: Any) -> list[str]:
    if old == new:
        return []
    if name in MAP_FIELDS:
        a, b = _keyed(old), _keyed(new)
        lines = []
        for key in sorted(set(a) | set(b)):
            if key not in a:
                lines.append(f"{name} {key} added: {_show(b[key])}")
            elif key not in b:
                lines.append(f"{name} {key} removed (was {_show(a[key])})")
            elif a[key] != b[key]:
                lines.append(f"{name} {key}: {_show(a[key])} → {_show(b[key])}")
        return lines
    is_text = name.endswith("prompt") or name in ("text", "invalid_text")
    va, vb = (_variants(old), _variants(new)) if is_text else (None, None)
    if not is_text and isinstance(old, dict) and isinstance(new, dict):
        lines = []
        for key in sorted(set(old) | set(new)):
            lines += _field_changes(f"{name}.{key}", old.get(key), new.get(key))
        return lines
    if va is not None and vb is not None:
        lines = []
        for lang in sorted(set(va) | set(vb)):
            if va.get(lang) != vb.get(lang):
                if lang not in va:
                    lines.append(f"{name} ({lang}) added: {vb[lang]!r}")
                elif lang not in vb:
                    lines.append(f"{name} ({lang}) removed (was {va[lang]!r})")
                else:
                    lines.append(f"{name} ({lang}): {va[lang]!r} → {vb[lang]!r}")
        return lines
    if old is None:
        return [f"{name} added: {_show(new)}"]
    if new is None:
        return [f"{name} removed (was {_show(old)})"]
    return [f"{name}: {_show(old)} → {_show(new)}"]


def diff(old: Flow, new: Flow) -> list[str]:
    """Lines describing every change from ``old`` to ``new``; empty if the same."""
    if old.version == new.version:
        return []
    out = [f"flow {old.id}@{old.version} → {new.id}@{new.version}"]
    a, b = old.definition, new.definition
    for name in ("id",) + HEADER_FIELDS:
        out += [f"  {line}" for line in _field_changes(name, a.get(name), b.get(name))]
    pa, pb = a.get("prompts") or {}, b.get("prompts") or {}
    for name in sorted(set(pa) | set(pb)):
        lines = _field_changes("text", pa.get(name), pb.get(name))
        if lines:
            out.append(f"  shared prompt {name}:")
            out += [f"    {line}" for line in lines]
    for node_id in [n for n in old.nodes if n not in new.nodes]:
        out.append(f"  node {node_id} removed ({old.nodes[node_id]['type']})")
    for node_id, node in new.nodes.items():
        if node_id not in old.nodes:
            out.append(f"  node {node_id} added ({node['type']})")
            continue
        before = old.nodes[node_id]
        lines = []
        for name in sorted(set(before) | set(node)):
            lines += _field_changes(name, before.get(name), node.get(name))
        if lines:
            out.append(f"  node {node_id} ({node['type']}):")
            out += [f"    {line}" for line in lines]
    order_a = [n for n in old.nodes if n in new.nodes]
    order_b = [n for n in new.nodes if n in old.nodes]
    if order_a != order_b:
        out.append("  node order changed (the start node and diagrams may differ)")
    return out
