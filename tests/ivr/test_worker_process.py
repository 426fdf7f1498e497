"""The worker process: Prometheus metrics after a real call; SIGTERM drains (new
INVITEs get 503, the live call finishes and is rated); posted call context."""

from __future__ import annotations

import json
import signal
import threading
import time
import urllib.request
from pathlib import Path

from ivr.context_api import context_key
from tests.ivr.sipp import SCENARIOS, build_scenario, free_udp_port, run_sipp, wait_summaries

SHORT_FLOW = str(Path(__file__).parent / "flows" / "hotline_short.yaml")


def test_metrics_count_the_call_digits_and_latency(start_worker, sipp_dir, sync_redis):
    port = free_udp_port()
    worker = start_worker("--flow", SHORT_FLOW, "--metrics-port", str(port))
    scenario = build_scenario([("pause", 500), ("key", "2"), ("wait_bye", 20000)], sipp_dir)
    result = run_sipp(scenario, worker.sip_port, sipp_dir, ticket="T-metrics")
    assert result.returncode == 0, result.output
    wait_summaries(sync_redis, 1)
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    assert f'hcp_ivr_calls_total{{outcome="rated",worker="{worker.sip_port}"}} 1.0' in text
    assert f'hcp_ivr_digits_total{{method="rfc2833",worker="{worker.sip_port}"}} 1.0' in text
    assert f'hcp_ivr_active_calls{{worker="{worker.sip_port}"}} 0.0' in text
    assert "hcp_ivr_keypress_to_prompt_seconds_count" in text


def test_sigterm_drains_new_calls_refused_live_call_rated(start_worker, sipp_dir, sync_redis):
    worker = start_worker("--flow", SHORT_FLOW)
    live_dir = sipp_dir / "live"
    live_dir.mkdir()
    scenario = build_scenario([("pause", 2500), ("key", "1"), ("wait_bye", 20000)], live_dir)
    results = {}
    thread = threading.Thread(target=lambda: results.update(
        live=run_sipp(scenario, worker.sip_port, live_dir, ticket="T-drain")))
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while b"ask_grade" not in b"".join(
                v for _i, f in sync_redis.xrange("{hcp}:flows:stats") for v in f.values()):
            assert time.monotonic() < deadline, worker.log()
            time.sleep(0.05)
        worker.proc.send_signal(signal.SIGTERM)
        assert worker.wait_log("draining 1 call(s)")
        refused = run_sipp(SCENARIOS / "refused.xml", worker.sip_port, sipp_dir,
                           header_vars=False)
        assert "SIP/2.0 503" in refused.messages, refused.output
    finally:
        thread.join(60)
    assert results["live"].returncode == 0, results["live"].output + worker.log()[-2000:]
    assert wait_summaries(sync_redis, 1)[0]["outcome"] == "rated"
    assert worker.proc.wait(20) == 0


def test_context_posted_before_the_transfer_is_used(start_worker, sipp_dir, sync_redis):
    worker = start_worker("--flow", SHORT_FLOW)
    sync_redis.set(context_key("corr-77"),
                   json.dumps({"ticket": "GD-POSTED", "agent": "A5",
                               "call_record": "CR-POSTED"}), ex=60)
    scenario = build_scenario([("pause", 500), ("key", "1"), ("wait_bye", 20000)], sipp_dir)
    result = run_sipp(scenario, worker.sip_port, sipp_dir, extra="X-Correlation-Id: corr-77")
    assert result.returncode == 0, result.output
    [(_id, fields)] = sync_redis.xrange("{hcp}:outbox")
    ev = json.loads(fields[b"ev"])
    # the call is rated as itself, under the call record the call centre posted
    assert (ev["target"]["kind"], ev["target"]["id"]) == ("call", "CR-POSTED")
    assert (ev["context"]["ticket"], ev["context"]["agent"]) == ("GD-POSTED", "A5")
    assert sync_redis.get(context_key("corr-77")) is None  # used once


def test_pjsip_log_goes_to_logging_and_nothing_to_stdout(redis_url, ivr_data_dir, sipp_dir):
    import subprocess

    from tests.ivr.sipp import REPO, WorkerProcess

    worker = WorkerProcess(redis_url, ivr_data_dir,
                           ["--pjsip-log-level", "3", "--allow", "10.0.0.0/8"])
    proc = subprocess.Popen(worker.args, cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(1.5)
        run_sipp(SCENARIOS / "refused.xml", worker.sip_port, sipp_dir, header_vars=False)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert out == ""
    lines = [json.loads(line) for line in err.splitlines() if line]  # JSON lines only
    assert any(e["logger"] == "hcp.pjsip" and e["level"] == "INFO"
               and e["event"].startswith("pjsua version") for e in lines), err[-2000:]


def test_no_phone_number_in_the_log_even_with_full_sip_tracing(start_worker, sipp_dir,
                                                                sync_redis):
    worker = start_worker("--flow", SHORT_FLOW, "--pjsip-log-level", "5",
                          "--log-level", "DEBUG")
    scenario = build_scenario([("pause", 500), ("key", "1"), ("wait_bye", 20000)], sipp_dir)
    result = run_sipp(scenario, worker.sip_port, sipp_dir, ticket="T-privacy")
    assert result.returncode == 0, result.output
    wait_summaries(sync_redis, 1)
    log = worker.log()
    assert "INVITE sip:ivr@" in log  # the trace is there …
    assert "13800138000" not in log  # … without the caller's number
    assert "138****8000" in log
