"""Real calls: SIPp callers against an `hcp ivr worker` process, real Redis intake."""

from __future__ import annotations

import json

from ratings import keys
from tests.ivr.sipp import build_scenario, run_sipp, wait_summaries


def stored_evaluations(sync_redis) -> list[dict]:
    out = []
    for _id, fields in sync_redis.xrange(keys.OUTBOX):
        out.append(json.loads(fields[b"ev"]))
    return out


def test_rfc2833_call_rates_the_ticket_from_the_invite(start_worker, sipp_dir, sync_redis):
    worker = start_worker()
    scenario = build_scenario([
        ("pause", 1000), ("key", "1"),  # Mandarin (barge-in on the language prompt)
        ("pause", 800), ("key", "2"),  # 满意
        ("pause", 800), ("key", "1"),  # confirm
        ("wait_bye", 30000),
    ], sipp_dir)
    result = run_sipp(scenario, worker.sip_port, sipp_dir, ticket="GD2026-0001", agent="A17")
    assert result.returncode == 0, result.output + worker.log()[-3000:]
    [summary] = wait_summaries(sync_redis, 1)
    assert summary["outcome"] == "rated"
    assert [(d, m) for d, m, _t in summary["digits"]] == [
        ("1", "rfc2833"), ("2", "rfc2833"), ("1", "rfc2833")]
    [ev] = stored_evaluations(sync_redis)
    assert ev["target"]["id"] == "GD2026-0001"
    assert ev["grade"] == "satisfied"
    assert ev["channel"] == "hotline"
    assert ev["context"]["agent"] == "A17"
    assert ev["context"]["context_missing"] == "false"
    assert ev["source_id"] == summary["call_id"]
    assert ev["flow_id"] == "hotline-rating"
