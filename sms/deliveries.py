"""Delivery receipts matched to the message they report on.

A sent MT gets a record ``message(mid)``: the reminder it came from, the carrier,
and one field per segment id (``s:<carrier id>``) holding that segment's state.
Each carrier id also points back to the message (``carrier_id``), so a receipt
that carries only the carrier's id finds its message. The message's state is
derived: delivered when every segment is, failed/expired as soon as one is.
A receipt may beat the record (fast SMSCs): it is then parked under
``early_receipt`` and the record script applies it. Both steps are Lua, so no
interleaving loses a receipt.
"""

from __future__ import annotations

from pathlib import Path

from redis.asyncio import Redis

from sms import keys
from sms.carrier import DeliveryReceipt, DeliveryState, SubmitResult

SENT = "sent"  # accepted by the carrier, no receipt yet
LUA_DIR = Path(__file__).with_name("lua")


class Deliveries:
    def __init__(self, redis: Redis, carrier: str):
        self.redis = redis
        self.carrier = carrier
        self._record = redis.register_script((LUA_DIR / "record_message.lua").read_text())
        self._receipt = redis.register_script((LUA_DIR / "receipt.lua").read_text())

    async def record(self, mid: str, rid: str, result: SubmitResult, sent_at: float,
                     finish_state: str | None = None) -> None:
        """Record a sent message (one script call). With ``finish_state`` the same step
        also finishes its reminder (out of DUE, state and message id in the record)."""
        ids = result.all_ids()
        script_keys = [keys.message(mid)]
        script_keys += [keys.carrier_id(self.carrier, cid) for cid in ids]
        script_keys += [keys.early_receipt(self.carrier, cid) for cid in ids]
        args = [mid, keys.MESSAGE_TTL_S, keys.CARRIER_ID_TTL_S, len(ids), rid, self.carrier,
                f"{sent_at:.3f}", *ids]
        if finish_state is not None:
            script_keys += [keys.DUE, keys.reminder(rid)]
            args.append(finish_state)
        await self._record(keys=script_keys, args=args)

    async def on_receipt(self, receipt: DeliveryReceipt) -> str | None:
        """Apply a receipt; the message id it matched, or None if parked (message not
        recorded yet: the record applies it when it comes)."""
        mid = await self._receipt(
            keys=[keys.carrier_id(self.carrier, receipt.carrier_id),
                  keys.early_receipt(self.carrier, receipt.carrier_id)],
            args=[receipt.carrier_id, receipt.state.value, keys.EARLY_RECEIPT_TTL_S,
                  keys.message("")])
        return mid.decode() if mid else None

    async def status(self, mid: str) -> dict | None:
        raw = await self.redis.hgetall(keys.message(mid))
        if not raw:
            return None
        data = {k.decode(): v.decode() for k, v in raw.items()}
        states = {k[2:]: v for k, v in data.items() if k.startswith("s:")}
        return {"message_id": mid, "reminder": data["rid"], "carrier": data["carrier"],
                "state": overall_state(list(states.values())), "segments": states}


def overall_state(states: list[str]) -> str:
    for bad in (DeliveryState.FAILED.value, DeliveryState.EXPIRED.value):
        if bad in states:
            return bad
    if states and all(s == DeliveryState.DELIVERED.value for s in states):
        return DeliveryState.DELIVERED.value
    return SENT


class RecordedSends:
    """A carrier whose sends are recorded as deliveries, for the messages that are not
    reminders: conversation answers and the console's rectification feedback (seed
    art. 15). Its messages then have receipts and count on the operations page like
    reminders. ``rid`` in the record is the message's ``kind`` (e.g. "feedback")."""

    def __init__(self, carrier, deliveries: Deliveries, clock, kind: str = "answer"):
        self.carrier = carrier
        self.deliveries = deliveries
        self.clock = clock
        self.kind = kind
        self.name = carrier.name

    async def send(self, message) -> SubmitResult:
        result = await self.carrier.send(message)
        await self.deliveries.record(message.id, self.kind, result, self.clock())
        return result

    def __getattr__(self, name):  # start, stop, sent … of the carrier itself
        return getattr(self.carrier, name)
