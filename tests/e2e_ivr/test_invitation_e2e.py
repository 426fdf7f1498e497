"""Issue 10 point 8 through the real processes: ``hcp serve`` with one IVR worker (a
process of its own) and the file SMS carrier; a SIPp caller from a mobile presses
nothing, is released unrated, and the SMS invitation the prompt promised appears in the
SMS outbox exactly once. The number is in no log line and no Redis key."""

from __future__ import annotations

import subprocess
import time

import pytest
import redis

from adapters.sms_file import read_outbox
from gateway.secrets_store import REDIS_PASSWORD, read_secret
from tests.e2e_ivr.harness import hcp_command, serve
from tests.ivr.sipp import REPO, build_scenario, run_sipp

CALLER = "13800138000"  # the From of tests/ivr/scenarios/call.xml.in (+86 mobile)


@pytest.fixture(scope="module")
def served_sms(tmp_path_factory):
    yield from serve(tmp_path_factory.mktemp("e2e-invitation"), {
        "HCP_SMS_SEND_WINDOW": "00:00-24:00", "HCP_SMS_POLL_S": "0.2"})


def _invitations(data_dir) -> list[dict]:
    return [m for m in read_outbox(data_dir) if "12345热线通话评价" in m.get("text", "")]


def test_a_silent_caller_gets_the_invitation_once(served_sms, tmp_path):
    data = served_sms.workdir / "data"
    steps = [("pause", 1000), ("wait_bye", 40000)]  # presses nothing; the gateway hangs up
    result = run_sipp(build_scenario(steps, tmp_path), served_sms.sip_port, tmp_path,
                      ticket="GD2026-INV-001", timeout_s=90)
    assert result.returncode == 0, result.output + served_sms.log()[-3000:]
    deadline = time.monotonic() + 20
    while not _invitations(data) and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(3)  # time for a second text, if anything would send one
    sent = _invitations(data)
    assert len(sent) == 1, served_sms.log()[-3000:]
    assert sent[0]["to"].endswith(CALLER) and "回TD退订" in sent[0]["text"]
    # hcp sms outbox shows it too (the operator's view)
    shown = subprocess.run([*hcp_command(), "sms", "outbox"], cwd=REPO, env=served_sms.env,
                           capture_output=True, text=True, timeout=60)
    assert "12345热线通话评价" in shown.stdout, shown.stdout + shown.stderr
    # no phone number in a log line or a key
    assert CALLER not in served_sms.log()
    port = int(next(data.rglob("redis.port")).read_text().split()[0])
    client = redis.Redis(host="127.0.0.1", port=port,
                         password=read_secret(data, REDIS_PASSWORD))
    try:
        names = [k.decode() for k in client.scan_iter(count=1000)]
    finally:
        client.close()
    assert names and not any(CALLER in k for k in names)
    assert any(k.startswith("{hcp}:invite:call:") for k in names)
