"""The whole SMS path over SMPP: completion -> reminder at the SMSC -> receipts matched
to the message -> the citizen's reply (MO) -> evaluation in the intake -> answer."""

from __future__ import annotations

import asyncio

from adapters.sms_smpp import SmppCarrier
from ratings import keys as rkeys
from ratings.intake import Intake
from sms import keys, segments
from sms.concat import parse_udh
from sms.conversation import Conversations
from sms.deliveries import Deliveries
from sms.dispatcher import Dispatcher
from sms.optout import OptOuts
from sms.reminders import Reminders

from .conftest import SECRET
from .smsc_process import SmscProcess
from .test_reminders import completion


async def eventually(check, timeout=10.0):
    for _ in range(int(timeout / 0.05)):
        if await check():
            return True
        await asyncio.sleep(0.05)
    return False


async def test_reminder_receipts_reply_over_smpp(aredis, clock):
    smsc = await SmscProcess().start()
    carrier = SmppCarrier("127.0.0.1", smsc.port, "hcp", "secret")
    reminders = Reminders(aredis, SECRET, clock=clock)
    intake = Intake(aredis, SECRET)
    optouts = OptOuts(aredis, SECRET)
    deliveries = Deliveries(aredis, carrier.name)
    conversations = Conversations(reminders, intake, optouts, carrier)
    dispatcher = Dispatcher(reminders, carrier, intake, optouts, deliveries)
    try:
        await carrier.start(conversations.on_inbound, deliveries.on_receipt)
        await carrier.wait_bound()
        await smsc.wait_for("bound")
        scheduled = await reminders.schedule(completion(item="ITEM-1"))
        clock.advance(48 * 3600)
        assert await dispatcher.dispatch_due() == 1 and dispatcher.outcomes == {"sent": 1}

        parts = []
        while True:  # UCS-2; one segment since issue 12 (UDH-concatenated if it were longer)
            submit = await smsc.wait_for("submit")
            data = bytes.fromhex(submit["sm"])
            part, body = parse_udh(data) if submit["esm"] & 0x40 else (None, data)
            parts.append(body)
            if part is None or part.seq == part.total:
                break
        text = b"".join(parts).decode("utf-16-be")
        assert "居住证签注" in text and "TD退订" in text  # one item: no reply code needed
        assert len(parts) == segments.count(text).segments == 1

        mid = (await aredis.hget(keys.reminder(scheduled.reminder_id), "m")).decode()

        async def delivered():
            return (await deliveries.status(mid))["state"] == "delivered"

        assert await eventually(delivered)  # every segment's receipt, matched by id

        await smsc.command(mo={"from": "8613800138000", "text": f"{scheduled.code} 1 很好"})
        assert await eventually(lambda: _exists(aredis, rkeys.item("ITEM-1")))
        ev_id = (await aredis.get(rkeys.item("ITEM-1"))).decode()
        ev = (await intake.status(ev_id))["evaluation"]
        assert ev["grade"] == "very_satisfied" and ev["channel"] == "sms"
        thanks = await smsc.wait_for("submit")  # the flow's answer went out over SMPP
        assert "已收到" in bytes.fromhex(thanks["sm"]).decode("utf-16-be")
    finally:
        await carrier.stop()
        await smsc.kill()


async def _exists(redis, key):
    return bool(await redis.exists(key))
