"""An idle worker polls pjsua slowly (adapters/sip_pjsua2.py, ``_poll``) yet answers an
INVITE that arrives after a long quiet spell: the SIP socket wakes the loop. Real SIPp."""

from __future__ import annotations

import time
from pathlib import Path

from tests.ivr.sipp import build_scenario, run_sipp, wait_summaries

SHORT_FLOW = str(Path(__file__).parent / "flows" / "hotline_short.yaml")


def main_thread_switches(pid: int) -> int:
    total = 0
    for line in Path(f"/proc/{pid}/task/{pid}/status").read_text().splitlines():
        if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
            total += int(line.split()[1])
    return total


def test_an_idle_worker_answers_and_rates_a_call_after_a_long_quiet_spell(
        start_worker, sipp_dir, sync_redis):
    worker = start_worker("--flow", SHORT_FLOW, "--no-prerender")
    time.sleep(4.0)  # past the start-up linger: the poll loop is in its idle wait
    before = main_thread_switches(worker.proc.pid)
    time.sleep(8.0)
    wakeups = main_thread_switches(worker.proc.pid) - before
    # polled every 10 ms this would be ~800; idle it is a few dozen (a count, not a time)
    assert wakeups < 400, wakeups
    scenario = build_scenario([("pause", 500), ("key", "2"), ("wait_bye", 20000)], sipp_dir)
    result = run_sipp(scenario, worker.sip_port, sipp_dir, ticket="T-idle")
    assert result.returncode == 0, result.output + worker.log()[-3000:]
    [summary] = wait_summaries(sync_redis, 1)
    assert summary["outcome"] == "rated"
    assert [(d, m) for d, m, _t in summary["digits"]] == [("2", "rfc2833")]
    # and again after the call, once the worker has gone idle a second time
    time.sleep(5.0)
    result = run_sipp(scenario, worker.sip_port, sipp_dir, ticket="T-idle-2")
    assert result.returncode == 0, result.output + worker.log()[-3000:]
    assert len(wait_summaries(sync_redis, 2)) == 2
