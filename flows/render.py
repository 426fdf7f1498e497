"""Diagrams of a flow for review, drawn from the same data the engine runs:
Mermaid (pastes into Markdown reviews) and Graphviz DOT. Each node shows its
id, type and the start of its prompt in the flow's default language; each edge
its exit label (next, exhausted, option 3, case true …)."""

from __future__ import annotations

from flows.model import Flow
from flows.nodetypes import node_exits

SHAPES = {"branch": ("{", "}"), "end": ("([", "])"), "submit": ("[[", "]]"),
          "wait_reply": ("[/", "/]"), "send_sms": ("[/", "/]")}
DOT_SHAPES = {"branch": "diamond", "end": "doubleoctagon", "submit": "box3d",
              "wait_reply": "parallelogram", "send_sms": "parallelogram"}


def _summary(flow: Flow, node, width: int = 24) -> str:
    for field in ("prompt", "text"):
        prompt = flow.prompt(node, field, flow.default_language)
        if prompt:
            text = " ".join(prompt.text.replace("{signature}", "").split())
            return text if len(text) <= width else text[: width - 1] + "…"
    if node["type"] == "branch":
        return f"switch {node['switch']}"
    if node["type"] == "wait_reply":
        return f"expect {node['expect']}"
    if node["type"] == "submit":
        return f"target {node['target']}"
    return ""


def _edge_label(label: str) -> str:
    return label.removeprefix("case ").removeprefix("option ")


def mermaid(flow: Flow) -> str:
    lines = ["flowchart TD", f"  %% {flow.id}@{flow.version}"]
    for node_id, node in flow.nodes.items():
        left, right = SHAPES.get(node["type"], ("[", "]"))
        text = f"{node_id} · {node['type']}"
        summary = _summary(flow, node)
        if summary:
            text += f"<br/>{summary}"
        text = text.replace('"', "'")
        lines.append(f'  {_mid(node_id)}{left}"{text}"{right}')
    for node_id, node in flow.nodes.items():
        for label, target in node_exits(node):
            lines.append(f"  {_mid(node_id)} -->|{_edge_label(label)}| {_mid(target)}")
    lines.append(f"  style {_mid(flow.start_node)} stroke-width:3px")
    return "\n".join(lines) + "\n"


def _mid(node_id: str) -> str:
    return node_id.replace("-", "_")


def _q(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def dot(flow: Flow) -> str:
    lines = [f"digraph {_q(flow.id)} {{", f"  label={_q(f'{flow.id}@{flow.version}')};",
             "  node [shape=box, fontname=\"Noto Sans CJK SC\"];"]
    for node_id, node in flow.nodes.items():
        label = f"{node_id} · {node['type']}"
        summary = _summary(flow, node)
        if summary:
            label += f"\n{summary}"
        extra = ", penwidth=3" if node_id == flow.start_node else ""
        lines.append(f"  {_q(node_id)} [label={_q(label)}, "
                     f"shape={DOT_SHAPES.get(node['type'], 'box')}{extra}];")
    for node_id, node in flow.nodes.items():
        for label, target in node_exits(node):
            lines.append(f"  {_q(node_id)} -> {_q(target)} [label={_q(_edge_label(label))}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


RENDERERS = {"mermaid": mermaid, "dot": dot}
