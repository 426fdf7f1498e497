"""Pending SMS reminders in Redis: schedule, claim, defer, finish.

Theory of operation. ``schedule(completion)`` writes one compact hash per
reminder and adds its id to the DUE sorted set, scored by the epoch second it
is due (completed_at + delay). A Lua script makes this idempotent (re-posting a
completion changes nothing) and allocates the number's reply code in the same
step. Dispatchers (sms.dispatcher) ``claim`` due ids with another script that
pushes each claimed score to the end of a lease: two gateway processes never
hold one reminder at once, and a dispatcher that dies mid-send leaves its
claims to fall due again when the lease ends. A claimed reminder ends in
``finish`` (sent / skipped / failed: removed from DUE, record kept for the
reply window so a late reply with its code still finds the item) or ``defer``
(quiet hours, daily cap, carrier backoff: re-scored, still pending).

The record holds the phone number as a value (the dispatcher must text it);
keys hold only its HMAC.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from redis.asyncio import Redis

from ratings.phone_vault import PhoneVault
from sms import keys
from sms.completions import Completion

LUA_DIR = Path(__file__).with_name("lua")

# Record fields (short names: there may be millions of these hashes).
PHONE, TARGET, ITEMS, NAME, SERVICE, DEPT, CODE, DUE_AT, STATE, ATTEMPTS, MESSAGE = (
    "p", "t", "it", "n", "s", "d", "c", "due", "st", "a", "m")
DEPT_CODE = "dc"  # optional: only when the completion names the department's code
PENDING, SENT, SKIPPED_RATED, SKIPPED_OPTOUT, FAILED = (
    "pending", "sent", "rated", "optout", "failed")
GROUPED = "grouped"  # taken into another reminder's text (field GROUP names it)
GROUP, GROUP_MEMBERS = "g", "gs"


@dataclass(frozen=True)
class Scheduled:
    reminder_id: str
    code: str
    due_at: float
    created: bool

    def to_dict(self) -> dict:
        return {"reminder_id": self.reminder_id, "code": self.code,
                "due_at": self.due_at, "created": self.created}


@dataclass(frozen=True)
class Reminder:
    id: str
    phone: str
    target_id: str
    items: tuple[str, ...]
    service_name: str
    code: str
    due_at: float
    state: str
    attempts: int
    service_code: str = ""
    department: str = ""
    dept_code: str = ""

    @classmethod
    def from_record(cls, rid: str, raw: dict[bytes, bytes],
                    open_phone: Callable[[str], str]) -> Reminder:
        """``open_phone``: ``PhoneVault.open`` (the number is sealed in the record)."""
        data = {k.decode(): v.decode() for k, v in raw.items()}
        return cls(id=rid, phone=open_phone(data[PHONE]), target_id=data[TARGET],
                   items=tuple(filter(None, data.get(ITEMS, "").split("\x1f"))),
                   service_name=data[NAME], code=data[CODE], due_at=float(data[DUE_AT]),
                   state=data.get(STATE, PENDING), attempts=int(data.get(ATTEMPTS, 0)),
                   service_code=data.get(SERVICE, ""), department=data.get(DEPT, ""),
                   dept_code=data.get(DEPT_CODE, ""))

    @property
    def is_invitation(self) -> bool:
        """The SMS invitation after an unrated hotline call (sms.invitations)."""
        return self.id.startswith("c:")

    def context(self) -> dict[str, str]:
        """The item's context for Evaluation.context, as the IVR's call context names it:
        task_code (service code) and dept_code feed the store record's taskCode/deptCode."""
        ctx = {"reply_code": self.code, "task_code": self.service_code,
               "service": self.service_name, "department": self.department,
               "dept_code": self.dept_code}
        kind, _, target = self.id.partition(":")
        if kind == "b":
            ctx["batch_id"] = target
        elif kind == "t":
            ctx["theme_id"] = target
        elif kind == "c":
            ctx["call_record"] = target
        if len(self.items) > 1:
            ctx["linked_items"] = ",".join(self.items)
        return {k: v for k, v in ctx.items() if v}


