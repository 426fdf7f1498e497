"""scripts/demo-call's words for the two ways a newcomer's test call goes wrong.

* nothing answers on --host: "no IVR answering on HOST", at once (an OPTIONS probe
  before the call), not SIPp's statistics after its timeout;
* the ticket was rated before: the IVR says so and ends the call; the script says
  "already rated" and names the evaluation holding the ticket, reading the running
  gateway's Redis by itself (scripts/demo-call finds it as scripts/hcp does).
"""

from __future__ import annotations

import json
import socket
import subprocess
import time
import urllib.request

from ratings.grades import Grade
from tests.ivr.sipp import REPO

DEMO_CALL = REPO / "scripts" / "demo-call"


def test_no_ivr_answering_is_said_at_once(tmp_path):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    started = time.monotonic()
    proc = subprocess.run([str(DEMO_CALL), "--host", f"127.0.0.1:{port}", "--digits", "1"],
                          capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert proc.returncode == 1
    assert proc.stderr.startswith(f"scripts/demo-call: no IVR answering on 127.0.0.1:{port} "
                                  f"(nothing listens there): start the gateway with "
                                  f"scripts/run"), proc.stderr
    assert proc.stdout == "" and "Statistics" not in proc.stderr
    assert time.monotonic() - started < 15


def test_a_silent_port_is_no_ivr_either(tmp_path):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:  # bound, never answers
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        proc = subprocess.run([str(DEMO_CALL), "--host", f"127.0.0.1:{port}"],
                              capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert proc.returncode == 1
    assert f"no IVR answering on 127.0.0.1:{port} (no answer to SIP OPTIONS" in proc.stderr


def post_evaluation(served, ticket: str) -> str:
    token = (served.workdir / "data" / "secrets" / "api_token").read_text().strip()
    body = json.dumps({"target": {"kind": "item", "id": ticket}, "grade": "satisfied",
                       "channel": "api"}).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{served.http_port}/v1/evaluations", data=body, method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.status == 201
        return json.load(answer)["id"]


def test_a_ticket_rated_before_is_already_rated(served, tmp_path):
    ticket = "GD2026-DEMO-AGAIN"
    holder = post_evaluation(served, ticket)  # rated before the call, through the API
    good = Grade.from_id("satisfied")
    proc = subprocess.run(
        [str(DEMO_CALL), "--digits", f"{good.keypad}12", "--ticket", ticket,
         "--agent", "A77", "--host", f"127.0.0.1:{served.sip_port}", "--barge-in",
         "--closes-item"],  # only a call that closes the item rates it (else the call)
        capture_output=True, text=True, timeout=150, env=served.env, cwd=tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "answered, ended by the IVR" in proc.stdout  # the call itself worked
    assert (f"already rated: ticket {ticket} was rated before by evaluation {holder}; "
            f"the IVR told the caller so") in proc.stdout, proc.stdout + proc.stderr
    assert "gateway: duplicate" in proc.stdout
    assert "keys not pressed" not in proc.stdout
