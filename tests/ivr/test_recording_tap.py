"""The audio tap now runs only on in-band trunks and while a recording runs
(adapters/sip_pjsua2.py). A caller on an RFC 2833 trunk (no tap during the menus) who
speaks at the comment prompt is still recorded: the tap joins for the recording, and
its voice detection keeps the WAV. Real SIPp, G.711 µ-law voice from a pcap."""

from __future__ import annotations

import math
import struct
from pathlib import Path

import pytest

from tests.ivr.rtp_pcap import write_pcap
from tests.ivr.sipp import build_scenario, run_sipp, wait_summaries

# keys timed against prompts rendered on demand (--no-prerender): not beside a flood
pytestmark = pytest.mark.xdist_group("realtime")

SHORT_FLOW = str(Path(__file__).parent / "flows" / "hotline_short.yaml")


def ulaw(sample: int) -> int:
    """G.711 µ-law of a 16-bit sample."""
    sign = 0x80 if sample < 0 else 0
    magnitude = min(abs(sample), 32635) + 0x84
    exponent = max(0, magnitude.bit_length() - 8)
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    return ~(sign | (exponent << 4) | mantissa) & 0xFF


def voice_pcap(path: Path, seconds: float, seq: int, timestamp: int) -> Path:
    """A 440 Hz tone at -12 dBFS as PCMU RTP, 20 ms per packet (not a DTMF pair)."""
    payloads = []
    for n in range(int(seconds * 50)):
        samples = [int(8000 * math.sin(2 * math.pi * 440 * (n * 160 + i) / 8000))
                   for i in range(160)]
        rtp = struct.pack("!BBHII", 0x80, 0, (seq + n) & 0xFFFF, timestamp + 160 * n,
                          0x0E05384E)
        payloads.append(rtp + bytes(ulaw(s) for s in samples))
    write_pcap(path, payloads)
    return path


def test_a_comment_is_recorded_on_a_trunk_without_inband_detection(start_worker, sipp_dir,
                                                                    sync_redis):
    worker = start_worker("--flow", SHORT_FLOW, "--no-prerender")
    scenario = build_scenario([("pause", 500), ("key", "4"), ("pause", 1500), ("key", "5"),
                               ("pause", 777), ("pause", 6000), ("wait_bye", 30000)],
                              sipp_dir)
    voice = voice_pcap(sipp_dir / "voice.pcap", 9.0, seq=5000, timestamp=400_000)
    xml = scenario.read_text().replace(
        '<pause milliseconds="777"/>',
        f'<nop><action><exec play_pcap_audio="{voice}"/></action></nop>', 1)
    scenario.write_text(xml)
    result = run_sipp(scenario, worker.sip_port, sipp_dir, ticket="T-comment", timeout_s=60)
    assert result.returncode == 0, result.output + worker.log()[-3000:]
    [summary] = wait_summaries(sync_redis, 1)
    assert [d for d, _m, _t in summary["digits"]] == ["4", "5"]
    assert "recorded" in worker.log() and " comment " in worker.log(), worker.log()[-3000:]
