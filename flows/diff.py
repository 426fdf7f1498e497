"""A readable, node-by-node difference of two versions of a flow: what a
supervisor reads before approving a change. Prompt texts per language, keypad
and reply maps, exits and settings are compared field by field; nodes are
matched by their stable ids, so a renamed node shows as removed + added."""

from __future__ import annotations

import difflib
import json
from typing import Any

from flows.model import QUESTION_DEFAULTS, Flow
from flows.nodetypes import NODE_TYPES, node_exits

CONTEXT = 8  # characters kept either side of a change in a marked text

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
                    lines.append(f"  ~ {marked(va[lang], vb[lang])}")
                    lines += _stale_audio(name, lang, old, new)
        return lines
    if old is None:
        return [f"{name} added: {_show(new)}"]
    if new is None:
        return [f"{name} removed (was {_show(old)})"]
    return [f"{name}: {_show(old)} → {_show(new)}"]


def marked(old: str, new: str, context: int = CONTEXT) -> str:
    """``new`` with the changes from ``old`` marked ``[-removed-]{+added+}``; long
    unchanged stretches shortened to "…" so a one-word change in a long prompt shows."""
    out = []
    ops = difflib.SequenceMatcher(None, old, new, autojunk=False).get_opcodes()
    if len(ops) == 1 and ops[0][0] == "equal":
        return new
    for i, (tag, a1, a2, b1, b2) in enumerate(ops):
        if tag == "equal":
            same = old[a1:a2]
            head = same[:context] if i > 0 else ""
            tail = same[-context:] if i < len(ops) - 1 else ""
            out.append(same if len(same) <= len(head) + len(tail) + 1
                       else head + "…" + tail)
            continue
        if a2 > a1:
            out.append(f"[-{old[a1:a2]}-]")
        if b2 > b1:
            out.append(f"{{+{new[b1:b2]}+}}")
    return "".join(out)


def _stale_audio(name: str, lang: str, old, new) -> list[str]:
    """A changed text whose recorded file stayed the same: the recording is now wrong."""
    a, b = (v.get(lang) if isinstance(v, dict) else None for v in (old, new))
    audio = b.get("audio") if isinstance(b, dict) else None
    if audio and isinstance(a, dict) and a.get("audio") == audio:
        return [f"  ! {name} ({lang}): recorded {audio} still says the old text: re-record it"]
    return []


def _node_summary(flow: Flow, node) -> list[str]:
    """What an added node says and where it leads (a reviewer has no old text to compare)."""
    lines = []
    for field in ("prompt", "text", "no_input_prompt", "invalid_prompt", "invalid_text"):
        found = flow.prompt_variants(node, field)
        if found is None:
            continue
        shared = "" if found[0].startswith(f"{node['id']}.") else f" (shared {found[0]})"
        for lang, variant in found[1].items():
            text = variant if isinstance(variant, str) else variant["text"]
            lines.append(f"{field} ({lang}){shared}: {text!r}")
    exits = ", ".join(f"{label} → {target}" for label, target in node_exits(node))
    if exits:
        lines.append(f"exits: {exits}")
    return lines


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
    removed = [n for n in old.nodes if n not in new.nodes]
    added = [n for n in new.nodes if n not in old.nodes]
    changed = [n for n in new.nodes if n in old.nodes and old.nodes[n] != new.nodes[n]]
    out.insert(1, f"  {len(changed)} node(s) changed, {len(added)} added, "
                  f"{len(removed)} removed")
    for node_id in removed:
        out.append(f"  node {node_id} removed ({old.nodes[node_id]['type']}; statistics "
                   "of its id stop here)")
    for node_id, node in new.nodes.items():
        if node_id not in old.nodes:
            out.append(f"  node {node_id} added ({node['type']})")
            out += [f"    {line}" for line in _node_summary(new, node)]
            if not any(t == node_id for n in new.nodes.values() for _, t in node_exits(n)) \
                    and node_id != new.start_node:
                out.append("    ! no node leads here yet")
            continue
        before = old.nodes[node_id]
        lines = []
        for name in sorted(set(before) | set(node)):
            if (name in QUESTION_DEFAULTS and NODE_TYPES[node["type"]].menu
                    and (name in before) != (name in node)):
                # a setting set or unset on the node: show the value that applied before/after
                a, b = old.setting(before, name), new.setting(node, name)
                if a != b:
                    lines.append(f"{name}: {_show(a)}{'' if name in before else ' (default)'}"
                                 f" → {_show(b)}{'' if name in node else ' (default)'}")
                continue
            lines += _field_changes(name, before.get(name), node.get(name))
        if lines:
            out.append(f"  node {node_id} ({node['type']}):")
            out += [f"    {line}" for line in lines]
    order_a = [n for n in old.nodes if n in new.nodes]
    order_b = [n for n in new.nodes if n in old.nodes]
    if order_a != order_b:
        out.append("  node order changed (the start node and diagrams may differ)")
    return out
