"""The node types of the flow language: which channel each is allowed in and
which of its fields name other nodes. Shared by validation, the engine and
(later) inspection, so that a new node type is declared once.
"""

from __future__ import annotations

from dataclasses import dataclass

VOICE = "voice"
MESSAGING = "messaging"


@dataclass(frozen=True)
class NodeType:
    name: str
    channels: frozenset[str]
    exits: tuple[str, ...]  # fields that hold one node id
    summary: str
    menu: bool = False  # collects keypad digits with attempts/no-input/invalid prompts


def _t(name, channels, exits, summary, menu=False):
    return NodeType(name, frozenset(channels), tuple(exits), summary, menu)


_BOTH = (VOICE, MESSAGING)
_QUESTION_EXITS = ("next", "exhausted")

NODE_TYPES: dict[str, NodeType] = {t.name: t for t in (
    _t("play", [VOICE], ["next"], "play a prompt, then go on"),
    _t("question", [VOICE], _QUESTION_EXITS,
       "keypad question: mode grade (digits through Grade) or choice (branch)", menu=True),
    _t("staff_rating", [VOICE], _QUESTION_EXITS,
       "rate the staff member on the five grades (seed art. 10)", menu=True),
    _t("confirm", [VOICE], ["next", "change", "exhausted"],
       "confirm the answer or go back and change it", menu=True),
    _t("reasons", [VOICE], _QUESTION_EXITS,
       "reason menu for a bad grade (national indicator wording)", menu=True),
    _t("language", [VOICE], _QUESTION_EXITS, "choose the prompt language", menu=True),
    _t("record", [VOICE], ["next"], "record a voice comment"),
    _t("branch", _BOTH, ["default"], "go on by a grade, result, language or context value"),
    _t("send_sms", [MESSAGING], ["next"], "send one SMS"),
    _t("wait_reply", [MESSAGING], ["next", "timeout", "exhausted", "stop"],
       "wait for an SMS reply and parse it through the reply grammar"),
    _t("submit", _BOTH, ["next", "rejected"],
       "record the evaluation (item or staff) and wait for the intake's answer"),
    _t("end", _BOTH, [], "say a last prompt and end (hang up in voice)"),
)}


def node_exits(node: dict) -> list[tuple[str, str]]:
    """(label, target id) of every edge leaving a node, in a stable order."""
    kind = NODE_TYPES.get(node.get("type"))
    if kind is None:
        return []
    out = [(name, node[name]) for name in kind.exits if node.get(name)]
    for case, target in (node.get("cases") or {}).items():
        out.append((f"case {case}", target))
    for option in node.get("choices") or node.get("options") or []:
        if option.get("next"):
            out.append((f"option {option.get('digit') or option.get('reply')}", option["next"]))
    return out
