"""Real calls: SIPp callers against an `hcp ivr worker` process, real Redis intake."""

from __future__ import annotations

import json

import pytest

from ivr.outcome import call_id_of
from ratings import keys
from tests.ivr.sipp import build_scenario, run_sipp, wait_summaries


def stored_evaluations(sync_redis) -> list[dict]:
    out = []
    for _id, fields in sync_redis.xrange(keys.OUTBOX):
        out.append(json.loads(fields[b"ev"]))
    return out


def test_rfc2833_call_rates_the_ticket_and_the_agent_from_the_invite(start_worker, sipp_dir,
                                                                     sync_redis):
    """The shipped hotline flow end to end: the grade at once (barge-in on the first
    prompt, no confirmation), then the separate staff rating offered because the
    INVITE names the agent (seed art. 10)."""
    worker = start_worker()
    scenario = build_scenario([
        ("pause", 1000), ("key", "2"),  # 满意 (barge-in on the grade question)
        ("pause", 800), ("key", "1"),  # yes, rate the agent too
        ("pause", 800), ("key", "1"),  # agent: 非常满意
        ("wait_bye", 30000),
    ], sipp_dir)
    result = run_sipp(scenario, worker.sip_port, sipp_dir, ticket="GD2026-0001", agent="A17")
    assert result.returncode == 0, result.output + worker.log()[-3000:]
    [summary] = wait_summaries(sync_redis, 1)
    assert summary["outcome"] == "rated"
    assert [(d, m) for d, m, _t in summary["digits"]] == [
        ("2", "rfc2833"), ("1", "rfc2833"), ("1", "rfc2833")]
    item, staff = stored_evaluations(sync_redis)
    # the call is rated (一次一评, issue 10), not the ticket's item: that keeps its
    # one evaluation for after completion; the visit of the staff rating is the call
    assert item["target"] == {"kind": "call", "id": call_id_of({}, summary["call_id"]),
                              "items": [], "staff_id": None}
    assert item["context"]["ticket"] == "GD2026-0001"
    assert item["grade"] == "satisfied"
    assert item["channel"] == "hotline"
    assert item["context"]["agent"] == "A17"
    assert item["context"]["context_missing"] == "false"
    assert item["source_id"] == summary["call_id"]
    assert item["flow_id"] == "hotline-rating"
    assert staff["target"]["kind"] == "staff" and staff["target"]["staff_id"] == "A17"
    assert staff["target"]["id"] == item["target"]["id"]
    assert staff["grade"] == "very_satisfied"


SHORT_FLOW = str(__import__("pathlib").Path(__file__).parent / "flows" / "hotline_short.yaml")


def entered(sync_redis, node: str) -> int:
    """How many times the flow statistics say a node was entered."""
    stats = [json.loads(f[b"stat"]) for _i, f in sync_redis.xrange("{hcp}:flows:stats")]
    return sum(1 for s in stats if s["kind"] == "entered" and s["node"] == node)


def short_worker(start_worker, *extra):
    return start_worker("--flow", SHORT_FLOW, *extra)


def test_info_dtmf_relay_key_rates(start_worker, sipp_dir, sync_redis):
    worker = short_worker(start_worker)
    scenario = build_scenario([("pause", 500), ("info", "1", "application/dtmf-relay"),
                               ("wait_bye", 20000)], sipp_dir)
    result = run_sipp(scenario, worker.sip_port, sipp_dir, ticket="T-relay")
    assert result.returncode == 0, result.output + worker.log()[-3000:]
    [summary] = wait_summaries(sync_redis, 1)
    assert summary["outcome"] == "rated"
    assert [(d, m) for d, m, _t in summary["digits"]] == [("1", "info")]
    assert stored_evaluations(sync_redis)[0]["grade"] == "very_satisfied"


def test_info_application_dtmf_is_answered_200_and_rates(start_worker, sipp_dir, sync_redis):
    worker = short_worker(start_worker)
    scenario = build_scenario([("pause", 500), ("info", "1", "application/dtmf"),
                               ("wait_bye", 20000)], sipp_dir)
    result = run_sipp(scenario, worker.sip_port, sipp_dir, ticket="T-dtmf")
    assert result.returncode == 0, result.output + worker.log()[-3000:]
    assert "500 Unhandled" not in result.messages
    [summary] = wait_summaries(sync_redis, 1)
    assert summary["outcome"] == "rated"
    assert [(d, m) for d, m, _t in summary["digits"]] == [("1", "info-dtmf")]


