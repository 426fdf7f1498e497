"""``hcp sms inject`` / ``hcp sms outbox`` as real processes, and the carrier the SMS
channel publishes for the console: what the console sends there is a recorded delivery
the operations page counts."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

from aiohttp import web

from adapters.sms_channel import SmsChannel
from adapters.sms_file import FileCarrier
from console.app import SMS_CARRIER_KEY
from console.pages_ops import sms_figures
from ratings.intake import Intake
from sms.carrier import CARRIER_APP_KEY, OutboundSms
from sms.deliveries import RecordedSends

from .conftest import SECRET

ROOT = Path(__file__).resolve().parents[2]


def hcp(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HCP_")}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run([sys.executable, "-m", "gateway.cli", *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=60, check=check)


async def test_inject_writes_an_e164_reply_the_carrier_reads(tmp_path):
    out = hcp("sms", "inject", "138 0013 8000", "5 窗口态度太差", "--data-dir", str(tmp_path))
    assert "138****8000" in out.stdout and "13800138000" not in out.stdout
    got = []

    async def on_inbound(message):
        got.append(message)

    carrier = FileCarrier(tmp_path)
    await carrier.start(on_inbound, lambda r: asyncio.sleep(0))
    try:
        for _ in range(50):
            if got:
                break
            await asyncio.sleep(0.02)
    finally:
        await carrier.stop()
    assert got[0].phone == "+8613800138000" and got[0].text == "5 窗口态度太差"


def test_inject_refuses_what_is_not_a_number(tmp_path):
    bad = hcp("sms", "inject", "not-a-number", "1", "--data-dir", str(tmp_path), check=False)
    assert bad.returncode == 2 and not (tmp_path / "sms-inbox").exists()


async def test_outbox_lists_messages_masked(tmp_path):
    carrier = FileCarrier(tmp_path)
    await carrier.send(OutboundSms("m1", "+8613800138000", "【广东政务服务】您的评价已收到。"))
    await carrier.send(OutboundSms("m2", "+8613900139000", "【广东政务服务】第二条"))
    text = hcp("sms", "outbox", "--data-dir", str(tmp_path)).stdout
    lines = text.strip().splitlines()
    assert len(lines) == 2 and "138****8000" in lines[0] and "139****9000" in lines[1]
    assert "13800138000" not in text and "您的评价已收到" in lines[0]
    shown = [json.loads(x) for x in
             hcp("sms", "outbox", "--json", "--data-dir", str(tmp_path)).stdout.splitlines()]
    assert shown[0]["segments"] == 1 and shown[0]["to"] == "138****8000"


async def test_console_feedback_goes_through_the_channels_recorded_carrier(aredis, tmp_path):
    app = web.Application()
    channel = SmsChannel({}, aredis, Intake(aredis, SECRET), SECRET, tmp_path, http_app=app)
    assert SMS_CARRIER_KEY is CARRIER_APP_KEY  # both sides use the one AppKey
    published = app[CARRIER_APP_KEY]
    assert isinstance(published, RecordedSends) and published.carrier is channel.carrier
    before = await sms_figures(aredis)
    await published.send(OutboundSms("fb-case-9", "+8613800138000", "【广东政务服务】已整改"))
    after = await sms_figures(aredis)
    assert after["sent"] + after["delivered"] == before["sent"] + before["delivered"] + 1
