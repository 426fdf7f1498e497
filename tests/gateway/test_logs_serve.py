"""One log format: a real ``hcp serve`` with one IVR worker writes nothing but JSON lines.

One run of the gateway (module fixture): it starts with HCP_IVR_WORKERS=1 on free
ports and a temp data dir; a caller outside the worker's ACL sends an INVITE whose
Call-ID carries a phone number (the worker logs the refusal with the Call-ID); the
worker is then killed with SIGSEGV, so its faulthandler dump (free text on its
stderr) goes through the pool's relay, and the pool restarts it; SIGTERM stops all.
The tests read the gateway's whole stdout and stderr.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import time
import urllib.request

import pytest

from ivr.sip_probe import sip_options_ping_blocking
from tests.gateway.process import GatewayProcess
from tests.ivr.flood import refused_status
from tests.ivr_pool.harness import SHORT_FLOW, free_block

PHONE = "13812345678"


def _workers(gateway: GatewayProcess) -> list[dict]:
    request = urllib.request.Request(f"{gateway.base_url}/v1/ivr/workers",
                                     headers=gateway.auth)
    return json.loads(urllib.request.urlopen(request, timeout=5).read())["workers"]


def _wait(condition, what: str, gateway: GatewayProcess, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"{what} not seen in {timeout} s:\n{gateway.log_text()[-3000:]}")


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """The whole output of one hcp serve run (see the module's docstring)."""
    sip = free_block(1, 28000, 30000)
    gateway = GatewayProcess(tmp_path_factory.mktemp("logs-serve"), env={
        "HCP_IVR_WORKERS": "1", "HCP_IVR_SIP_PORT": str(sip),
        "HCP_IVR_RTP_PORT": str(free_block(40, 10000, 20000)), "HCP_IVR_RTP_RANGE": "40",
        "HCP_IVR_METRICS_PORT": str(free_block(1, 30000, 32000)),
        "HCP_IVR_FLOW": SHORT_FLOW, "HCP_IVR_DRAIN_S": "10"})
    try:
        asyncio.run(gateway.start(timeout=60))
        # the number in the Call-ID and From, where a log line could pick it up
        call_id = f"{PHONE}-{secrets.token_hex(4)}@127.0.0.2"
        assert refused_status(sip, caller=f"+86{PHONE}", call_id=call_id) == 403
        _wait(lambda: "refused: not in the ACL" in gateway.log_text(), "the refusal", gateway)
        time.sleep(1.0)  # a refusal that killed the worker would show by now
        _wait(lambda: all(w["alive"] for w in _workers(gateway))
              and sip_options_ping_blocking("127.0.0.1", sip, 0.3), "a live worker", gateway)

        [worker] = _workers(gateway)
        os.kill(worker["pid"], signal.SIGSEGV)  # faulthandler dumps, the pool restarts it
        _wait(lambda: any(w["restarts"] == worker["restarts"] + 1 and w["alive"]
                          for w in _workers(gateway)), "the restart", gateway)
        _wait(lambda: sip_options_ping_blocking("127.0.0.1", sip, 0.3), "the new worker",
              gateway)
        ready = 2 + worker["restarts"]
        _wait(lambda: gateway.log_text().count("IVR worker ready") == ready, "its ready line",
              gateway)
        assert asyncio.run(gateway.stop()) == 0
    finally:
        gateway.kill()
    return gateway.log_text()


def test_every_line_is_one_json_event(served):
    lines = served.splitlines()
    assert len(lines) > 20
    for line in lines:
        entry = json.loads(line)  # a line that is not JSON fails here, and shows itself
        assert isinstance(entry, dict), line
        assert {"ts", "level", "logger", "event"} <= entry.keys(), line
    loggers = {json.loads(line)["logger"] for line in lines}
    assert {"gateway", "hcp.ivr.pool", "hcp.ivr.worker", "hcp.sip"} <= loggers


def test_worker_lines_come_through_the_pool_tagged_with_their_worker(served):
    events = [json.loads(line) for line in served.splitlines()]
    ready = [e for e in events if e["event"].startswith("IVR worker ready")]
    assert len(ready) >= 2 and all(e["worker"] for e in ready)
    dump = [e for e in events if e["event"] == "ivr.worker.output"]
    assert any("Segmentation fault" in e["line"] for e in dump), dump
    assert any(e["event"] == "ivr.worker.died" and e["exit"] == -signal.SIGSEGV
               for e in events)


def test_a_phone_number_a_worker_logs_is_masked(served):
    assert PHONE not in served
    refused = [json.loads(line) for line in served.splitlines()
               if "refused: not in the ACL" in line]
    assert refused and refused[0]["logger"] == "hcp.sip" and refused[0]["worker"]
    assert refused[0]["event"].startswith("INVITE <phone>-")


def test_a_start_up_line_names_the_token_and_password_files(served):
    events = [json.loads(line) for line in served.splitlines()]
    [where] = [e for e in events if e["event"] == "gateway.secrets"]
    assert where["api_token_file"].endswith("/data/secrets/api_token")
    assert where["console_password_file"].endswith("/data/secrets/console_admin")
    token = next(e for e in events if e["event"] == "gateway.secrets")["api_token_file"]
    assert open(token).read().strip() not in served


def test_a_refused_invite_does_not_kill_the_worker(served):
    died = [json.loads(line) for line in served.splitlines() if '"ivr.worker.died"' in line]
    assert [e["exit"] for e in died] == [-signal.SIGSEGV]
