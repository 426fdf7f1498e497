"""The submitter: drains the outbox into the core store, every item exactly once.

Theory of operation
-------------------
The intake appends each accepted evaluation to the Redis stream ``keys.OUTBOX``.
Every gateway process runs one ``Submitter`` with a unique consumer name in the
consumer group ``keys.OUTBOX_GROUP``; Redis hands each entry to one consumer and
keeps it in that consumer's pending list (PEL) until it is acknowledged.

The read loop keeps up to ``concurrency`` evaluations talking to the store.
Each one runs in its own task: fan out to one record per covered item
(``ratings.records``), submit them concurrently, and retry the ones that failed
transiently with exponential backoff and full jitter (tenacity) until each is
STORED or DUPLICATE. Finished evaluations are closed in batches by one script
call (``lua/submitted.lua``): status=submitted, submitted_at, attempts, a TTL on
the status hash, then XACK and XDEL. A record the store refuses for good
(``RejectedByStore``) dead-letters the evaluation instead, in one MULTI:
status=dead, last_error, an entry on ``keys.DEAD``, XACK and XDEL. Those closing
steps live in ``ratings.closing``; this module reads, claims and submits.

Exactly once at the store rests on two facts. (1) An entry leaves the PEL only
in the closing step that follows the store's answer, so a crash at any point
leaves it pending, to be re-delivered. (2) Every record has a stable
idempotency key (evaluation id + item), so a re-delivered record is answered
409/DUPLICATE and counts as done. A crash between the store's answer and the
closing step costs one duplicate request, never a duplicate record.

Crashed workers: every ``claim_every`` the loop XAUTOCLAIMs entries idle for
longer than ``claim_idle`` (their consumer died mid-request) and processes them.
A worker that is still busy with an entry (slow store, long backoff) keeps it by
re-claiming its own in-flight entries (XCLAIM JUSTID, idle reset) on the same
beat, so a live worker is not robbed.

Poison entries: a delivery that fails without a store answer (the store client
raised something that is neither ``TransientStoreError`` nor ``RejectedByStore``)
counts an attempt, records its error, and leaves the entry pending to be
claimed again; after ``max_failed_deliveries`` such deliveries (counted in the
status hash, so across processes and restarts) it is dead-lettered. Nothing is
retried for ever without a trace, and nothing is dropped.

Redis outages: every Redis call in the loop survives a connection error by
backing off and trying again; the closing steps are retried until Redis is
back. A group lost with the last second of an AOF (kill -9) is
re-created from id 0, which re-delivers every entry still in the stream; the
store's idempotency absorbs the repeats.

``stop()`` stops reading, lets in-flight evaluations finish (no new backoff
sleeps are started once stopping) for up to ``timeout`` seconds, then cancels
the rest: they stay pending and are re-delivered later.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import time
import uuid
from collections import Counter
from datetime import timedelta
from typing import Any, Awaitable, Callable

import redis.exceptions
from tenacity import AsyncRetrying, retry_if_exception_type, wait_random_exponential

from ratings import keys
from ratings.closing import REDIS_DOWN, BatchedScripts, Closer
from ratings.model import Evaluation, mask_phones_in_text
from ratings.records import RecordOptions, fan_out
from ratings.results import record_accepted
from ratings.store import (
    CoreStore,
    RejectedByStore,
    StoreOutcome,
    StoreRecord,
    TransientStoreError,
)

log = logging.getLogger(__name__)

ResultsHook = Callable[[Any, Evaluation], Awaitable[Any]]


def default_consumer_name() -> str:
    """Unique per process: host, pid and a random suffix (pids repeat across restarts)."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


def _done_future() -> asyncio.Future:
    done = asyncio.get_running_loop().create_future()
    done.set_result(None)
    return done


def _stream_entries(answer) -> list:
    """The (id, fields) pairs of a one-stream XREADGROUP answer, RESP2 or RESP3."""
    if not answer:
        return []
    if isinstance(answer, dict):  # RESP3: {stream: [[(id, fields), ...]]}
        entries: list = []
        for value in answer.values():
            if value and isinstance(value[0], list):
                for part in value:
                    entries.extend(part)
            else:
                entries.extend(value or ())
        return entries
    return list(answer[0][1])  # RESP2: [[stream, [(id, fields), ...]]]


