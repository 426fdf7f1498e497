"""Corrections to the core store: an excluded 误评/恶意差评 reported once (seed art. 15).

Theory of operation
-------------------
Art. 15: a bad rating that the callback verifies as a mis-rating (误评) or a malicious
rating (恶意差评) "is not adopted and is reported" (不予采纳，并报送). Our counts move
to the excluded column when a second supervisor approves the exclusion
(``ratings.cases``); the exchange must learn it too, or its figures keep the rating.

The approval step (one Lua script in ``ratings.cases``) appends one entry to the stream
``CORRECTIONS`` in the same atomic step that closes the case and moves its counts:
an approval without its correction, or a correction without an approval, is never
seen. The entry holds the case id and the correction records, built here by
``correction_records`` from what the submitter sent for the rating (the evaluation's
status hash: the evaluation and ``covers``): one correction per record of the rating
(a batch's rating is one record per item), each naming its slot (projectNo,
assessNumber), the type (``correctionType`` 1 误评, 2 恶意差评), the verification
finding as ``reason`` (phone-like runs masked) and the time of the approval. Names of
supervisors stay in our audit log; they are not the exchange's business.

``CorrectionSender`` drains the stream (consumer group ``CORRECTIONS_GROUP``) through
the same ``CoreStore.submit`` as ratings, with ``StoreRecord.kind == "correction"``
and the idempotency key ``correction:<evaluation id>:<item>``. Why this is exactly
once: the entry exists exactly once (written by the compare-and-set that approves);
it leaves the pending list only in the step that records the store's answer on the
case (one Lua script: case fields, a case-log entry, XACK, XDEL), so a crash before
that re-delivers it (own pending entries first, other consumers' idle ones by
XAUTOCLAIM); a re-sent correction carries the same key and the store answers
DUPLICATE (``ratings.store.is_ours``). At least once delivery + an idempotent key at
the store = one correction there. A dedicated stream rather than the ratings' outbox:
the submitter's entries are evaluations (its poison rule would dead-letter anything
else), and a correction must wait until the rating itself is at the store.

Per entry, the evaluation's status decides: ``accepted`` (still in the outbox) waits
(the entry stays pending); ``dead`` (the rating never reached the store) closes the
entry as ``skipped`` (nothing to correct there); ``submitted`` or expired sends.
A transient store error leaves the entry pending for the next pass (``run`` repeats
passes with a capped backoff); a refusal for good closes it as ``rejected`` with the
store's words on the case (the console shows it).
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import datetime, timezone

from ratings import keys, results
from ratings.model import CHINA, Evaluation, TargetKind, mask_phones_in_text
from ratings.records import project_no
from ratings.store import (
    CORRECTION,
    RejectedByStore,
    StoreOutcome,
    StoreRecord,
    TransientStoreError,
)

log = logging.getLogger(__name__)

# -- keys (all {hcp}-tagged; see the module docstring) ----------------------------
CORRECTIONS = f"{keys.TAG}:corrections"  # stream: case, records (JSON), at
CORRECTIONS_GROUP = "corrections"
CORRECTIONS_TTL_S = keys.DEDUPE_TTL_S  # refreshed at every entry; entries are XDELed

CORRECTION_TYPES = {"mistaken": 1, "malicious": 2}  # correctionType at the exchange
CORRECTION_NAMES = {"mistaken": "误评", "malicious": "恶意差评"}
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


def idempotency_key(evaluation_id: str, item: str) -> str:
    return f"correction:{evaluation_id}:{item}"


async def original_slots(redis, case: dict) -> list[tuple[str, str, int]]:
    """(item, projectNo, assessNumber) of each record the rating was sent as.

    From the evaluation's status hash (what the submitter fanned out); if it has
    expired (90 days), from the case itself (its target; a batch or theme then
    names its own id, the items being unknown)."""
    raw = await redis.hmget(keys.evaluation(case["id"]), "ev", "covers")
    ev_json, covers = (keys.decoded(v) for v in raw)
    number = int(case.get("assess_number") or 1)
    if ev_json:
        ev = Evaluation.from_json(ev_json)
        items = json.loads(covers) if covers else list(ev.target.record_items())
        return [(item, project_no(ev, item), ev.assess_number) for item in items]
    kind, target = case.get("target_kind", ""), case.get("target", "")
    if kind == TargetKind.STAFF.value:
        return [(target, f"staff:{case.get('staff', '')}:{target}", number)]
    if kind == TargetKind.CALL.value:
        return [(target, f"call:{target}", number)]
    return [(target, target, number)]


async def correction_records(redis, case: dict, kind: str, reason: str,
                             at: datetime) -> list[StoreRecord]:
    """The corrections that report ``case``'s rating as ``kind`` (mistaken|malicious)."""
    when = at.astimezone(CHINA).strftime(TIME_FORMAT)
    out = []
    for item, project, number in await original_slots(redis, case):
        payload = {"projectNo": project, "assessNumber": number,
                   "correctionType": CORRECTION_TYPES[kind],
                   "correctionName": CORRECTION_NAMES[kind],
                   "verifyResult": "不属实", "reason": mask_phones_in_text(reason)[:500],
                   "correctTime": when}
        out.append(StoreRecord(idempotency_key(case["id"], item), payload, CORRECTION))
    return out


