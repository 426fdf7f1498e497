"""Focused stress on media teardown: many short calls that hang up mid-prompt.

The crash seen under pool load (docs/ivr-pool.md: SIGSEGV in pjsua's media clock
thread, ~1 in 3,400 calls) belongs to the family "a conference port freed while the
clock thread may still read it". Each call here changes prompt by a barge-in key
(player stopped and replaced) and hangs up while the next prompt plays (player
dropped at DISCONNECTED), 4 calls at once (the wheel's limit). The worker runs with
PYTHONFAULTHANDLER, so a crash leaves its stack in the log; it must survive every
call. ``HCP_TEARDOWN_CALLS`` raises the count for a long run (default 200).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time

import pytest

from tests.ivr.sipp import WorkerProcess, build_scenario
from tests.ivr_pool.harness import run_sipp_calls

# One xdist worker runs every "realtime" module in turn (scripts/test: --dist loadgroup):
# the SIP floods and call storms must not overlap the tests that time what a caller hears.
pytestmark = pytest.mark.xdist_group("realtime")

CALLS = int(os.environ.get("HCP_TEARDOWN_CALLS", "200"))


def hang_up_mid_prompt(workdir):
    path = build_scenario([("pause", 300), ("key", "1"), ("pause", 500), ("bye",)], workdir)
    xml = path.read_text()
    # vary the moments so teardown lands at every phase of the clock thread's tick
    xml = xml.replace('<pause milliseconds="300"/>',
                      '<pause distribution="uniform" min="50" max="900"/>', 1)
    xml = xml.replace('<pause milliseconds="500"/>',
                      '<pause distribution="uniform" min="20" max="700"/>', 1)
    path.write_text(xml)
    return path


@pytest.mark.slow  # ~200 calls, 1-2 minutes
@pytest.mark.timeout(900)
def test_worker_survives_many_hang_ups_mid_prompt(redis_url, ivr_data_dir, sipp_dir):
    worker = WorkerProcess(redis_url, ivr_data_dir, ["--no-prerender"],
                           env={"PYTHONFAULTHANDLER": "1"}).start()
    try:
        result = run_sipp_calls(hang_up_mid_prompt(sipp_dir), worker.sip_port, sipp_dir,
                                calls=CALLS, rate=8, limit=4, timeout_s=60 + CALLS // 2)
        # the worker logs a call's end after SIPp saw its BYE: give the last lines a
        # moment to be written (bounded), then count
        deadline = time.monotonic() + 15
        while True:
            log = worker.log()
            ended = len(re.findall(r"call \S+ ended: ", log))
            if ended >= CALLS or time.monotonic() > deadline or worker.proc.poll() is not None:
                break
            time.sleep(0.2)
        assert "Fatal Python error" not in log, log[-4000:]
        assert worker.proc.poll() is None, log[-4000:]
        # every call ends: the "caller vanished without a BYE" calls seen before were
        # callers cut off by a stale pjsua2 Call of an earlier call on the same slot
        # (issue 11; tests/ivr/test_call_slot_reuse.py)
        assert ended == CALLS, (ended, result.output)
        assert result.returncode == 0, result.output
    finally:
        started = time.monotonic()
        worker.proc.send_signal(signal.SIGTERM)  # drains: no call is left to wait for
        try:
            worker.proc.wait(75)
        except subprocess.TimeoutExpired:
            pass
        shutdown_s = time.monotonic() - started
        code = worker.stop()
    assert code == 0, worker.log()[-3000:]
    assert shutdown_s < 10, f"SIGTERM to exit: {shutdown_s:.1f} s"