class Submitter:
    def __init__(self, redis, store: CoreStore, consumer: str, concurrency: int = 64,
                 claim_idle: timedelta = timedelta(seconds=30),
                 record_options: RecordOptions | None = None,
                 block: timedelta = timedelta(seconds=1),
                 retry_initial: float = 0.1, retry_max_wait: float = 30.0,
                 max_attempts: int | None = None,
                 max_failed_deliveries: int = 5,
                 results_hook: ResultsHook | None = record_accepted):
        self.redis = redis
        self.store = store
        self.consumer = consumer
        self.concurrency = concurrency
        self.claim_idle_ms = int(claim_idle.total_seconds() * 1000)
        self.claim_every = max(claim_idle.total_seconds() / 3, 0.05)
        self.record_options = record_options or getattr(store, "record_options", None) \
            or RecordOptions()
        self.block_ms = max(int(block.total_seconds() * 1000), 1)
        self.retry_initial = retry_initial
        self.retry_max_wait = retry_max_wait
        self.max_attempts = max_attempts
        if max_failed_deliveries < 1:
            raise ValueError("max_failed_deliveries is at least 1")
        self.max_failed_deliveries = max_failed_deliveries
        # called once per evaluation read (console counters and cases); None = off
        self.results_hook = results_hook
        # submitted, stored, duplicates, dead, retries, claimed, redis_errors,
        # results_errors, failed_deliveries
        self.counts: Counter[str] = Counter()
        self._inflight: dict[str, asyncio.Task] = {}
        self._slot_freed = asyncio.Event()
        self._stopping = asyncio.Event()
        self._stopped = asyncio.Event()
        self._drain_timeout = 10.0
        self._claim_cursor = "0-0"
        self._redis_down_since: float | None = None
        self._running = False
        # read when this many slots are free: chunks, not one round trip per freed slot
        self._low_water = max(1, self.concurrency // 16)
        self._closing = 0  # in flight but done with the store, waiting for the closer
        self._closer = Closer(redis, consumer, self.counts)
        # the hook's script calls of all evaluations in flight share one round trip
        self._hook_redis = BatchedScripts(redis)

    # -- lifecycle ---------------------------------------------------------
    async def run(self) -> None:
        """Drain the outbox until ``stop()`` (one run per instance; a stop that came
        first makes it return at once)."""
        self._stopped.clear()
        self._running = True
        committer = asyncio.create_task(self._closer.run())
        hook_batcher = asyncio.create_task(self._hook_redis.run())
        try:
            await self._until_redis(self._ensure_group)
            await self._until_redis(self._take_own_pending)
            await self._read_loop()
            await self._drain(self._drain_timeout)
        except asyncio.CancelledError:
            await self._drain(0)
            raise
        finally:
            committer.cancel()
            hook_batcher.cancel()
            await asyncio.gather(committer, hook_batcher, return_exceptions=True)
            self._running = False
            self._stopped.set()

    async def stop(self, timeout: float = 10.0) -> None:
        """Stop reading; let in-flight evaluations finish for up to ``timeout`` s."""
        self._drain_timeout = timeout
        self._stopping.set()
        self._slot_freed.set()
        if self._running:
            await self._stopped.wait()

    @property
    def in_flight(self) -> int:
        return len(self._inflight)

    async def _drain(self, timeout: float) -> None:
        tasks = list(self._inflight.values())
        if tasks and timeout > 0:
            await asyncio.wait(tasks, timeout=timeout)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- Redis plumbing ----------------------------------------------------
    async def _until_redis(self, step):
        """Run a Redis step, waiting out outages with capped backoff; None if stopping."""
        delay = 0.05
        while True:
            try:
                result = await step()
            except REDIS_DOWN as exc:
                self.counts["redis_errors"] += 1
                if self._redis_down_since is None:
                    self._redis_down_since = time.monotonic()
                    log.warning("submitter %s: redis unavailable (%s); retrying",
                                self.consumer, type(exc).__name__)
                if self._stopping.is_set():
                    return None
                await asyncio.sleep(delay)
                delay = min(delay * 2, 1.0)
                continue
            except redis.exceptions.ResponseError as exc:
                if "NOGROUP" not in str(exc):
                    raise
                log.warning("submitter %s: consumer group missing; re-creating", self.consumer)
                try:
                    await self._ensure_group()
                except REDIS_DOWN:
                    await asyncio.sleep(delay)
                continue
            if self._redis_down_since is not None:
                log.info("submitter %s: redis back after %.1f s", self.consumer,
                         time.monotonic() - self._redis_down_since)
                self._redis_down_since = None
            return result

    async def _ensure_group(self) -> None:
        await keys.ensure_outbox_group(self.redis)

    # -- the read loop -----------------------------------------------------
    async def _read_loop(self) -> None:
        next_beat = 0.0
        low_water = self._low_water
        while not self._stopping.is_set():
            if time.monotonic() >= next_beat:
                free = self._free_slots()
                await self._until_redis(self._keep_own_entries)
                await self._until_redis(lambda n=free: self._claim_idle(n))
                next_beat = time.monotonic() + self.claim_every
            free = self._free_slots()
            if free < low_water and self._inflight:
                self._slot_freed.clear()
                try:
                    await asyncio.wait_for(self._slot_freed.wait(),
                                           max(next_beat - time.monotonic(), 0.001))
                except asyncio.TimeoutError:
                    pass
                continue
            answer = await self._until_redis(lambda n=free: self._read_new(n))
            await self._until_redis(lambda a=answer: self._spawn_all(_stream_entries(a)))

    async def _read_new(self, count: int):
        return await self.redis.xreadgroup(keys.OUTBOX_GROUP, self.consumer, {keys.OUTBOX: ">"},
                                           count=count, block=self.block_ms)

    async def _take_own_pending(self) -> None:
        """Entries this consumer name already holds (a restart under the same name)."""
        start = "0"
        while True:
            answer = await self.redis.xreadgroup(keys.OUTBOX_GROUP, self.consumer,
                                                 {keys.OUTBOX: start}, count=500)
            entries = _stream_entries(answer)
            if not entries:
                return
            await self._spawn_all(entries)
            start = keys.decoded(entries[-1][0])

    async def _keep_own_entries(self) -> None:
        if self._inflight:
            await self.redis.xclaim(keys.OUTBOX, keys.OUTBOX_GROUP, self.consumer, 0,
                                    list(self._inflight), justid=True)

    async def _claim_idle(self, count: int) -> None:
        if count <= 0:
            return
        answer = await self.redis.xautoclaim(
            keys.OUTBOX, keys.OUTBOX_GROUP, self.consumer, self.claim_idle_ms,
            start_id=self._claim_cursor, count=count)
        self._claim_cursor = keys.decoded(answer[0])
        self.counts["claimed"] += await self._spawn_all(answer[1])

    async def _spawn_all(self, entries) -> int:
        """Start a task per new entry (how many); ack entries deleted while pending."""
        gone, started = [], 0
        for entry_id, fields in entries:
            if fields:
                started += self._spawn(entry_id, fields)
            else:  # XDELed while in a PEL: nothing left to submit
                gone.append(entry_id)
        if gone:
            await self.redis.xack(keys.OUTBOX, keys.OUTBOX_GROUP, *gone)
        return started

    def _spawn(self, entry_id, fields) -> bool:
        entry_id = keys.decoded(entry_id)
        if entry_id in self._inflight:  # re-delivered while we still work on it
            return False
        fields = {keys.decoded(k): keys.decoded(v) for k, v in fields.items()}
        task = asyncio.create_task(self._process(entry_id, fields))
        self._inflight[entry_id] = task
        task.add_done_callback(lambda _t, e=entry_id: self._done(e))
        return True

    def _free_slots(self) -> int:
        """Slots for new entries: ``concurrency`` counts evaluations talking to the store.

        One that only waits for its closing script no longer holds a slot, but all
        in-flight entries together stay below twice ``concurrency`` (bounded memory
        if Redis is slow to close them).
        """
        talking = len(self._inflight) - self._closing
        return min(self.concurrency - talking, 2 * self.concurrency - len(self._inflight))

    def _wake_reader(self) -> None:
        if self._free_slots() >= self._low_water or self._stopping.is_set():
            self._slot_freed.set()  # only when a chunk can be read

    def _done(self, entry_id: str) -> None:
        task = self._inflight.pop(entry_id, None)
        self._wake_reader()
        if task is not None and not task.cancelled() and task.exception() is not None:
            log.error("submitter %s: entry %s failed: %r", self.consumer, entry_id,
                      task.exception())

    # -- one evaluation ----------------------------------------------------
    async def _process(self, entry_id: str, fields: dict[str, str]) -> None:
        ev_id = fields.get("id", "")
        try:
            ev = Evaluation.from_json(fields["ev"])
            covers = json.loads(fields["covers"]) if fields.get("covers") else None
            records = fan_out(ev, self.record_options, covers)
        except Exception as exc:  # noqa: BLE001 - a poison entry must not stop the loop
            await self._closer.dead(entry_id, ev_id, f"unreadable outbox entry: {exc}"[:500], 0)
            return
        ev_id = ev.id
        # console results + bad-rating case: counted once per evaluation (guarded,
        # idempotent); runs alongside the store calls and is awaited before the close
        results_hook = asyncio.ensure_future(self._record_results(ev)) \
            if self.results_hook is not None else _done_future()
        try:
            await self._submit_evaluation(entry_id, ev_id, records, results_hook)
        finally:
            if not results_hook.done():
                results_hook.cancel()

    async def _record_results(self, ev: Evaluation) -> None:
        """The console's counters (ratings.results); never blocks a submission."""
        try:
            await self._closer.until_final(lambda: self.results_hook(self._hook_redis, ev))
        except asyncio.CancelledError:
            raise
        except Exception:  # a bug there must not stop the evaluation reaching the store
            self.counts["results_errors"] += 1
            log.exception("submitter %s: results hook failed for evaluation %s",
                          self.consumer, ev.id)

    async def _submit_evaluation(self, entry_id: str, ev_id: str, records: list[StoreRecord],
                                 results_hook: asyncio.Future) -> None:
        pending = list(records)
        attempts = 0

        async def attempt_all() -> None:
            nonlocal pending, attempts
            attempts += 1
            if len(pending) == 1:  # the common case: no gather, no extra task
                try:
                    results = [await self._submit(pending[0])]
                except (TransientStoreError, RejectedByStore) as exc:
                    results = [exc]
            else:
                results = await asyncio.gather(*(self._submit(r) for r in pending),
                                               return_exceptions=True)
            still, transient = [], None
            for record, result in zip(pending, results, strict=True):
                if isinstance(result, StoreOutcome):
                    continue
                if isinstance(result, RejectedByStore):
                    raise result
                if isinstance(result, TransientStoreError):
                    still.append(record)
                    transient = result
                    continue
                raise result
            pending = still
            if transient is not None:
                self.counts["retries"] += 1
                await self._closer.note_failure(ev_id, str(transient))
                raise transient

        try:
            try:
                await attempt_all()  # first try outside tenacity: most records need one
            except TransientStoreError:
                if self._retry_stop_now(attempts):
                    raise
                async for attempt in AsyncRetrying(
                        retry=retry_if_exception_type(TransientStoreError),
                        wait=wait_random_exponential(multiplier=self.retry_initial,
                                                     max=self.retry_max_wait),
                        stop=lambda _state: self._retry_stop_now(attempts), reraise=True):
                    with attempt:
                        await attempt_all()
        except RejectedByStore as exc:
            await results_hook
            await self._closer.dead(entry_id, ev_id, exc.reason, 1, status=exc.status)
            return
        except TransientStoreError as exc:
            if self._stopping.is_set():
                return  # stays pending; re-delivered after a restart or claimed
            await results_hook
            # every failed attempt is already counted by _note_failure
            await self._closer.dead(entry_id, ev_id, f"gave up after {attempts} attempts: "
                                    f"{exc}"[:500], 0)
            return
        except Exception as exc:  # noqa: BLE001 - neither a store answer nor an outage
            await self._failed_delivery(entry_id, ev_id, exc, results_hook)
            return
        await results_hook
        await self._finish_submitted(entry_id, ev_id)

    async def _failed_delivery(self, entry_id: str, ev_id: str, exc: Exception,
                               results_hook: asyncio.Future) -> None:
        """The store client raised something that is no store answer (a bug, a record it
        cannot send): count the attempt, record the error, and leave the entry pending
        (claimed again after ``claim_idle``) until ``max_failed_deliveries`` of its
        deliveries have failed; then dead-letter it with that error."""
        error = mask_phones_in_text(f"{type(exc).__name__}: {exc}")[:400]
        self.counts["failed_deliveries"] += 1
        failures = await self._closer.note_failure(ev_id, error, delivery_failed=True)
        log.error("submitter %s: delivery %s of evaluation %s failed: %s", self.consumer,
                  failures or "?", ev_id, error)
        if failures is None or failures < self.max_failed_deliveries:
            return  # Redis down or tries left: stays pending, claimed again later
        await results_hook
        await self._closer.dead(entry_id, ev_id,
                                f"gave up after {failures} failed deliveries: {error}", 0)

    async def _submit(self, record: StoreRecord) -> StoreOutcome:
        outcome = await self.store.submit(record)
        self.counts["duplicates" if outcome is StoreOutcome.DUPLICATE else "stored"] += 1
        return outcome

    def _retry_stop_now(self, attempts: int) -> bool:
        if self._stopping.is_set():
            return True
        return self.max_attempts is not None and attempts >= self.max_attempts

    async def _finish_submitted(self, entry_id: str, ev_id: str) -> None:
        # Done with the store: the slot is free for a new entry while Redis closes it.
        self._closing += 1
        self._wake_reader()
        try:
            await self._closer.submitted(entry_id, ev_id)
        finally:
            self._closing -= 1
        self.counts["submitted"] += 1