def entry_for(case_id: str, records: list[StoreRecord], at: datetime) -> dict:
    return {"case": case_id, "at": at.isoformat(), "records": json.dumps(
        [{"key": r.idempotency_key, "payload": r.payload} for r in records],
        ensure_ascii=False)}


_FINISH_LUA = """
-- KEYS[1] case, KEYS[2] case log, KEYS[3] corrections stream
-- ARGV[1] entry id, ARGV[2] group, ARGV[3] status, ARGV[4] at, ARGV[5] log entry, ARGV[6] ttl
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('HSET', KEYS[1], 'correction_status', ARGV[3], 'correction_at', ARGV[4])
  redis.call('RPUSH', KEYS[2], ARGV[5])
  redis.call('EXPIRE', KEYS[2], ARGV[6])
end
redis.call('XACK', KEYS[3], ARGV[2], ARGV[1])
redis.call('XDEL', KEYS[3], ARGV[1])
return 1
"""


async def ensure_group(redis) -> None:
    try:
        await redis.xgroup_create(CORRECTIONS, CORRECTIONS_GROUP, id="0", mkstream=True)
        await redis.expire(CORRECTIONS, CORRECTIONS_TTL_S)
    except Exception as exc:  # redis.ResponseError
        if "BUSYGROUP" not in str(exc):
            raise


def _entries(answer) -> list:
    if not answer:
        return []
    if isinstance(answer, dict):  # RESP3
        return [e for value in answer.values() for e in (value[0] if value and
                isinstance(value[0], list) else value or ())]
    return list(answer[0][1])


