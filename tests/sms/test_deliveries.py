"""Receipts matched to messages in a real Redis, whichever arrives first."""

from __future__ import annotations

from sms.carrier import DeliveryReceipt, DeliveryState, SubmitResult
from sms.deliveries import Deliveries


async def test_receipts_per_segment_and_overall_state(aredis):
    d = Deliveries(aredis, "smpp")
    await d.record("m1", "i:X", SubmitResult("c1", ("c1", "c2"), 2), 1.0)
    assert (await d.status("m1"))["state"] == "sent"
    assert await d.on_receipt(DeliveryReceipt("c1", DeliveryState.DELIVERED)) == "m1"
    assert (await d.status("m1"))["state"] == "sent"
    await d.on_receipt(DeliveryReceipt("c2", DeliveryState.DELIVERED))
    status = await d.status("m1")
    assert status["state"] == "delivered" and status["reminder"] == "i:X"
    assert status["segments"] == {"c1": "delivered", "c2": "delivered"}


async def test_receipt_before_the_record_is_not_lost(aredis):
    d = Deliveries(aredis, "smpp")
    assert await d.on_receipt(DeliveryReceipt("c9", DeliveryState.EXPIRED)) is None
    await d.record("m9", "i:Y", SubmitResult("c9", ("c9", "c10"), 2), 1.0)
    status = await d.status("m9")
    assert status["segments"] == {"c9": "expired", "c10": "sent"}
    assert status["state"] == "expired"


async def test_failed_segment_fails_the_message_and_carriers_are_separate(aredis):
    smpp, http = Deliveries(aredis, "smpp"), Deliveries(aredis, "acme")
    await smpp.record("m1", "i:X", SubmitResult("c1", ("c1",), 1), 1.0)
    assert await http.on_receipt(DeliveryReceipt("c1", DeliveryState.FAILED)) is None
    assert (await smpp.status("m1"))["state"] == "sent"
    await smpp.on_receipt(DeliveryReceipt("c1", DeliveryState.FAILED))
    assert (await smpp.status("m1"))["state"] == "failed"
