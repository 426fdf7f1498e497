"""Diagrams for review: SVG through the real Graphviz, Mermaid and DOT text, labels."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flows.loader import load_text, resolve, shipped_paths
from flows.nodetypes import node_exits
from flows.render import _ATOM, RenderError, _width, edge_label, mermaid, node_lines, svg, wrap
from gateway.cli import main
from ratings.grades import Grade

SVG_NS = "{http://www.w3.org/2000/svg}"


@pytest.mark.parametrize("path", shipped_paths(), ids=lambda p: p.stem)
def test_svg_is_well_formed_and_names_every_node(path):
    flow = resolve(str(path))
    root = ET.fromstring(svg(flow))
    assert root.tag == f"{SVG_NS}svg"
    nodes = {g.find(f"{SVG_NS}title").text for g in root.iter(f"{SVG_NS}g")
             if g.get("class") == "node"}
    assert nodes == set(flow.nodes)
    edges = [g for g in root.iter(f"{SVG_NS}g") if g.get("class") == "edge"]
    assert len(edges) == sum(len(node_exits(n)) for n in flow.nodes.values())
    texts = " ".join(t.text or "" for t in root.iter(f"{SVG_NS}text"))
    assert f"{flow.id}@{flow.version}" in texts


def test_cli_svg(capsys):
    assert main(["flows", "render", "hotline-rating", "--format", "svg"]) == 0
    out = capsys.readouterr().out
    assert out.lstrip().startswith("<?xml") and "ask_grade" in out
    ET.fromstring(out)


def test_svg_without_graphviz_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(RenderError, match="graphviz"):
        svg(resolve("hotline-rating"))


def test_grade_menu_shows_the_engines_keys_in_scale_order():
    flow = resolve("hotline-rating")
    text = " ".join(node_lines(flow, flow.nodes["ask_grade"]))
    shown = [text.index(f"{g.keypad} {g.name_zh}") for g in Grade]
    assert shown == sorted(shown)
    keys = sorted(g.keypad for g in Grade)
    assert edge_label(flow, flow.nodes["ask_grade"], "next") == f"keys {keys[0]}–{keys[-1]}"
    # prompts show the keys a caller hears, not {key_…} placeholders
    staff = "".join(node_lines(flow, flow.nodes["rate_staff"]))
    assert "{key_" not in staff and f"非常满意按{Grade.VERY_SATISFIED.keypad}" in staff


def test_edges_say_what_the_caller_does():
    flow = resolve("hotline-rating")
    n = flow.nodes
    assert edge_label(flow, n["confirm_grade"], "change") == "key 2 · change"
    assert edge_label(flow, n["ask_grade"], "exhausted") == "no key ×1 / no valid key ×3"
    assert edge_label(flow, n["ask_reason"], "option 5") == "key 5 · 其他"
    assert edge_label(flow, n["ask_reason"], "next") == "keys 1–4"
    assert edge_label(flow, n["check_bad"], "case true") == "needs reason (不满意/非常不满意)"
    assert edge_label(flow, n["staff_known"], "case none") == "no staff_id"
    assert edge_label(flow, n["submit_item"], "rejected") == "rejected / duplicate"
    sms = resolve("sms-reminder")
    assert edge_label(sms, sms.nodes["wait_grade"], "stop") == "opt-out (TD)"
    assert "wait 7d" in " ".join(node_lines(sms, sms.nodes["wait_grade"]))


KEYWORD_IDS = """
spec_version: 2
id: keywords
type: voice
languages: [zh]
nodes:
  - id: graph
    type: play
    prompt: {zh: "说“你好”"}
    next: end
  - id: end
    type: end
    prompt: {zh: 再见}
"""


def test_mermaid_keeps_keywords_and_quotes_out_of_the_syntax():
    m = mermaid(load_text(KEYWORD_IDS))
    assert 'n_graph["graph · play<br/>说“你好”"]' in m
    assert re.search(r"^  n_graph -->\|\"played\"\| n_end$", m, re.M)
    assert not re.search(r"^\s*(end|graph)\b", m, re.M)  # bare keywords would end the chart
    assert "classDef endNode" in m


PIECES = list("满意请按，。；？ ") + ["{key_satisfied}", "press", "12345", "English,"]


@given(st.lists(st.sampled_from(PIECES), max_size=60).map("".join), st.integers(10, 60))
def test_wrap_keeps_words_whole_and_lines_short(text, width):
    lines = wrap(text, width, 3)
    assert len(lines) <= 3
    for i, line in enumerate(lines):
        body = line.removesuffix("…")
        # over the width only by one long atom, or by punctuation that may not open a line
        assert (_width(body.rstrip("，。；？ ")) <= width
                or len(_ATOM.findall(body.strip("，。；？ "))) == 1)
        assert line and (i == 0 or line[0] not in "，。；？")  # no line opens with a stop
        assert line.count("{") == line.count("}")
    if len(lines) < 3 or not lines[-1].endswith("…"):
        assert "".join(lines).replace(" ", "") == "".join(text.split()).replace(" ", "")