def test_one_press_sent_by_two_methods_counts_once(start_worker, sipp_dir, sync_redis):
    # 4 (不满意) by RFC 2833 and by INFO at once: if both counted, the second 4 would
    # answer the reason menu ("process"); counted once, the reason is the later 2.
    worker = short_worker(start_worker)
    scenario = build_scenario([
        ("pause", 500), ("key", "4"), ("info", "4", "application/dtmf-relay"),
        ("pause", 1200), ("info", "2", "application/dtmf-relay"), ("wait_bye", 20000),
    ], sipp_dir)
    result = run_sipp(scenario, worker.sip_port, sipp_dir, ticket="T-double")
    assert result.returncode == 0, result.output + worker.log()[-3000:]
    [summary] = wait_summaries(sync_redis, 1)
    assert [d for d, _m, _t in summary["digits"]] == ["4", "2"]
    [ev] = stored_evaluations(sync_redis)
    assert (ev["grade"], ev["reasons"]) == ("dissatisfied", ["attitude"])


@pytest.mark.slow  # two full no-input rounds of prompts and timers: ~20 s
def test_caller_who_presses_nothing_is_unrated(start_worker, sipp_dir, sync_redis):
    worker = short_worker(start_worker)
    scenario = build_scenario([("wait_bye", 30000)], sipp_dir)
    result = run_sipp(scenario, worker.sip_port, sipp_dir, ticket="T-silent")
    assert result.returncode == 0, result.output + worker.log()[-3000:]
    [summary] = wait_summaries(sync_redis, 1)
    assert summary["outcome"] == "unrated"
    assert summary["digits"] == []
    assert stored_evaluations(sync_redis) == []
    assert int(sync_redis.get("{hcp}:ivr:unrated")) == 1
    [(_id, fields)] = sync_redis.xrange("{hcp}:ivr:unrated_calls")
    assert fields[b"ticket"] == b"T-silent"
    assert b"13800138000" not in b"".join(fields.values())


def test_invalid_keys_are_logged_and_leave_the_call_unrated(start_worker, sipp_dir,
                                                            sync_redis):
    worker = short_worker(start_worker)
    scenario = build_scenario([("pause", 500), ("key", "7"), ("pause", 1500), ("key", "9"),
                               ("wait_bye", 30000)], sipp_dir)
    result = run_sipp(scenario, worker.sip_port, sipp_dir, ticket="T-invalid")
    assert result.returncode == 0, result.output + worker.log()[-3000:]
    [summary] = wait_summaries(sync_redis, 1)
    assert summary["outcome"] == "unrated"
    assert [d for d, _m, _t in summary["digits"]] == ["7", "9"]
    assert "key 7 method rfc2833" in worker.log()


def test_hang_up_mid_question_is_unrated(start_worker, sipp_dir, sync_redis):
    worker = short_worker(start_worker)
    scenario = build_scenario([("pause", 700), ("bye",)], sipp_dir)
    result = run_sipp(scenario, worker.sip_port, sipp_dir, ticket="T-gone")
    assert result.returncode == 0, result.output + worker.log()[-3000:]
    [summary] = wait_summaries(sync_redis, 1)
    assert (summary["outcome"], summary["status"]) == ("unrated", "interrupted")


def test_hang_up_in_the_reason_menu_submits_the_bad_grade_with_a_true_comment(
        start_worker, sipp_dir, sync_redis):
    worker = short_worker(start_worker)
    scenario = build_scenario([("pause", 500), ("key", "5"), ("pause", 800), ("bye",)],
                              sipp_dir)
    result = run_sipp(scenario, worker.sip_port, sipp_dir, ticket="T-reason")
    assert result.returncode == 0, result.output + worker.log()[-3000:]
    [summary] = wait_summaries(sync_redis, 1)
    assert summary["outcome"] == "rated_reason_missing"
    [ev] = stored_evaluations(sync_redis)
    assert ev["grade"] == "very_dissatisfied" and ev["reasons"] == []
    assert ev["comment"] and ev["context"]["reason_missing"] == "hangup"


def test_second_call_about_a_ticket_is_rated_too(start_worker, sipp_dir, sync_redis):
    """一次一评 (issue 10): each call is rated on its own; before, the first call used up
    the ticket's item and the second heard "already evaluated"."""
    worker = short_worker(start_worker)
    steps = [("pause", 500), ("key", "1"), ("wait_bye", 20000)]
    for n in range(2):
        workdir = sipp_dir / f"call{n}"
        workdir.mkdir()
        result = run_sipp(build_scenario(steps, workdir), worker.sip_port, workdir,
                          ticket="T-twice")
        assert result.returncode == 0, result.output + worker.log()[-3000:]
    first, second = wait_summaries(sync_redis, 2)
    assert (first["outcome"], second["outcome"]) == ("rated", "rated")
    evs = stored_evaluations(sync_redis)
    assert len(evs) == 2 and len({ev["target"]["id"] for ev in evs}) == 2
    assert not sync_redis.exists(keys.item("T-twice"))  # the item is not rated by a call


