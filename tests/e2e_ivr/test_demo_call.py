"""scripts/demo-call against ``hcp serve`` (as scripts/run starts it): the operator's check.

The script's SIPp call carries the ticket and agent; its caller-side RTP endpoint
records the prompts and presses the keys after each prompt has ended. The WAV holds
real speech, every key was pressed, the IVR ended the call, and the rating reached
the loopback core store.
"""

from __future__ import annotations

import json
import subprocess
import wave

import pytest

from ivr.outcome import call_id_of
from ratings.grades import Grade
from tests.e2e_ivr.harness import wait_records
from tests.ivr.sipp import REPO


@pytest.mark.slow  # ~30 s: the whole hotline flow, each prompt heard to its end
def test_demo_call_rates_and_records_what_the_caller_heard(served, tmp_path):
    good = Grade.from_id("satisfied")
    wav = tmp_path / "heard.wav"
    proc = subprocess.run(
        [str(REPO / "scripts" / "demo-call"), "--digits", f"{good.keypad}1{good.keypad}",
         "--ticket", "GD2026-DEMO-1", "--agent", "A77", "--host",
         f"127.0.0.1:{served.sip_port}", "--wav", str(wav), "--json"],
        capture_output=True, text=True, timeout=150, env=served.env)
    assert proc.returncode == 0, proc.stdout + proc.stderr + served.log()[-2000:]
    outcome = json.loads(proc.stdout)
    assert [k for k, _t in outcome["keys"]] == [good.keypad, "1", good.keypad]
    # grade question, staff offer, staff question, goodbye: at least 4 prompts
    assert len(outcome["prompts"]) >= 4
    assert all(gap >= 0 for _k, gap in outcome["key_to_next_prompt_s"])
    with wave.open(str(wav)) as heard:
        assert heard.getframerate() == 8000
        assert heard.getnframes() / 8000 > 10  # tens of seconds of prompts
    call_id = call_id_of({}, outcome["call_id"])
    records = wait_records(served.store, lambda r: r["projectNo"].endswith(call_id), 2)
    assert sorted(r["satisfaction"] for r in records) == [good.exchange_code] * 2
