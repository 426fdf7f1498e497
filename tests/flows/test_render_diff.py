import re

import pytest

from flows.diff import diff
from flows.loader import load_text, resolve, shipped_paths
from flows.nodetypes import node_exits
from flows.render import dot, mermaid

from .test_cli import hcp


@pytest.mark.parametrize("path", shipped_paths(), ids=lambda p: p.stem)
def test_diagrams_hold_every_node_and_edge(path):
    flow = resolve(str(path))
    m, d = mermaid(flow), dot(flow)
    assert m.startswith("flowchart TD") and d.startswith("digraph")
    edges = [(n, t) for n, node in flow.nodes.items() for _, t in node_exits(node)]
    assert len(re.findall(r" -->\|", m)) == len(edges)
    assert d.count(" -> ") == len(edges)
    for node_id in flow.nodes:
        assert f'"{node_id}" [label=' in d


def test_dot_labels_are_single_line_strings():
    d = dot(resolve("hotline_rating"))
    for line in d.splitlines()[3:-1]:
        assert line.startswith("  ") and line.endswith(";")


SOURCE = shipped_paths()[0].read_text(encoding="utf-8")


def test_diff_names_each_change():
    old = load_text(SOURCE)
    changed = (SOURCE.replace("您的评价是：{grade_name}。", "您选择的是：{grade_name}。")
               .replace('{digit: "4", code: process}', '{digit: "4", code: other}', 1)
               .replace("  - id: not_rated\n",
                        "  - id: extra\n    type: end\n    prompt: goodbye\n\n  - id: not_rated\n"))
    lines = diff(old, load_text(changed))
    text = "\n".join(lines)
    assert lines[0].startswith(f"flow {old.id}@{old.version} → ")
    assert "node confirm_grade (confirm):" in text and "prompt (zh): '您的评价是" in text
    assert 'options 4: {"code": "process"} → {"code": "other"}' in text
    assert "node extra added (end)" in text
    assert diff(old, load_text(SOURCE)) == []


def test_cli_render_and_diff(tmp_path):
    result = hcp("render", "sms_reminder", "--format", "dot")
    assert result.returncode == 0 and result.stdout.startswith('digraph "sms-reminder"')
    new = tmp_path / "new.yaml"
    new.write_text(SOURCE.replace("max_attempts: 3\n  max_repeats",
                                  "max_attempts: 2\n  max_repeats"), encoding="utf-8")
    result = hcp("diff", str(shipped_paths()[0]), str(new))
    assert result.returncode == 1 and "defaults.max_attempts: 3 → 2" in result.stdout
