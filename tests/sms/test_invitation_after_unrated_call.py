"""Issue 10 point 8: an unrated or failed hotline call from a mobile asks the SMS channel
for one invitation (through Redis: the workers are other processes); the channel texts
it once, worded by the sms-invitation flow, and a reply rates the call.

Real Redis, real intake, the SMS channel component with the file carrier, the IVR's
``Outcomes`` (two instances stand for two workers)."""

from __future__ import annotations

import asyncio
import json

import pytest

from adapters.sms_channel import SmsChannel
from adapters.sms_file import inject, read_outbox
from ivr.call import CallFacts
from ivr.outcome import Outcomes, call_id_of
from ratings import keys as rkeys
from ratings.intake import Intake
from ratings.phone_vault import PhoneVault

from .conftest import PHONE, SECRET
from .test_channel import until

LANDLINE = "+862083331234"


@pytest.fixture
async def channel(aredis, tmp_path):
    config = {"sms.send_window": "00:00-24:00", "sms.poll_s": 0.05}
    intake = Intake(aredis, SECRET)
    ch = SmsChannel(config, aredis, intake, SECRET, tmp_path)
    ch.carrier.poll_s = 0.05
    await ch.start()
    yield ch, intake, tmp_path
    await ch.stop()


def facts(call_id: str, caller: str | None = PHONE, **ctx) -> CallFacts:
    return CallFacts(call_id=call_id, context={"ticket": "GD-1", **ctx}, caller=caller)


async def test_an_unrated_call_requests_one_invitation_however_often_it_ends(aredis):
    one = facts("a@b")
    results = []
    workers = [Outcomes(Intake(aredis, SECRET), aredis) for _ in range(2)]
    for worker in workers:  # a retry, two workers
        results.append(await worker.finish(one, None, "unrated"))
        await worker.finish(facts("a@b"), None, "failed")
    assert results == ["unrated", "unrated"]
    assert await aredis.xlen(rkeys.INVITATIONS) == 1
    (_, fields), = await aredis.xrange(rkeys.INVITATIONS)
    call = call_id_of(one.context, "a@b")
    assert fields[b"call"].decode() == call
    # the caller's number is sealed in the request (seed art. 4), opened by the SMS side
    assert "13800138000" not in str(fields)
    assert PhoneVault(SECRET).open(fields[b"phone"].decode()) == PHONE
    assert await aredis.ttl(rkeys.invited(call)) > 0
    names = [k.decode() for k in await aredis.keys("*")]
    assert not any("13800138000" in k or "a@b" in k for k in names)


@pytest.mark.parametrize("caller,outcome,submitted", [
    (LANDLINE, "unrated", []),  # a landline cannot get a text
    (None, "unrated", []),  # no number
    (PHONE, "rated", ["accepted"]),
    (PHONE, "failed", ["accepted"]),  # rated before the failure: nothing to invite
    (PHONE, "duplicate", ["duplicate"]),
])
async def test_no_invitation_when_rated_or_not_a_mobile(aredis, caller, outcome, submitted):
    f = facts("c@d", caller)
    f.submitted.extend(submitted)
    await Outcomes(Intake(aredis, SECRET), aredis).finish(f, None, outcome)
    assert await aredis.exists(rkeys.INVITATIONS) == 0


async def test_the_channel_texts_the_invitation_once_and_a_reply_rates_the_call(
        aredis, channel):
    ch, intake, data = channel
    f = facts("e@f", call_record="HL-CR-7")
    await Outcomes(Intake(aredis, SECRET), aredis).finish(f, None, "unrated")
    sent = await until(lambda: _outbox(data))
    assert len(sent) == 1 and sent[0]["to"] == PHONE
    assert "12345热线通话评价" in sent[0]["text"] and "回TD退订" in sent[0]["text"]
    # the same call's request again (a request read twice, a restarted consumer)
    await aredis.delete(rkeys.invited("HL-CR-7"))
    await Outcomes(Intake(aredis, SECRET), aredis).finish(f, None, "unrated")
    await until(lambda: _stream_empty(aredis))
    await asyncio.sleep(0.3)
    assert len(_outbox_now(data)) == 1  # one reminder per call: one text
    inject(data, PHONE, "2")
    ev_id = await until(lambda: aredis.get(rkeys.call("HL-CR-7")))
    status = await intake.status(ev_id.decode())
    ev = status["evaluation"]
    assert ev["target"]["kind"] == "call" and ev["target"]["id"] == "HL-CR-7"
    assert ev["channel"] == "sms" and ev["grade"] == "satisfied"
    assert await intake.is_evaluated("GD-1") is False  # the ticket's item keeps its own


def _outbox_now(data) -> list[dict]:
    return [m for m in read_outbox(data) if "评价" in m.get("text", "")
            and m.get("kind", "reminder") == "reminder"]


async def _outbox(data):
    return _outbox_now(data)


async def _stream_empty(aredis):
    return await aredis.xlen(rkeys.INVITATIONS) == 0


def test_outbox_entries_are_json(tmp_path):  # read_outbox's contract, used above
    (tmp_path / "sms-outbox").mkdir()
    (tmp_path / "sms-outbox" / "1-x.json").write_text(json.dumps({"to": PHONE, "text": "t"}))
    assert read_outbox(tmp_path)[0]["to"] == PHONE


async def test_the_invitation_loop_ends_on_stop_when_a_cancel_is_swallowed(aredis):
    """redis-py can swallow a CancelledError that lands inside a command; the loop must
    end on the stop flag all the same, or the gateway's stop hangs (seen in a fresh root)."""
    from sms.invitations import Invitations

    class SwallowsCancel(Invitations):
        async def consume_once(self, block_ms=None):
            try:
                await asyncio.sleep(0.05)  # a Redis command in flight
            except asyncio.CancelledError:
                pass  # swallowed, as the client may
            return 0

    stopping = asyncio.Event()
    task = asyncio.create_task(SwallowsCancel(aredis, None, consumer="t").run(stopping, 0.01))
    await asyncio.sleep(0.1)
    stopping.set()
    task.cancel()
    await asyncio.wait_for(asyncio.gather(task, return_exceptions=True), 2)
