"""The intake benchmark runs end to end (tiny size; its figures are not asserted)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

BENCH = Path(__file__).parents[2] / "bench" / "intake" / "intake_bench.py"


async def test_bench_runs_and_writes_only_its_section(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("intake_bench", BENCH)
    bench = importlib.util.module_from_spec(spec)
    sys.modules["intake_bench"] = bench  # dataclasses look their module up there
    try:
        spec.loader.exec_module(bench)
    finally:
        sys.modules.pop("intake_bench", None)
    docs = tmp_path / "benchmarks.md"
    docs.write_text("# Benchmarks\n\n## submitter\n\nkeep me\n", encoding="utf-8")
    assert await bench.main(["--n", "400", "--callers", "8", "--write-docs", str(docs)]) == 0
    out = capsys.readouterr().out
    assert "ratio intake/baseline" in out and "accepted 360" in out
    text = docs.read_text(encoding="utf-8")
    assert "## submitter\n\nkeep me\n" in text and text.count("## intake") == 1
    assert await bench.main(["--n", "400", "--callers", "8", "--write-docs", str(docs)]) == 0
    assert docs.read_text(encoding="utf-8").count("## intake") == 1
