"""baresip calls the worker and rates by RFC 2833 keys sent over ctrl_tcp."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

from tests.ivr.audio import dtmf_wav
from tests.ivr.baresip import Baresip
from tests.ivr.sipp import wait_summaries

SHORT_FLOW = str(Path(__file__).parent / "flows" / "hotline_short.yaml")


def test_baresip_rates_by_keypad(start_worker, tmp_path, sync_redis):
    if shutil.which("baresip") is None:
        pytest.fail("baresip is not installed: scripts/install-deps")
    worker = start_worker("--flow", SHORT_FLOW)
    mic = dtmf_wav(tmp_path / "silence.wav", [("", 30.0)])  # the call lasts while it plays
    phone = Baresip(tmp_path, mic).start()
    try:
        phone.command("dial", f"sip:ivr@127.0.0.1:{worker.sip_port}")
        assert phone.wait_event("CALL_ESTABLISHED"), phone.events
        time.sleep(0.5)
        phone.command("sndcode", "4")  # 不满意
        time.sleep(0.8)
        phone.command("sndcode", "1")  # reason: 办事效率
        assert phone.wait_event("CALL_CLOSED", timeout=20), phone.events
    finally:
        phone.stop()
    [summary] = wait_summaries(sync_redis, 1)
    assert [(d, m) for d, m, _t in summary["digits"]] == [("4", "rfc2833"), ("1", "rfc2833")]
    [(_id, fields)] = sync_redis.xrange("{hcp}:outbox")
    ev = json.loads(fields[b"ev"])
    assert (ev["grade"], ev["reasons"]) == ("dissatisfied", ["efficiency"])
    assert ev["context"]["context_missing"] == "true"
