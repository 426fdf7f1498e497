"""Golden transcripts: every shipped flow's paths, replayed through the simulator
with the real reply grammar (sms.grammar). A transcript's ``<`` lines are what
the simulator must print again. To accept a deliberate change, run
``hcp flows simulate x --script FILE --update`` and review the diff."""

from pathlib import Path

import pytest

import sms.grammar
from flows.loader import resolve, shipped_paths
from flows.simulate import run_transcript

GOLDEN = sorted((Path(__file__).parent / "golden").glob("*.txt"))


@pytest.mark.parametrize("path", GOLDEN, ids=lambda p: p.stem)
def test_golden_transcript(path):
    text = path.read_text(encoding="utf-8")
    expected = "".join(line + "\n" for line in text.splitlines() if not line.startswith("#"))
    assert run_transcript(text, resolve, sms.grammar) == expected


def test_every_shipped_flow_has_golden_transcripts():
    stems = {p.stem for p in shipped_paths()}
    covered = {line[len("! flow "):].strip() for p in GOLDEN
               for line in p.read_text().splitlines() if line.startswith("! flow ")}
    assert stems <= covered


@pytest.mark.parametrize("stem", [p.stem for p in shipped_paths()])
def test_every_node_of_every_shipped_flow_is_visited(stem):
    flow = resolve(stem)
    visited = set()
    for path in GOLDEN:
        if f"! flow {stem}\n" in path.read_text():
            visited |= {line.split()[-1] for line in path.read_text().splitlines()
                        if line.startswith("< == ")}
            for line in path.read_text().splitlines():
                for node_id in flow.nodes:
                    if f" {node_id}.prompt " in line or f" {node_id}.text" in line:
                        visited.add(node_id)
    prompting = {n for n, node in flow.nodes.items()
                 if node["type"] not in ("branch", "submit", "wait_reply", "send_sms")}
    assert prompting - visited == set()
