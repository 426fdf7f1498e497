"""The SMSC dies in the middle of a reminder burst: nothing is lost, the adapter rebinds."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from adapters.sms_smpp import SmppCarrier
from sms.carrier import OutboundSms
from sms.deliveries import Deliveries
from sms.dispatcher import DispatchPolicy, Dispatcher
from sms.optout import OptOuts
from sms.reminders import Reminders

from .conftest import SECRET
from .smsc_process import SmscProcess
from .test_reminders import completion

N = 600


@pytest.mark.slow  # 10–20 s on the shared machine
async def test_smsc_killed_mid_burst_every_reminder_sent(aredis, clock, intake):
    first = await SmscProcess().start()
    carrier = SmppCarrier("127.0.0.1", first.port, "hcp", "secret", registered_delivery=0,
                          reconnect_max_s=0.2)
    reminders = Reminders(aredis, SECRET, clock=clock)
    await reminders.schedule_many([completion(item=f"I{i}", phone=f"1380013{i:04d}")
                                   for i in range(N)])
    clock.advance(48 * 3600)
    dispatcher = Dispatcher(reminders, carrier, intake, OptOuts(aredis, SECRET),
                            Deliveries(aredis, "smpp"), DispatchPolicy(batch=100))
    seen: Counter[str] = Counter()
    second = None
    try:
        await carrier.start(lambda m: asyncio.sleep(0), lambda r: asyncio.sleep(0))
        await carrier.wait_bound()
        burst = asyncio.create_task(dispatcher.dispatch_due())
        while sum(seen.values()) < 60:  # part of the first batch (100 one-segment texts), then…
            seen[(await first.wait_for("submit"))["dest"]] += 1
        port = first.port
        await first.kill()
        while not first.events.empty():
            event = first.events.get_nowait()
            if event["event"] == "submit":
                seen[event["dest"]] += 1
        await asyncio.sleep(0.3)
        second = SmscProcess()
        second.port = port
        await second.start()
        await burst
        for _ in range(20):  # deferred ones come back after their backoff
            while await dispatcher.dispatch_due():
                pass
            if await reminders.pending_count() == 0:
                break
            clock.advance(3600)
        assert await reminders.pending_count() == 0
        states = Counter([(await reminders.get(f"i:I{i}")).state for i in range(N)])
        assert states == {"sent": N}
        await asyncio.sleep(0.2)
        while not second.events.empty():
            event = second.events.get_nowait()
            if event["event"] == "submit":
                seen[event["dest"]] += 1
        phones = {f"861380013{i:04d}" for i in range(N)}
        assert {d for d in seen} == phones  # every number got its reminder
        assert carrier.binds >= 2
        # Only segments in flight when the SMSC died can arrive twice (window of 64);
        # a reminder is one segment (issue 12).
        assert sum(seen.values()) - N <= 64
    finally:
        await carrier.stop()
        await first.kill()
        if second is not None:
            await second.kill()


@pytest.mark.slow  # ~10 s on the shared machine
@pytest.mark.xfail(strict=False, reason=(  # not strict: how long the old session's
    # receipts take decides whether the rebind misses the 15 s bound, and CI must not flake
    "bug (chaos suite, fault d, long version): smpp34 queues Disconnected behind every "
    "receipt already received, so the supervisor reads the dead session for as long as "
    "the receipts take and binds to a restarted SMSC late (no second bind in 30 s here). "
    "A fix that asks client.is_alive() and replaces the session at once passed this test "
    "and the long chaos run (5000/5000), but lost 1-10 of 300 reminders in the short "
    "chaos run 1 time in 2-4 (sends deferred > 45 s): reverted; see the issue 14 note"))
async def test_a_dead_session_is_replaced_while_its_receipts_are_still_being_handled():
    """Found by the chaos suite (fault d, 5,000 reminders): smpp34 queues Disconnected
    behind every receipt already received, and each receipt costs a Redis write, so the
    carrier kept reading the dead session for minutes and never bound to the restarted
    SMSC (before the fix: no second bind within 30 s, 3,750 of 5,000 sends failed)."""
    first = await SmscProcess("--quiet").start()
    port = first.port
    handled = 0

    async def slow_receipt(_receipt):  # a receipt handled as slowly as a busy gateway's
        nonlocal handled
        handled += 1
        await asyncio.sleep(0.005)

    carrier = SmppCarrier("127.0.0.1", port, "hcp", "secret", registered_delivery=1,
                          submit_timeout_s=5, connect_wait_s=3, reconnect_max_s=0.2)
    second = None
    sends: list[asyncio.Task] = []
    try:
        await carrier.start(lambda m: asyncio.sleep(0), slow_receipt)
        await carrier.wait_bound()
        sends = [asyncio.create_task(carrier.send(OutboundSms(f"m{i}", f"+861380013{i:04d}",
                                                              "【测试】您好")))
                 for i in range(2000)]
        while sum(t.done() for t in sends) < 800:  # receipts pile up behind the submits
            await asyncio.sleep(0.01)
        await first.kill()
        await asyncio.sleep(0.3)
        second = SmscProcess("--quiet")
        second.port = port
        await second.start()
        await asyncio.wait_for(_until(lambda: carrier.binds >= 2), 15)
        result = await carrier.send(OutboundSms("after", "+8613800139999", "【测试】再见"))
        assert result.carrier_id  # the new session takes texts
    finally:
        for task in sends:
            task.cancel()
        await carrier.stop()
        await first.kill()
        if second is not None:
            await second.kill()


async def _until(condition) -> None:
    while not condition():
        await asyncio.sleep(0.05)
