"""The SMS invitation after an unrated hotline call: from the workers' requests to a text.

Theory of operation. The hotline prompt promises "we will send you a text" when a
caller leaves without rating. The IVR workers are separate processes, so a call that
ends unrated or failed from a mobile number writes one request to the
``ratings.keys.INVITATIONS`` stream (``ivr.outcome.RedisInvitations``: the call's
``invited`` key is set NX in the same script, so a call asks at most once).

``Invitations.consume_once`` reads requests through the consumer group (several
gateway processes share the work; an entry one of them read and did not finish is
claimed again after ``idle_ms``) and schedules each as a reminder ``c:<call id>``
due at once (``sms.reminders``: idempotent per reminder id, so a request handled
twice schedules one reminder). Only then is the entry acknowledged and deleted. The
dispatcher sends it like any reminder (send window, opt-out, daily cap, retries),
worded by the shipped ``sms-invitation`` flow; a reply rates the call (target kind
call, ``sms.conversation``). The number is a value of the stream entry and of the
reminder record; keys hold only the call id and the number's HMAC.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime, timezone

from ratings import keys
from sms.completions import Completion
from sms.reminders import Reminders
from sms.texts import INVITATION_NAME

log = logging.getLogger(__name__)


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class Invitations:
    def __init__(self, redis, reminders: Reminders, consumer: str = "sms-1",
                 idle_ms: int = 60_000, batch: int = 100):
        self.redis = redis
        self.reminders = reminders
        self.consumer = consumer
        self.idle_ms = idle_ms
        self.batch = batch
        self.scheduled = 0

    async def ensure_group(self) -> None:
        try:
            await self.redis.xgroup_create(keys.INVITATIONS, keys.INVITATIONS_GROUP, id="0",
                                           mkstream=True)
        except Exception as exc:  # BUSYGROUP: it exists already
            if "BUSYGROUP" not in str(exc):
                raise

    async def consume_once(self, block_ms: int | None = None) -> int:
        """Schedule the invitations requested so far; how many entries were handled."""
        await self.ensure_group()
        _, claimed, *_ = await self.redis.xautoclaim(
            keys.INVITATIONS, keys.INVITATIONS_GROUP, self.consumer, self.idle_ms, "0-0",
            count=self.batch)
        read = await self.redis.xreadgroup(keys.INVITATIONS_GROUP, self.consumer,
                                           {keys.INVITATIONS: ">"}, count=self.batch,
                                           block=block_ms)
        entries = list(claimed) + [e for _, stream in (read or []) for e in stream]
        for entry_id, fields in entries:
            await self._schedule(_text(entry_id), {_text(k): _text(v)
                                                   for k, v in (fields or {}).items()})
        return len(entries)

    async def _schedule(self, entry_id: str, fields: dict[str, str]) -> None:
        call, phone = fields.get("call", ""), fields.get("phone", "")
        if call and phone:
            at = fields.get("at")
            completion = Completion(
                item_id=call, service_code="", service_name=INVITATION_NAME, department="",
                phone=self.reminders.vault.open(phone), call_id=call,
                completed_at=datetime.fromisoformat(at) if at else datetime.now(timezone.utc))
            scheduled = await self.reminders.schedule(completion)
            self.scheduled += scheduled.created
            log.info("sms invitation for call %s %s", call,
                     "scheduled" if scheduled.created else "already scheduled")
        else:
            log.warning("sms invitation entry %s without call or number: dropped", entry_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.xack(keys.INVITATIONS, keys.INVITATIONS_GROUP, entry_id)
            pipe.xdel(keys.INVITATIONS, entry_id)
            await pipe.execute()

    async def run(self, stopping: asyncio.Event, poll_s: float = 1.0) -> None:
        """Until ``stopping`` is set (or cancelled); Redis away is waited out. The flag as
        well as cancellation: redis-py can swallow a CancelledError that lands inside a
        command, and the loop must still end (as sms.dispatcher's)."""
        while not stopping.is_set():
            handled = 0
            try:
                handled = await self.consume_once()
            except Exception as exc:  # never the number: only the kind of failure
                log.warning("sms invitations pass failed: %s", type(exc).__name__)
            if handled < self.batch:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(stopping.wait(), poll_s)
