"""The reminder dispatcher: claim what is due, decide, send, record.

Theory of operation. ``dispatch_due()`` claims a batch of due reminders (an
atomic lease, see sms.reminders) and handles them concurrently, each through
the same gate, in this order:

  record gone            -> drop the id (cancelled and expired)
  already evaluated      -> finish "rated"   (any channel, via Intake.is_evaluated)
  number opted out       -> finish "optout"
  quiet hours            -> defer to the next window opening (never dropped)
  daily cap reached      -> defer to tomorrow's opening
  group                  -> the number's other reminders due within ``group_window_s``
                            join this one (sms/lua/group.lua); if another process's
                            group already took this one: "grouped", nothing sent
  send                   -> one text: the reminder, or several items with their reply
                            codes (texts.several_text); finish each "sent" and record
                            the message for receipts
  Throttled / Transient  -> defer with exponential backoff; "failed" after max_attempts
  PermanentError         -> finish "failed"

The cap counter is taken before sending and given back when the send fails,
so a failed attempt does not use up the number's day; a group uses one unit for one
text, and a failed group is given back (its members pending again, due with the
leader's retry). The message id is
derived from the reminder id, so a provider that dedupes on it sees a retry as
the same message. ``run()`` loops until ``stop()``, which cancels and awaits.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import random
from dataclasses import dataclass, field

from sms import keys, texts
from ratings.tasks import stop_task
from sms.carrier import Carrier, OutboundSms, PermanentError, Throttled, TransientError
from sms.deliveries import Deliveries
from sms.optout import OptOuts
from sms.quiet_hours import QuietHours
from sms.reminders import (FAILED, PENDING, SENT, SKIPPED_OPTOUT, SKIPPED_RATED, Reminder,
                           Reminders)
from sms.segments import count as count_segments

GROUPED_ELSEWHERE = "grouped"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DispatchPolicy:
    quiet_hours: QuietHours = field(default_factory=QuietHours)
    daily_cap: int = 3  # reminders per number per local day
    max_attempts: int = 6
    backoff_base_s: float = 60.0
    backoff_max_s: float = 3600.0
    batch: int = 200
    concurrency: int = 64
    poll_s: float = 1.0
    signature: str = texts.DEFAULT_SIGNATURE
    template: str | None = None  # provider template code for templated HTTP carriers
    # one number's reminders due within this many seconds of each other go out as one
    # text listing each item's reply code (0: every reminder alone)
    group_window_s: float = 3600.0


def message_id(rid: str) -> str:
    return hashlib.sha256(rid.encode()).hexdigest()[:24]


class Dispatcher:
    def __init__(self, reminders: Reminders, carrier: Carrier, intake, optouts: OptOuts,
                 deliveries: Deliveries, policy: DispatchPolicy | None = None):
        self.reminders = reminders
        self.carrier = carrier
        self.intake = intake  # anything with ``async is_evaluated(item_id) -> bool``
        self.optouts = optouts
        self.deliveries = deliveries
        self.policy = policy or DispatchPolicy()
        self.redis = reminders.redis
        self.outcomes: dict[str, int] = {}
        # texts sent, the reminders they carried, the segments they cost (benchmarks)
        self.sent = {"texts": 0, "reminders": 0, "segments": 0}
        self._task: asyncio.Task | None = None
        self._stopping = asyncio.Event()
        self._limit = asyncio.Semaphore(self.policy.concurrency)

    @property
    def now(self) -> float:
        return self.reminders.clock()

    async def dispatch_due(self) -> int:
        """Handle one claimed batch; returns how many reminders were claimed."""
        ids = await self.reminders.claim(self.policy.batch)
        records = await self.reminders.get_many(ids)  # one round trip for the batch
        results = await asyncio.gather(*(self._guarded(rid, records[rid]) for rid in ids))
        for outcome in results:
            self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1
        return len(ids)

    async def _guarded(self, rid: str, reminder: Reminder | None) -> str:
        async with self._limit:
            try:
                return await self.handle(rid, reminder)
            except Exception:  # the lease brings it back; never kill the loop
                log.exception("reminder %s: unexpected error; retried after the lease", rid)
                return "error"

    async def handle(self, rid: str, reminder: Reminder | None) -> str:
        if reminder is None or reminder.state != PENDING:
            await self.redis.zrem(keys.DUE, rid)
            return "gone"
        if await self._evaluated(reminder):
            await self.reminders.release_group(rid, self.now)  # after a crash mid-group
            await self.reminders.finish(rid, SKIPPED_RATED)
            return SKIPPED_RATED
        quiet = self.policy.quiet_hours
        now = self.now
        if not quiet.allows(now):
            if await self.optouts.is_opted_out(reminder.phone):
                await self.reminders.finish(rid, SKIPPED_OPTOUT)
                return SKIPPED_OPTOUT
            await self.reminders.defer(rid, quiet.next_allowed(now))
            return "quiet"
        ref = keys.phone_ref(self.reminders.secret, reminder.phone)
        cap_key = keys.daily(ref, quiet.day(now))
        opted_out, within_cap = await self._optout_and_cap(ref, cap_key)
        if opted_out:
            await self.reminders.release_group(rid, now)
            await self.reminders.finish(rid, SKIPPED_OPTOUT)
            return SKIPPED_OPTOUT
        if not within_cap:
            await self.reminders.defer(rid, quiet.next_day_opening(now))
            return "capped"
        members = await self._group(reminder, now)
        if members is None:  # another dispatcher's text carries this one
            await self.redis.decr(cap_key)
            return GROUPED_ELSEWHERE
        return await self._send(reminder, cap_key, members)

    async def _group(self, reminder: Reminder, now: float) -> list[Reminder] | None:
        """This reminder and its number's others due within the window, not yet rated."""
        if self.policy.group_window_s <= 0:
            return [reminder]
        taken = await self.reminders.take_group(reminder, now + self.policy.group_window_s)
        if taken is None:
            return None
        members = [reminder]
        for rid, other in (await self.reminders.get_many(taken[1:])).items():
            if other is None:
                continue
            if await self._evaluated(other):
                await self.reminders.finish(rid, SKIPPED_RATED)
                continue
            members.append(other)
        return sorted(members, key=_code_order)

    async def _evaluated(self, reminder: Reminder) -> bool:
        if reminder.is_invitation:  # a call rated since (by a retry of its own flow)
            return await self.intake.is_call_rated(reminder.target_id)
        if await self.intake.is_evaluated(reminder.target_id):
            return True
        if len(reminder.items) > 1:  # a batch/theme whose items were each rated
            for item in reminder.items:
                if not await self.intake.is_evaluated(item):
                    return False
            return True
        return False

    async def _optout_and_cap(self, ref: str, cap_key: str) -> tuple[bool, bool]:
        """(opted out?, within the daily cap?) in one round trip; the cap is taken
        only when the answer is "send" (given back otherwise)."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.sismember(keys.OPTOUT, ref)
            pipe.incr(cap_key)
            pipe.expire(cap_key, keys.DAILY_TTL_S)
            opted_out, used, _ = await pipe.execute()
        within = used <= self.policy.daily_cap
        if opted_out or not within:
            await self.redis.decr(cap_key)
        return bool(opted_out), within

    async def _send(self, reminder: Reminder, cap_key: str,
                    members: list[Reminder] | None = None) -> str:
        members = members or [reminder]
        mid = message_id(reminder.id)
        if len(members) > 1:
            text = texts.several_text([(m.service_name, m.code) for m in members],
                                      self.policy.signature)
        elif reminder.is_invitation:
            text = texts.invitation_text(reminder.code, self.policy.signature)
        else:
            text = texts.reminder_text(reminder.service_name, reminder.code,
                                       self.policy.signature)
        message = OutboundSms(id=mid, phone=reminder.phone, text=text,
                              template=self.policy.template,
                              params=texts.template_params(reminder.service_name, reminder.code))
        try:
            result = await self.carrier.send(message)
        except (Throttled, TransientError) as exc:
            await self.redis.decr(cap_key)
            attempts = reminder.attempts + 1
            retry_at = self.now + self.backoff(attempts, getattr(exc, "retry_after", None))
            await self.reminders.release_group(reminder.id, retry_at)
            if attempts >= self.policy.max_attempts:
                log.warning("reminder %s: giving up after %d attempts (%s)",
                            reminder.id, attempts, type(exc).__name__)
                await self.reminders.finish(reminder.id, FAILED)
                return FAILED
            await self.reminders.defer(reminder.id, retry_at, attempts=attempts)
            return "retry"
        except PermanentError as exc:
            await self.redis.decr(cap_key)
            await self.reminders.release_group(reminder.id, self.now + self.policy.backoff_base_s)
            log.warning("reminder %s: carrier refused it for good: %s", reminder.id, exc)
            await self.reminders.finish(reminder.id, FAILED)
            return FAILED
        # message record, receipt index and the reminder's finish: one script call
        await self.deliveries.record(mid, reminder.id, result, self.now, finish_state=SENT)
        for member in members:  # the others rode in the same text
            if member.id != reminder.id:
                await self.reminders.finish(member.id, SENT, message_id=mid)
        self.sent["texts"] += 1
        self.sent["reminders"] += len(members)
        self.sent["segments"] += result.segments or count_segments(text).segments
        return SENT

    def backoff(self, attempts: int, retry_after: float | None = None) -> float:
        base = min(self.policy.backoff_base_s * 2 ** (attempts - 1), self.policy.backoff_max_s)
        jittered = base * (0.5 + random.random() / 2)  # spread a burst of retries
        return max(jittered, retry_after or 0.0)

    async def run(self) -> None:
        # A stop flag as well as cancellation: a CancelledError that lands inside a
        # Redis call can be swallowed by the client, and the loop must still end.
        while not self._stopping.is_set():
            try:
                claimed = await self.dispatch_due()
            except Exception as exc:  # Redis away: claims are leased, nothing is lost
                log.warning("reminder dispatch failed (%s); retrying", type(exc).__name__)
                claimed = 0
            if claimed < self.policy.batch:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), self.policy.poll_s)

    def start(self) -> None:
        self._stopping = asyncio.Event()
        self._task = asyncio.create_task(self.run(), name="sms-dispatcher")

    async def stop(self) -> None:
        if self._task is not None:
            self._stopping.set()
            await stop_task(self._task)
            self._task = None


def _code_order(reminder: Reminder) -> tuple[int, str]:
    """Reply codes in the order they were given: A1, B1 … Z1, A2 (sms/lua/schedule.lua)."""
    digits = reminder.code[1:]
    return (int(digits) if digits.isdigit() else 0, reminder.code)
