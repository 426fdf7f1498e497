"""A coverage-guided fuzz run of the grammar with atheris (libFuzzer), seeded with the
golden table and a dictionary of the grammar's words. Skipped where atheris has no
wheel (the hypothesis fuzz in test_properties.py still runs)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("atheris")

HERE = Path(__file__).parent
ROOT = HERE.parent.parent
FUZZ_SECONDS = int(os.environ.get("HCP_FUZZ_SECONDS", "12"))


def _seed(corpus: Path, dictionary: Path) -> None:
    import importlib.util

    from sms import grammar_lexicon as lex

    spec = importlib.util.spec_from_file_location("replies", HERE / "replies.py")
    replies = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(replies)
    rows = [row[0] for row in replies.RATING_ROWS + replies.REASON_ROWS]
    for n, text in enumerate(rows):
        for mode in (0, 1, 3, 0x40):
            (corpus / f"seed-{n}-{mode}").write_bytes(bytes([mode]) + text.encode())
    words = set(lex.GRADE_WORDS) | set(lex.VAGUE_WORDS) | set(lex.OPT_OUT_WORDS) | {
        "A3", "1234", "TD", "?", "度", "吗", "分", "星", "个屁", "没", "不"}
    lines = []
    for word in sorted(words):
        escaped = "".join(f"\\x{b:02x}" for b in word.encode())
        lines.append(f'"{escaped}"')
    dictionary.write_text("\n".join(lines) + "\n")


def test_atheris_fuzz_finds_no_crash_and_no_false_grade(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    dictionary = tmp_path / "grammar.dict"
    _seed(corpus, dictionary)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, str(HERE / "fuzz_grammar.py"), str(corpus), f"-dict={dictionary}",
         f"-max_total_time={FUZZ_SECONDS}", "-max_len=200", "-rss_limit_mb=1024",
         "-print_final_stats=1"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=FUZZ_SECONDS + 120)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-4000:]
    runs = re.search(r"Done (\d+) runs", output)
    assert runs and int(runs.group(1)) > 1000, output[-2000:]
    print(f"atheris: {runs.group(0)}")