class CorrectionSender:
    """Sends the queued corrections to ``store``; see the module docstring."""

    def __init__(self, redis, store, consumer: str = "corrections",
                 claim_idle_ms: int = 60_000, attempts: int = 3, retry_initial: float = 0.2):
        self.redis = redis
        self.store = store
        self.consumer = consumer
        self.claim_idle_ms = claim_idle_ms
        self.attempts = attempts
        self.retry_initial = retry_initial
        self._finish = redis.register_script(_FINISH_LUA)
        self._stop = asyncio.Event()

    async def drain(self, count: int = 100) -> dict[str, int]:
        """One pass: own pending entries, others' idle ones, then new ones. Counts of
        sent / skipped / rejected / waiting (left pending) entries."""
        await ensure_group(self.redis)
        done: dict[str, int] = {"sent": 0, "skipped": 0, "rejected": 0, "waiting": 0}
        seen: set[str] = set()
        own = _entries(await self.redis.xreadgroup(
            CORRECTIONS_GROUP, self.consumer, {CORRECTIONS: "0"}, count=count))
        claimed = await self.redis.xautoclaim(CORRECTIONS, CORRECTIONS_GROUP, self.consumer,
                                              self.claim_idle_ms, start_id="0-0", count=count)
        new = _entries(await self.redis.xreadgroup(
            CORRECTIONS_GROUP, self.consumer, {CORRECTIONS: ">"}, count=count))
        for entry_id, fields in [*own, *claimed[1], *new]:
            entry_id = keys.decoded(entry_id)
            if entry_id in seen:
                continue
            seen.add(entry_id)
            if not fields:  # deleted while pending
                await self.redis.xack(CORRECTIONS, CORRECTIONS_GROUP, entry_id)
                continue
            fields = {keys.decoded(k): keys.decoded(v) for k, v in fields.items()}
            done[await self._send(entry_id, fields)] += 1
        return done

    async def _send(self, entry_id: str, fields: dict) -> str:
        case_id = fields.get("case", "")
        status = keys.decoded(await self.redis.hget(keys.evaluation(case_id), "status"))
        if status == "accepted":
            return "waiting"  # the rating is not at the store yet: correct it later
        if status == "dead":
            await self._close(entry_id, case_id, "skipped", "评价未进入核心库（死信），无需更正"
                              " the rating never reached the store")
            return "skipped"
        try:
            records = [StoreRecord(r["key"], r["payload"], CORRECTION)
                       for r in json.loads(fields.get("records") or "[]")]
        except (ValueError, KeyError, TypeError) as exc:
            await self._close(entry_id, case_id, "rejected", f"unreadable entry: {exc}")
            return "rejected"
        outcomes = []
        try:
            for record in records:
                outcomes.append(await self._submit(record))
        except TransientStoreError as exc:
            await self.redis.hset(results.case(case_id), "correction_error",
                                  mask_phones_in_text(str(exc))[:300])
            log.warning("correction for case %s: store unavailable, left pending", case_id)
            return "waiting"
        except RejectedByStore as exc:
            await self._close(entry_id, case_id, "rejected", exc.reason)
            return "rejected"
        words = ", ".join(o.value for o in outcomes) or "no record"
        await self._close(entry_id, case_id, "sent", f"已报送核心库更正 correction {words}")
        return "sent"

    async def _submit(self, record: StoreRecord) -> StoreOutcome:
        delay = self.retry_initial
        for attempt in range(1, self.attempts + 1):
            try:
                return await self.store.submit(record)
            except TransientStoreError:
                if attempt == self.attempts:
                    raise
                await asyncio.sleep(delay)
                delay *= 2
        raise AssertionError("unreachable")

    async def _close(self, entry_id: str, case_id: str, status: str, note: str) -> None:
        now = datetime.now(timezone.utc)
        entry = {"at": now.isoformat(), "by": "system", "from": "", "to": "",
                 "step": "correction", "note": f"{status}: {note}"[:500], "via": "corrections"}
        await self._finish(keys=[results.case(case_id), results.case_log(case_id),
                                 CORRECTIONS],
                           args=[entry_id, CORRECTIONS_GROUP, f"{status}: {note}"[:300],
                                 now.isoformat(), json.dumps(entry, ensure_ascii=False),
                                 results.CASE_TTL_S])

    async def run(self, interval: float = 5.0, max_interval: float = 300.0) -> None:
        """Passes until ``stop()``: every ``interval`` s, backing off while entries wait."""
        wait = interval
        while not self._stop.is_set():
            try:
                done = await self.drain()
                wait = min(wait * 2, max_interval) if done["waiting"] else interval
            except results.REDIS_DOWN:
                wait = min(wait * 2, max_interval)
            try:
                await asyncio.wait_for(self._stop.wait(), wait)
            except asyncio.TimeoutError:
                pass

    async def stop(self) -> None:
        self._stop.set()


class SenderComponent:
    """The gateway component that runs a ``CorrectionSender`` (``component(ctx)`` is the
    factory for ``gateway.components.EXTRA_COMPONENTS``: ``ctx.redis``, ``ctx.store``,
    ``ctx.fail``). One per process, each with its own consumer name."""

    name = "corrections"

    def __init__(self, ctx, interval: float = 5.0):
        import os
        import socket

        self.sender = CorrectionSender(
            ctx.redis, ctx.store, consumer=f"{socket.gethostname()}-{os.getpid()}")
        self.interval = interval
        self.fail = getattr(ctx, "fail", None)
        self.task: asyncio.Task | None = None

    async def start(self) -> None:
        self.task = asyncio.create_task(self.sender.run(self.interval), name="corrections")
        self.task.add_done_callback(self._died)

    def _died(self, task: asyncio.Task) -> None:
        if not task.cancelled() and task.exception() is not None and self.fail:
            self.fail(task.exception())

    async def stop(self) -> None:
        await self.sender.stop()
        if self.task is not None:
            try:
                await asyncio.wait_for(self.task, 10)
            except asyncio.TimeoutError:
                self.task.cancel()


def component(ctx) -> SenderComponent:
    return SenderComponent(ctx)
