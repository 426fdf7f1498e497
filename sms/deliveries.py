"""Delivery receipts matched to the message they report on.

A sent MT gets a record ``message(mid)``: the reminder it came from, the carrier,
and one field per segment id (``s:<carrier id>``) holding that segment's state.
Each carrier id also points back to the message (``carrier_id``), so a receipt
that carries only the carrier's id finds its message. The message's state is
derived: delivered when every segment is, failed/expired as soon as one is.
"""

from __future__ import annotations

from redis.asyncio import Redis

from sms import keys
from sms.carrier import DeliveryReceipt, DeliveryState, SubmitResult

SENT = "sent"  # accepted by the carrier, no receipt yet


class Deliveries:
    def __init__(self, redis: Redis, carrier: str):
        self.redis = redis
        self.carrier = carrier

    async def record(self, mid: str, rid: str, result: SubmitResult, sent_at: float) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            self.record_in(pipe, mid, rid, result, sent_at)
            await pipe.execute()

    def record_in(self, pipe, mid: str, rid: str, result: SubmitResult, sent_at: float) -> None:
        """Queue the writes of ``record`` on a caller's pipeline."""
        mapping = {"rid": rid, "carrier": self.carrier, "sent_at": f"{sent_at:.3f}",
                   "segments": str(result.segments)}
        for cid in result.all_ids():
            mapping[f"s:{cid}"] = SENT
        pipe.hset(keys.message(mid), mapping=mapping)
        pipe.expire(keys.message(mid), keys.MESSAGE_TTL_S)
        for cid in result.all_ids():
            pipe.set(keys.carrier_id(self.carrier, cid), mid, ex=keys.CARRIER_ID_TTL_S)

    async def on_receipt(self, receipt: DeliveryReceipt) -> str | None:
        """Apply a receipt; returns the message id it matched, or None if unknown."""
        raw = await self.redis.get(keys.carrier_id(self.carrier, receipt.carrier_id))
        if raw is None:
            return None
        mid = raw.decode()
        await self.redis.hset(keys.message(mid), f"s:{receipt.carrier_id}", receipt.state.value)
        return mid

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
