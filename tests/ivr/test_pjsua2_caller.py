"""A second pjsua2 process calls the worker: it hears the prompt, and its in-band
DTMF tones (a WAV of sox-made tone pairs) rate the call."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ivr.prompts import PromptLibrary
from tests.ivr.audio import best_correlation, dtmf_wav, envelope, read_samples
from tests.ivr.sipp import free_rtp_base, free_udp_port, wait_summaries

HERE = Path(__file__).parent
SHORT_FLOW = str(HERE / "flows" / "hotline_short.yaml")
ASK_GRADE = "请评价：非常满意请按1，不满意请按4。"
OTHER_TEXT = "原因：效率请按1，态度请按2，其他请按5。"


def call(worker, tmp_path, seconds, play=None, headers=()):
    heard = tmp_path / "heard.wav"
    args = [sys.executable, str(HERE / "pjsua2_caller.py"),
            "--target", f"sip:ivr@127.0.0.1:{worker.sip_port}", "--port", str(free_udp_port()),
            "--rtp-port", str(free_rtp_base(4)), "--record", str(heard),
            "--seconds", str(seconds)]
    if play:
        args += ["--play", str(play)]
    for h in headers:
        args += ["--header", h]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=seconds + 30)
    assert proc.returncode == 0, proc.stderr[-2000:] + worker.log()[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1]), heard


def test_the_caller_hears_the_prompt(start_worker, ivr_data_dir, tmp_path, sync_redis):
    worker = start_worker("--flow", SHORT_FLOW)
    result, heard = call(worker, tmp_path, seconds=4.0)
    assert result["answered"]
    prompts = PromptLibrary(ivr_data_dir / "prompts")
    played = envelope(read_samples(prompts.resolve(ASK_GRADE, "zh", None).path))[:250]
    other = envelope(read_samples(prompts.resolve(OTHER_TEXT, "zh", None).path))[:250]
    heard_env = envelope(read_samples(heard))
    match, control = best_correlation(heard_env, played), best_correlation(heard_env, other)
    print(f"prompt correlation {match:.3f}, other prompt {control:.3f}")
    assert match > 0.8
    assert match > control + 0.2


@pytest.mark.parametrize("switch", [["--inband-dtmf"], ["--inband-from", "127.0.0.0/8"]],
                         ids=["all-calls", "per-trunk"])
def test_inband_tones_rate_the_call(start_worker, tmp_path, sync_redis, switch):
    worker = start_worker("--flow", SHORT_FLOW, *switch)
    tones = dtmf_wav(tmp_path / "tones.wav",
                     [("", 1.0), ("4", 0.1), ("", 1.5), ("2", 0.1), ("", 15.0)])
    result, _heard = call(worker, tmp_path, seconds=15, play=tones,
                          headers=["X-Ticket-Id:T-inband", "X-Call-Record-Id:CR-inband"])
    assert result["ended_by_ivr"], worker.log()[-3000:]
    [summary] = wait_summaries(sync_redis, 1)
    assert [(d, m) for d, m, _t in summary["digits"]] == [("4", "inband"), ("2", "inband")]
    [(_id, fields)] = sync_redis.xrange("{hcp}:outbox")
    ev = json.loads(fields[b"ev"])
    assert (ev["target"]["id"], ev["context"]["ticket"], ev["grade"], ev["reasons"]) == (
        "CR-inband", "T-inband", "dissatisfied", ["attitude"])


def test_inband_detection_is_off_for_other_trunks(start_worker, tmp_path, sync_redis):
    worker = start_worker("--flow", SHORT_FLOW, "--inband-from", "10.9.0.0/16")
    tones = dtmf_wav(tmp_path / "tones.wav", [("", 1.0), ("1", 0.1), ("", 5.0)])
    result, _heard = call(worker, tmp_path, seconds=3.5, play=tones)
    assert result["answered"] and not result["ended_by_ivr"]
    [summary] = wait_summaries(sync_redis, 1)
    assert (summary["outcome"], summary["digits"]) == ("unrated", [])
