"""The SMPP adapter against a real SMPP server (smpp34's) in a child process."""

from __future__ import annotations

import asyncio

import pytest

from adapters.sms_smpp import SmppCarrier
from sms import segments
from sms.carrier import DeliveryState, OutboundSms
from sms.concat import parse_udh

from .smsc_process import SmscProcess

PHONE = "+8613800138000"
LONG_ZH = "【广东政务服务】" + "您办理的居住证签注已办结，欢迎评价。" * 8


class Inbox:
    def __init__(self):
        self.mo = asyncio.Queue()
        self.receipts = asyncio.Queue()

    async def on_inbound(self, m):
        await self.mo.put(m)

    async def on_receipt(self, r):
        await self.receipts.put(r)


@pytest.fixture
async def smsc():
    server = await SmscProcess().start()
    yield server
    await server.kill()


@pytest.fixture
async def carrier(smsc):
    inbox = Inbox()
    c = SmppCarrier("127.0.0.1", smsc.port, "hcp", "secret")
    await c.start(inbox.on_inbound, inbox.on_receipt)
    await c.wait_bound()
    await smsc.wait_for("bound")  # the server side has the session too
    c.inbox = inbox
    yield c
    await c.stop()


async def test_short_mt_and_receipt_matched(carrier, smsc):
    result = await carrier.send(OutboundSms("m1", PHONE, "Hello from hcp"))
    submit = await smsc.wait_for("submit")
    assert submit["dest"] == "8613800138000" and submit["dc"] == 0
    assert segments.decode(bytes.fromhex(submit["sm"]), 0) == "Hello from hcp"
    receipt = await asyncio.wait_for(carrier.inbox.receipts.get(), 5)
    assert receipt.carrier_id == result.carrier_id == submit["id"]
    assert receipt.state is DeliveryState.DELIVERED


async def test_long_ucs2_mt_is_concatenated_with_udh(carrier, smsc):
    result = await carrier.send(OutboundSms("m2", PHONE, LONG_ZH))
    expected = segments.count(LONG_ZH).segments
    assert expected > 1 and result.segments == expected
    bodies, refs = [], set()
    for seq in range(1, expected + 1):
        submit = await smsc.wait_for("submit")
        assert submit["dc"] == 8 and submit["esm"] & 0x40
        part, body = parse_udh(bytes.fromhex(submit["sm"]))
        assert part.seq == seq and part.total == expected
        assert len(body) <= 134
        refs.add(part.ref)
        bodies.append(body)
    assert len(refs) == 1
    assert b"".join(bodies).decode("utf-16-be") == LONG_ZH
    ids = {(await asyncio.wait_for(carrier.inbox.receipts.get(), 5)).carrier_id
           for _ in range(expected)}
    assert ids == set(result.carrier_ids)


async def test_failed_receipt_state(carrier, smsc):
    await smsc.command(dlr_state="UNDELIV")
    await carrier.send(OutboundSms("m3", PHONE, "x"))
    receipt = await asyncio.wait_for(carrier.inbox.receipts.get(), 5)
    assert receipt.state is DeliveryState.FAILED


@pytest.mark.parametrize("mode", ["udh", "sar"])
async def test_mo_reassembly(carrier, smsc, mode):
    text = "5 窗口工作人员态度很差，让我来回跑了三次还没办好，希望改进😡"
    await smsc.command(mo={"from": "8613800138000", "text": text, "parts": 3, "mode": mode})
    mo = await asyncio.wait_for(carrier.inbox.mo.get(), 5)
    assert mo.phone == PHONE and mo.text == text
    assert carrier.inbox.mo.empty()


async def test_single_mo_gsm7(carrier, smsc):
    await smsc.command(mo={"from": "13800138000", "text": "TD"})
    mo = await asyncio.wait_for(carrier.inbox.mo.get(), 5)
    assert mo.phone == PHONE and mo.text == "TD"


async def test_throttled_submits_are_retried_without_duplicates():
    smsc = await SmscProcess("--throttle-every", "3").start()
    c = SmppCarrier("127.0.0.1", smsc.port, "hcp", "secret", throttle_backoff_s=0.001)
    inbox = Inbox()
    try:
        await c.start(inbox.on_inbound, inbox.on_receipt)
        await c.wait_bound()
        results = await asyncio.gather(
            *(c.send(OutboundSms(f"t{i}", PHONE, f"msg {i}")) for i in range(30)))
        stats = await smsc.stats()
        assert stats["accepted"] == 30  # every message once, none twice
        assert stats["throttled"] > 0 and c.throttled == stats["throttled"]
        assert len({r.carrier_id for r in results}) == 30
    finally:
        await c.stop()
        await smsc.kill()


async def test_reconnects_after_the_smsc_restarts():
    smsc = await SmscProcess().start()
    c = SmppCarrier("127.0.0.1", smsc.port, "hcp", "secret", reconnect_max_s=0.2)
    inbox = Inbox()
    try:
        await c.start(inbox.on_inbound, inbox.on_receipt)
        await c.wait_bound()
        await c.send(OutboundSms("r1", PHONE, "before"))
        port = smsc.port
        await smsc.kill()
        smsc = SmscProcess()
        smsc.port = port
        sending = asyncio.create_task(c.send(OutboundSms("r2", PHONE, "after")))
        await asyncio.sleep(0.3)
        await smsc.start()
        result = await asyncio.wait_for(sending, 15)
        submit = await smsc.wait_for("submit")
        assert submit["id"] == result.carrier_id
        assert bytes.fromhex(submit["sm"]) == b"after"
        assert c.binds == 2
    finally:
        await c.stop()
        await smsc.kill()


async def test_server_side_unbind_reconnects(carrier, smsc):
    await smsc.command(kick=True)
    await smsc.wait_for("bound")  # the adapter bound again by itself
    result = await asyncio.wait_for(carrier.send(OutboundSms("k1", PHONE, "again")), 15)
    assert result.carrier_id
    assert carrier.binds == 2


async def test_ten_thousand_queued_no_false_failures_no_losses():
    """A burst that overruns the SMSC's queue (ESME_RMSGQFUL) when fired bare."""
    smsc = await SmscProcess("--quiet").start()
    c = SmppCarrier("127.0.0.1", smsc.port, "hcp", "secret", registered_delivery=0)
    try:
        await c.start(Inbox().on_inbound, Inbox().on_receipt)
        await c.wait_bound()
        results = await asyncio.gather(
            *(c.send(OutboundSms(f"q{i}", PHONE, f"第{i}条")) for i in range(10_000)),
            return_exceptions=True)
        failures = [r for r in results if isinstance(r, Exception)]
        assert failures == []
        assert len({r.carrier_id for r in results}) == 10_000
        assert (await smsc.stats())["accepted"] == 10_000
    finally:
        await c.stop()
        await smsc.kill()
