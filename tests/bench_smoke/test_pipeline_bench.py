"""The issue-2 pipeline benchmark at a tiny size, so the script cannot rot.

Runs bench/intake/pipeline_bench.py as the README runs it (its own redis-server and
loopback core store process, both stopped at its end) and checks that it measured
every side and found every accepted evaluation in the store exactly once. No timing
is asserted: the figures are only required to be there.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_pipeline_bench_small_run_prints_every_figure_and_exactly_once():
    done = subprocess.run(
        [sys.executable, str(REPO / "bench/intake/pipeline_bench.py"), "--n", "400",
         "--callers", "8", "--concurrency", "8"],
        capture_output=True, text=True, timeout=120, cwd=REPO)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    for side in ("intake baseline", "intake", "submit baseline", "submission"):
        assert re.search(rf"^{side} +[\d,]+ ev/s +p50 +[\d.]+ ms +p99 +[\d.]+ ms", out,
                         re.M), (side, out)
    assert re.search(r"ratio intake/bare script \d+\.\d\d", out)
    assert re.search(r"ratio submission/bare POST loop \d+\.\d\d", out)
    accepted = int(re.search(r"accepted ([\d,]+)", out).group(1).replace(",", ""))
    assert accepted == 360  # 10 % of 400 are duplicates of an earlier item
    assert f"store holds {accepted} idempotency keys for {accepted} accepted" in out
    assert "exactly once: ok" in out
    assert re.search(r"^intake .*round trips/ev 1\.00", out, re.M)


def test_pipeline_bench_via_http_through_a_gateway():
    done = subprocess.run(
        [sys.executable, str(REPO / "bench/intake/pipeline_bench.py"), "--n", "200",
         "--callers", "8", "--concurrency", "8", "--via-http"],
        capture_output=True, text=True, timeout=120, cwd=REPO)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert re.search(r"^intake \(http\) +[\d,]+ ev/s +p50", out, re.M), out
    assert re.search(r"^submission +[\d,]+ ev/s", out, re.M), out
    # first POST to last record: against both baselines back to back, not the POST loop
    assert re.search(r"ratio end to end .* \d+\.\d\d$", out, re.M), out
    assert "ratio submission/bare POST loop" not in out
    assert "store holds 180 idempotency keys for 180 accepted" in out
    assert "exactly once: ok" in out
