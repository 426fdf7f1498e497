"""Diagrams of a flow for review, drawn from the same data the engine runs:
Mermaid (pastes into Markdown reviews), Graphviz DOT, and SVG (DOT laid out by
the ``dot`` program, Debian package graphviz).

What a supervisor needs to read off a diagram without opening the YAML:

* each node: id and type, the start of its prompt in the flow's default
  language (wrapped, at most two lines), and the keys it accepts as the engine
  sees them (``flows.nodes.handler(node).options`` — the same table the engine
  uses, so the drawing cannot disagree with a call), or what it waits for;
* each edge: what makes a caller take it — ``keys 1–5``, ``key 2 · change``,
  ``no valid key ×3``, ``no reply in 7d``, ``needs reason (不满意/非常不满意)``,
  ``accepted`` / ``rejected`` — instead of the YAML field name.
"""

from __future__ import annotations

import re
import subprocess
import unicodedata

from flows.model import Flow
from flows.nodes import handler
from flows.nodetypes import NODE_TYPES, node_exits
from flows.prompt_texts import fixed_values
from flows.reasons import REASONS
from ratings.grades import Grade

SHAPES = {"branch": ("{", "}"), "end": ("([", "])"), "submit": ("[[", "]]"),
          "wait_reply": ("[/", "/]"), "send_sms": ("[/", "/]")}
# (Graphviz parallelograms skew wide labels into very wide shapes: SMS nodes are notes.)
DOT_SHAPES = {"branch": "diamond", "end": "box", "submit": "box3d",
              "wait_reply": "box", "send_sms": "note"}
FONT = "Noto Sans CJK SC,WenQuanYi Micro Hei,sans-serif"  # a CJK font; SVG keeps the list
LINE_WIDTH = 40  # display columns (a Chinese character counts two)
PROMPT_LINES = 2


class RenderError(RuntimeError):
    """The layout program failed or is missing."""


# -- what nodes and edges say ---------------------------------------------------
def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


# Atoms a line may not break inside: a {placeholder}, a Latin word or number with its
# trailing punctuation, one CJK character with any closing punctuation after it.
_CLOSING = "。，、；：！？）」』”’…"
_CLOSE = f"[{_CLOSING}]*"
_ATOM = re.compile(r"\{[^}]*\}" + _CLOSE + r"|[A-Za-z0-9_.,;:!?'()#/+-]+" + _CLOSE
                   + r"|\s+|." + _CLOSE)


def wrap(text: str, width: int = LINE_WIDTH, lines: int = PROMPT_LINES,
         atoms: list[str] | None = None) -> list[str]:
    """Break ``text`` (or ready ``atoms``) into at most ``lines`` lines of ``width``
    display columns (a Chinese character counts two), never inside a word or a
    placeholder, never before closing punctuation; "…" ends a cut text."""
    atoms = atoms if atoms is not None else _ATOM.findall(" ".join(text.split()))
    out, line = [], ""
    for atom in atoms:
        # break before a word, never at a space or before closing punctuation
        if line and atom.strip() and atom[0] not in _CLOSING and _width(line + atom) > width:
            out.append(line.rstrip(" ·"))
            line = ""
            if len(out) == lines:
                out[-1] += "…"
                return out
        if not line and not atom.strip():
            continue
        line += atom
    return out + [line.rstrip()] if line.strip() else out


def _fill(flow: Flow, node, text: str) -> str:
    """Keys and fixed values filled in (as a call hears them); the rest stays {name}."""
    values = fixed_values(flow, node)
    return re.sub(r"\{([a-z_]+)\}", lambda m: str(values.get(m.group(1), m.group(0))), text)


def _keys(digits: list[str]) -> str:
    """"1–5" for a run of single digits, else "1, 3, 9"."""
    ds = sorted(digits)
    if len(ds) > 2 and all(len(d) == 1 and d.isdigit() for d in ds) and \
            int(ds[-1]) - int(ds[0]) == len(ds) - 1:
        return f"{ds[0]}–{ds[-1]}"
    return ", ".join(ds)