def test_uui_header_carries_the_context(start_worker, sipp_dir, sync_redis):
    worker = short_worker(start_worker)
    payload = "ticket=GD-UUI-9;agent=A42".encode().hex()
    scenario = build_scenario([("pause", 500), ("key", "1"), ("wait_bye", 20000)], sipp_dir)
    result = run_sipp(scenario, worker.sip_port, sipp_dir,
                      extra=f"User-to-User: {payload};encoding=hex")
    assert result.returncode == 0, result.output + worker.log()[-3000:]
    [ev] = stored_evaluations(sync_redis)
    assert (ev["context"]["ticket"], ev["context"]["agent"]) == ("GD-UUI-9", "A42")


def test_no_context_is_still_rated_and_says_so(start_worker, sipp_dir, sync_redis):
    worker = short_worker(start_worker)
    scenario = build_scenario([("pause", 500), ("key", "2"), ("wait_bye", 20000)], sipp_dir)
    result = run_sipp(scenario, worker.sip_port, sipp_dir)  # no ticket, no agent
    assert result.returncode == 0, result.output + worker.log()[-3000:]
    [ev] = stored_evaluations(sync_redis)
    assert ev["context"]["context_missing"] == "true"
    # the call rates the call (issue 10): an id of its own derived from the Call-ID
    assert ev["target"]["kind"] == "call" and ev["target"]["id"].startswith("HL")
    assert ev["target"]["id"] == call_id_of({}, ev["source_id"])


def test_source_outside_the_acl_gets_403(start_worker, sipp_dir):
    from tests.ivr.sipp import SCENARIOS

    worker = short_worker(start_worker, "--allow", "10.0.0.0/8")
    result = run_sipp(SCENARIOS / "refused.xml", worker.sip_port, sipp_dir, header_vars=False)
    assert "SIP/2.0 403" in result.messages, result.output


def test_call_beyond_the_limit_gets_503_and_the_worker_keeps_serving(start_worker, sipp_dir,
                                                                     sync_redis):
    import threading
    import time

    from tests.ivr.sipp import SCENARIOS

    worker = short_worker(start_worker, "--max-calls", "1")
    first_dir = sipp_dir / "first"
    first_dir.mkdir()
    holding = build_scenario([("pause", 3000), ("key", "1"), ("wait_bye", 20000)], first_dir)
    results = {}
    thread = threading.Thread(target=lambda: results.update(
        first=run_sipp(holding, worker.sip_port, first_dir, ticket="T-held")))
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while entered(sync_redis, "ask_grade") < 1:
            assert time.monotonic() < deadline, worker.log()
            time.sleep(0.05)
        refused = run_sipp(SCENARIOS / "refused.xml", worker.sip_port, sipp_dir,
                           header_vars=False)
        assert "SIP/2.0 503" in refused.messages, refused.output
    finally:
        thread.join(60)
    assert results["first"].returncode == 0, results["first"].output
    assert wait_summaries(sync_redis, 1)[0]["outcome"] == "rated"


def test_fifth_call_gets_486_from_the_library_limit_and_the_worker_survives(
        start_worker, sipp_dir, sync_redis):
    import threading
    import time

    from tests.ivr.sipp import SCENARIOS

    worker = short_worker(start_worker)  # no --max-calls: the wheel's 4
    held_dir = sipp_dir / "held"
    held_dir.mkdir()
    holding = build_scenario([("pause", 3000), ("key", "1"), ("wait_bye", 20000)], held_dir)
    results = {}
    thread = threading.Thread(target=lambda: results.update(
        held=run_sipp(holding, worker.sip_port, held_dir, ticket="T-four", calls=4)))
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while entered(sync_redis, "ask_grade") < 4:  # four calls are up
            assert time.monotonic() < deadline, worker.log()
            time.sleep(0.05)
        refused = run_sipp(SCENARIOS / "refused.xml", worker.sip_port, sipp_dir,
                           header_vars=False)
        assert "SIP/2.0 486" in refused.messages, refused.output
    finally:
        thread.join(60)
    assert results["held"].returncode == 0, results["held"].output
    outcomes = sorted(s["outcome"] for s in wait_summaries(sync_redis, 4))
    assert outcomes == ["rated"] * 4  # one ticket, four calls: each call is rated
    assert worker.proc.poll() is None