class Reminders:
    def __init__(self, redis: Redis, phone_secret: bytes, *, delay_s: float = 24 * 3600,
                 lease_s: float = 300, clock: Callable[[], float] = time.time,
                 default_after_s: float | None = None):
        self.redis = redis
        self.secret = phone_secret
        self.vault = PhoneVault(phone_secret)  # the number is sealed in the record
        self.delay_s = delay_s
        self.lease_s = lease_s
        self.clock = clock
        self.default_after_s = default_after_s  # sms.default_policy, off when None
        self._schedule = redis.register_script((LUA_DIR / "schedule.lua").read_text())
        self._claim = redis.register_script((LUA_DIR / "claim.lua").read_text())
        self._group = redis.register_script((LUA_DIR / "group.lua").read_text())

    async def schedule(self, completion: Completion) -> Scheduled:
        return (await self.schedule_many([completion]))[0]

    async def schedule_many(self, completions: list[Completion]) -> list[Scheduled]:
        """Several completions in one round trip (a pipeline of the same script)."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for completion in completions:
                await self._schedule_in(pipe, completion)
            replies = await pipe.execute()
        if self.default_after_s is not None:  # drop the ZADD replies
            replies = [r for r in replies if isinstance(r, list)]
        return [Scheduled(c.reminder_id, code.decode(), float(due_at), bool(created))
                for c, (created, code, due_at) in zip(completions, replies, strict=True)]

    async def _schedule_in(self, pipe, completion: Completion) -> None:
        rid = completion.reminder_id
        invitation = completion.call_id is not None  # due at once; no system default rating
        due = int(completion.completed_at.timestamp() + (0 if invitation else self.delay_s))
        default_after_s = None if invitation else self.default_after_s
        horizon = max(due, completion.completed_at.timestamp() + (default_after_s or 0))
        ttl = int(max(horizon - self.clock(), 0) + keys.REPLY_WINDOW_S)
        ref = keys.phone_ref(self.secret, completion.phone)
        fields = [PHONE, self.vault.seal(completion.phone), TARGET, completion.target_id,
                  NAME, completion.service_name, SERVICE, completion.service_code,
                  DEPT, completion.department, STATE, PENDING]
        if completion.dept_code:
            fields += [DEPT_CODE, completion.dept_code]
        if completion.batch_id or completion.theme_id:  # its items, even just one
            fields += [ITEMS, "\x1f".join(completion.items)]
        await self._schedule(keys=[keys.reminder(rid), keys.DUE, keys.codes(ref)],
                             args=[rid, due, ttl, *fields], client=pipe)
        if default_after_s is not None:
            default_at = int(completion.completed_at.timestamp() + default_after_s)
            pipe.zadd(keys.DEFAULTS, {rid: default_at}, nx=True)

    async def get(self, rid: str) -> Reminder | None:
        raw = await self.redis.hgetall(keys.reminder(rid))
        return Reminder.from_record(rid, raw, self.vault.open) if raw else None

    async def get_many(self, rids: list[str]) -> dict[str, Reminder | None]:
        async with self.redis.pipeline(transaction=False) as pipe:
            for rid in rids:
                pipe.hgetall(keys.reminder(rid))
            raws = await pipe.execute()
        return {rid: Reminder.from_record(rid, raw, self.vault.open) if raw else None
                for rid, raw in zip(rids, raws, strict=True)}

    async def by_code(self, phone: str, code: str) -> Reminder | None:
        """The reminder a reply code refers to, for this number only."""
        rid = await self.redis.hget(keys.codes(keys.phone_ref(self.secret, phone)), code)
        return await self.get(rid.decode()) if rid else None

    async def for_phone(self, phone: str) -> list[Reminder]:
        """Every reminder of this number still within its reply window."""
        raw = await self.redis.hgetall(keys.codes(keys.phone_ref(self.secret, phone)))
        found = []
        for code, rid in sorted(raw.items()):
            if code != b"_seq":
                reminder = await self.get(rid.decode())
                if reminder is not None:
                    found.append(reminder)
        return found

    async def claim(self, limit: int = 100, schedule: str = keys.DUE) -> list[str]:
        """Lease up to ``limit`` due ids of a schedule (DUE, or DEFAULTS for the policy)."""
        now = self.clock()
        ids = await self._claim(keys=[schedule], args=[now, now + self.lease_s, limit])
        return [i.decode() for i in ids]

    async def take_group(self, leader: Reminder, until: float) -> list[str] | None:
        """The leader's id and those of its number's other reminders due by ``until``,
        taken out of DUE for one text (sms/lua/group.lua); None if another process's
        group already took the leader."""
        ref = keys.phone_ref(self.secret, leader.phone)
        taken = await self._group(keys=[keys.codes(ref), keys.DUE],
                                  args=[leader.id, until, keys.reminder(""), self.clock()])
        return [rid.decode() for rid in taken] if taken else None

    async def release_group(self, leader_id: str, due: float) -> int:
        """Give the leader's grouped reminders back (pending, due at ``due``): the text
        was not sent, or the leader ended without sending."""
        raw = await self.redis.hget(keys.reminder(leader_id), GROUP_MEMBERS)
        released = 0
        for rid in filter(None, (raw or b"").decode().split(",")):
            record = keys.reminder(rid)
            state, group = await self.redis.hmget(record, STATE, GROUP)
            if state == GROUPED.encode() and group == leader_id.encode():
                async with self.redis.pipeline(transaction=True) as pipe:
                    pipe.hset(record, mapping={STATE: PENDING, DUE_AT: str(int(due))})
                    pipe.hdel(record, GROUP)
                    pipe.zadd(keys.DUE, {rid: int(due)})
                    await pipe.execute()
                released += 1
        await self.redis.hdel(keys.reminder(leader_id), GROUP_MEMBERS)
        return released

    async def defer(self, rid: str, until: float, attempts: int | None = None) -> None:
        until = math.ceil(until)  # whole seconds: the record and the score agree
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.zadd(keys.DUE, {rid: until}, xx=True)
            pipe.hset(keys.reminder(rid), DUE_AT, str(int(until)))
            if attempts is not None:
                pipe.hset(keys.reminder(rid), ATTEMPTS, str(attempts))
            await pipe.execute()

    async def finish(self, rid: str, state: str, message_id: str | None = None) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            self.finish_in(pipe, rid, state, message_id)
            await pipe.execute()

    def finish_in(self, pipe, rid: str, state: str, message_id: str | None = None) -> None:
        """Queue the writes of ``finish`` on a caller's pipeline."""
        pipe.zrem(keys.DUE, rid)
        pipe.hset(keys.reminder(rid), mapping={STATE: state, **({MESSAGE: message_id}
                                                               if message_id else {})})

    async def cancel(self, rid: str) -> bool:
        """The item was rated: no reminder (any more); state "rated" even after it was
        sent (the message record keeps the delivery). True if one was still pending."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.zrem(keys.DUE, rid)
            pipe.exists(keys.reminder(rid))
            removed, exists = await pipe.execute()
        if exists:  # only touch a live record: HSET keeps its TTL, never creates one
            await self.redis.hset(keys.reminder(rid), STATE, SKIPPED_RATED)
        return bool(removed)

    async def pending_count(self) -> int:
        return await self.redis.zcard(keys.DUE)