def _value_label(flow: Flow, node, value, target: str | None = None) -> str:
    kind = node["type"]
    if kind == "question" and node.get("mode") == "choice" and not any(
            c.get("value") for c in node["choices"]):
        return f"→ {target}"  # a plain branching menu: the key's meaning is where it goes
    if kind in ("question", "staff_rating") and node.get("mode", "grade") == "grade":
        grade = Grade.from_id(value)
        return flow.grade_label(grade.id, flow.default_language, grade.name_zh)
    if kind == "reasons":
        return REASONS.get(value, value)
    return str(value)


def _menu(node) -> dict:
    return handler(node).options(None, node)  # options() reads only the node


def _duration(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _detail(flow: Flow, node) -> str:
    """One line: the keys a menu accepts, or what the node waits for / does."""
    kind = node["type"]
    if NODE_TYPES[kind].menu:
        parts = [f"{d} {_value_label(flow, node, v, target)}"
                 for d, (v, target) in _menu(node).items()]
        repeat = flow.setting(node, "repeat_key")
        if repeat:
            parts.append(f"{repeat} repeat")
        switch_lang = node.get("language_key")
        if switch_lang:
            pairs = ", ".join(f"{a}→{b}" for a, b in switch_lang["to"].items())
            parts.append(f"{switch_lang['key']} language ({pairs})")
        return " · ".join(parts)
    if kind == "branch":
        return f"switch {node['switch']}"
    if kind == "wait_reply":
        return (f"expect {node['expect']} · wait {_duration(node.get('timeout_s', 86400))}"
                f" · {node.get('max_attempts', 3)} tries")
    if kind == "submit":
        return f"target {node['target']}"
    if kind == "record":
        return f"up to {node.get('max_seconds', 60)}s · ends on {node.get('end_key', '#')}"
    return ""


def node_lines(flow: Flow, node) -> list[str]:
    lines = [f"{node['id']} · {node['type']}"]
    for field in ("prompt", "text"):
        prompt = flow.prompt(node, field, flow.default_language)
        if prompt:
            lines += wrap(_fill(flow, node, prompt.text.replace("{signature}", "")))
            break
    detail = _detail(flow, node)
    if detail:
        items = detail.split(" · ")
        lines += wrap("", LINE_WIDTH + 8, 2, [f"{i} · " for i in items[:-1]] + items[-1:])
    return lines


def edge_label(flow: Flow, node, label: str) -> str:
    """What a caller does (or what happens) to take this exit."""
    kind = node["type"]
    if label.startswith("case "):
        case, switch = label.removeprefix("case "), node["switch"]
        if switch.endswith("needs_reason"):
            bad = "/".join(g.name_zh for g in Grade if g.needs_reason)
            return f"needs reason ({bad})" if case == "true" else "no reason needed"
        if switch == "has_reason":
            return "reason given" if case == "true" else "no reason yet"
        if switch.startswith(("context.", "vars.")) and case == "none":
            return f"no {switch.partition('.')[2]}"
        return f"= {case}"
    if label == "default":
        return "otherwise"
    if label == "exhausted":
        what = "reply" if kind == "wait_reply" else "key"
        tries = node.get("max_attempts", 3) if kind == "wait_reply" else \
            flow.setting(node, "max_attempts")
        silent = None if kind == "wait_reply" else flow.setting(node, "max_no_input")
        if silent and silent < tries:
            return f"no key ×{silent} / no valid key ×{tries}"
        return f"no valid {what} ×{tries}"
    if kind == "wait_reply":
        return {"next": f"reply: {node['expect']}", "stop": "opt-out (TD)",
                "timeout": f"no reply in {_duration(node.get('timeout_s', 86400))}"
                }.get(label, label)
    if kind == "submit":
        return {"next": "accepted", "rejected": "rejected / duplicate"}.get(label, label)
    if NODE_TYPES[kind].menu and label != "exhausted":
        menu = _menu(node)
        if label.startswith("option "):
            digit = label.removeprefix("option ")
            value, target = menu[digit]
            shown = _value_label(flow, node, value, target)
            return f"key {digit}" if shown.startswith("→") else f"key {digit} · {shown}"
        if kind == "confirm" and label in ("next", "change"):
            key = node.get("confirm_key" if label == "next" else "change_key",
                           "1" if label == "next" else "2")
            return f"key {key} · {'confirm' if label == 'next' else 'change'}"
        if kind == "language":
            return "chosen, or no key"
        own = {o.get("digit") for o in node.get("choices") or node.get("options") or []
               if o.get("next")}
        digits = [d for d, (_, target) in menu.items() if d not in own and target]
        return f"keys {_keys(digits)}" if len(digits) > 1 else f"key {_keys(digits)}"
    if label == "next":
        return {"play": "played", "record": "recorded", "send_sms": "sent"}.get(kind, label)
    return label.removeprefix("option ")


# -- Mermaid ----------------------------------------------------------------------
MERMAID_CLASSES = {"end": "fill:#eef6ee,stroke:#2e7d32", "submit": "fill:#e8f0fe,stroke:#1a56db",
                   "branch": "fill:#fff8e1,stroke:#b7791f"}


def _mid(node_id: str) -> str:
    # A prefix keeps Mermaid keywords (end, graph, style, class …) usable as node ids.
    return "n_" + node_id.replace("-", "_")


def _mtext(text: str) -> str:
    return text.replace('"', "#quot;")


def mermaid(flow: Flow) -> str:
    # Mermaid wraps labels at 200 px on its own; our lines are already wrapped.
    lines = ["flowchart TD", '  %%{init: {"flowchart": {"wrappingWidth": 400}}}%%',
             f"  %% {flow.id}@{flow.version} — {flow.name}"]
    for node_id, node in flow.nodes.items():
        left, right = SHAPES.get(node["type"], ("[", "]"))
        text = "<br/>".join(_mtext(line) for line in node_lines(flow, node))
        lines.append(f'  {_mid(node_id)}{left}"{text}"{right}')
    for node_id, node in flow.nodes.items():
        for label, target in node_exits(node):
            lines.append(f'  {_mid(node_id)} -->|"{_mtext(edge_label(flow, node, label))}"| '
                         f"{_mid(target)}")
    for kind, style in MERMAID_CLASSES.items():
        members = [_mid(n) for n, node in flow.nodes.items() if node["type"] == kind]
        if members:
            # class names get a suffix: "end" is a Mermaid keyword
            lines.append(f"  classDef {kind}Node {style}")
            lines.append(f"  class {','.join(members)} {kind}Node")
    lines.append(f"  style {_mid(flow.start_node)} stroke-width:3px")
    return "\n".join(lines) + "\n"


# -- Graphviz ----------------------------------------------------------------------
DOT_FILL = {"end": "#eef6ee", "submit": "#e8f0fe", "branch": "#fff8e1"}


def _q(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def dot(flow: Flow) -> str:
    lines = [f"digraph {_q(flow.id)} {{",
             f"  label={_q(f'{flow.name} — {flow.id}@{flow.version}')}; labelloc=t; "
             f"fontname={_q(FONT)};",
             f"  node [shape=box, style=filled, fillcolor=white, fontname={_q(FONT)}, "
             "fontsize=12];",
             f"  edge [fontname={_q(FONT)}, fontsize=11, color=\"#555555\"];"]
    for node_id, node in flow.nodes.items():
        label = "\n".join(node_lines(flow, node))
        extra = ", penwidth=3" if node_id == flow.start_node else ""
        fill = DOT_FILL.get(node["type"])
        extra += f", fillcolor={_q(fill)}" if fill else ""
        extra += {"end": ', style="rounded,filled", peripheries=2',
                  "wait_reply": ', style="dashed,filled"'}.get(node["type"], "")
        lines.append(f"  {_q(node_id)} [label={_q(label)}, "
                     f"shape={DOT_SHAPES.get(node['type'], 'box')}{extra}];")
    for node_id, node in flow.nodes.items():
        for label, target in node_exits(node):
            lines.append(f"  {_q(node_id)} -> {_q(target)} "
                         f"[label={_q(edge_label(flow, node, label))}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def svg(flow: Flow) -> str:
    """The DOT drawing laid out by Graphviz ``dot -Tsvg``."""
    try:
        done = subprocess.run(["dot", "-Tsvg"], input=dot(flow).encode(), capture_output=True,
                              check=True, timeout=60)
    except FileNotFoundError as exc:
        raise RenderError("Graphviz 'dot' is not installed (Debian package graphviz; "
                          "scripts/install-deps)") from exc
    except subprocess.CalledProcessError as exc:
        raise RenderError(f"dot failed: {exc.stderr.decode(errors='replace')[:300]}") from exc
    return done.stdout.decode()


RENDERERS = {"mermaid": mermaid, "dot": dot, "svg": svg}
