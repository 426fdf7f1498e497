"""The submitter's closing steps: what it writes to Redis once the store has answered.

Theory of operation
-------------------
An outbox entry leaves the consumer group's pending list only here, and only
after the core store's final answer (``ratings.submitter`` explains why that
makes delivery exactly once). Two endings:

- submitted: ``Closer.submitted`` queues the entry; one ``run`` task closes all
  that are ready with one call of ``lua/submitted.lua`` (status, submitted_at,
  attempts, TTL, then XACK and XDEL): one round trip per batch, not five
  commands per evaluation. The caller is answered after the script returned.
- dead: ``Closer.dead`` writes status=dead and last_error, an entry on
  ``keys.DEAD``, XACK and XDEL in one MULTI.

A closing step must happen: ``until_final`` waits out a Redis outage (backoff
capped at 1 s) until the step went through or the task is cancelled on stop,
in which case the entry stays pending and is re-delivered.
``note_failure`` is the one best-effort write (attempts, last_error of a
failed attempt).

The console's results hook (one script call per evaluation) is handed a
``BatchedScripts`` in place of the Redis client: the script calls that many
evaluations make at the same moment go out as one pipeline (one round trip),
each caller still awaiting its own answer or error, so the hook keeps its
exactly-once guard and its retry-on-outage without a round trip of its own.
A script written for it (``register_merged_script``) goes further: all its
calls of one batch are one EVALSHA (their keys declared once, their arguments
one after the other, see ``merge_calls``), so an evaluation costs a handful of
arguments in one command, not a command of its own with ~20.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import redis.exceptions

from ratings import keys

log = logging.getLogger("ratings.submitter")  # one logger for the submitter's lines

# Worth waiting out: a restart (connection refused, LOADING), a timeout, a failover
# (READONLY from a former primary).
REDIS_DOWN = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError,
              redis.exceptions.ReadOnlyError, OSError)
DEAD_MAXLEN = 1_000_000  # approximate cap of the dead-letter stream
SUBMITTED_LUA = (Path(__file__).parent / "lua" / "submitted.lua").read_text(encoding="utf-8")


class Closer:
    def __init__(self, redis, consumer: str, counts: Counter[str]):
        self.redis = redis
        self.consumer = consumer  # for log lines
        self.counts = counts  # the submitter's: dead, redis_errors
        # finished evaluations waiting for the batched closing script (see run)
        self._to_commit: list[tuple[str, str, asyncio.Future]] = []
        self._wakeup = asyncio.Event()
        self._submitted_script = redis.register_script(SUBMITTED_LUA)

    async def submitted(self, entry_id: str, ev_id: str) -> None:
        """Returns once the entry is closed as submitted (by the next batch of ``run``)."""
        done = asyncio.get_running_loop().create_future()
        self._to_commit.append((entry_id, ev_id, done))
        self._wakeup.set()
        await done

    async def run(self) -> None:
        """Close finished evaluations in batches: one script call for all that are ready."""
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            batch, self._to_commit = self._to_commit, []
            if not batch:
                continue
            script_keys = [keys.evaluation(ev_id) for _e, ev_id, _d in batch] + [keys.OUTBOX]
            args = [_now_iso(), keys.RECORD_TTL_S, keys.OUTBOX_GROUP,
                    *(entry_id for entry_id, _ev, _d in batch)]

            async def commit(script_keys=script_keys, args=args):
                await self._submitted_script(keys=script_keys, args=args)

            await self.until_final(commit)
            for _entry_id, _ev_id, done in batch:
                if not done.done():
                    done.set_result(None)

    async def dead(self, entry_id: str, ev_id: str, reason: str, attempts: int,
                   status: int | None = None) -> None:
        async def commit():
            pipe = self.redis.pipeline(transaction=True)
            if ev_id:
                key = keys.evaluation(ev_id)
                pipe.hset(key, mapping={"status": "dead", "last_error": reason})
                pipe.hincrby(key, "attempts", attempts)
                pipe.expire(key, keys.RECORD_TTL_S)
            pipe.xadd(keys.DEAD, {"id": ev_id, "entry": entry_id, "reason": reason,
                                  "status": str(status or ""), "dead_at": _now_iso()},
                      maxlen=DEAD_MAXLEN, approximate=True)
            pipe.xack(keys.OUTBOX, keys.OUTBOX_GROUP, entry_id)
            pipe.xdel(keys.OUTBOX, entry_id)
            await pipe.execute()

        await self.until_final(commit)
        self.counts["dead"] += 1
        log.warning("submitter %s: evaluation %s dead-lettered: %s", self.consumer, ev_id,
                    reason)

    async def note_failure(self, ev_id: str, error: str,
                           delivery_failed: bool = False) -> int | None:
        """Best effort: attempts and last_error of a failed attempt (Redis may be down).

        ``delivery_failed``: the whole delivery failed (not a store answer, not an
        outage); also counts ``failed_deliveries`` in the status hash and returns the
        new count (None if Redis did not answer).
        """
        try:
            pipe = self.redis.pipeline(transaction=False)
            pipe.hincrby(keys.evaluation(ev_id), "attempts", 1)
            pipe.hset(keys.evaluation(ev_id), "last_error", error[:500])
            if delivery_failed:
                pipe.hincrby(keys.evaluation(ev_id), "failed_deliveries", 1)
            answers = await pipe.execute()
        except REDIS_DOWN:
            return None
        return int(answers[-1]) if delivery_failed else None

    async def until_final(self, commit) -> None:
        """The closing step must happen: wait out a Redis outage (cancelled on stop)."""
        delay = 0.05
        while True:
            try:
                await commit()
                return
            except REDIS_DOWN:
                self.counts["redis_errors"] += 1
                await asyncio.sleep(delay)
                delay = min(delay * 2, 1.0)


def merge_calls(calls: list[tuple[list, list]]) -> tuple[list, list]:
    """KEYS and ARGV of one call of a merged script standing for ``calls``
    ((keys, args) each): KEYS = the distinct keys in order of first use (each
    declared once: a day's hashes serve a whole batch); ARGV, per call in order:
    its number of keys, their indexes in KEYS, its number of args, its args.
    The script answers one reply per call, in order."""
    index: dict = {}
    merged_keys: list = []
    argv: list = []
    for call_keys, args in calls:
        argv.append(len(call_keys))
        for key in call_keys:
            at = index.get(key)
            if at is None:
                merged_keys.append(key)
                at = index[key] = len(merged_keys)
            argv.append(at)
        argv.append(len(args))
        argv.extend(args)
    return merged_keys, argv


class BatchedScripts:
    """Stands in for the Redis client towards a hook that calls registered scripts.

    ``register_script`` returns a script whose calls are queued; ``run`` sends all
    queued calls in one non-transactional pipeline per round trip (calls made while
    one is in flight form the next batch) and answers each caller with its own
    reply or exception (a connection error fails the whole batch: every caller
    sees it and retries on its own). ``register_merged_script`` takes a script that
    reads the ``merge_calls`` layout: the calls of one batch are one EVALSHA in
    that pipeline. Other public attributes are the real client's.
    """

    def __init__(self, redis):
        self._redis = redis
        self._queue: list[tuple[Any, list, list, asyncio.Future]] = []
        self._wakeup = asyncio.Event()

    def __getattr__(self, name: str):
        if name.startswith("_"):  # a hook's per-client cache lives on this object
            raise AttributeError(name)
        return getattr(self._redis, name)

    def register_script(self, text) -> "_QueuedScript":
        return _QueuedScript(self, self._redis.register_script(text))

    def register_merged_script(self, text) -> "_MergedScript":
        """A script over the ``merge_calls`` layout; call it with one call's keys and
        args, get that call's reply (or the batch's error)."""
        return _MergedScript(self, self._redis.register_script(text))

    async def call(self, script, keys: list, args: list):
        done = asyncio.get_running_loop().create_future()
        self._queue.append((script, keys, args, done))
        self._wakeup.set()
        return await done

    async def run(self) -> None:
        batch: list = []
        try:
            while True:
                await self._wakeup.wait()
                self._wakeup.clear()
                batch, self._queue = self._queue, []
                if batch:
                    await self._send(batch)
                batch = []
        finally:  # stopped: no caller may wait for an answer that will never come
            stopped = redis.exceptions.ConnectionError("script batcher stopped")
            for *_call, done in [*batch, *self._queue]:
                if not done.done():
                    done.set_exception(stopped)
            self._queue = []

    async def _send(self, batch) -> None:
        batch = _merged(batch)
        pipe = self._redis.pipeline(transaction=False)
        for script, script_keys, args, _done in batch:
            pipe.evalsha(script.sha, len(script_keys), *script_keys, *args)
        try:
            answers = await pipe.execute(raise_on_error=False)
        except Exception as exc:  # noqa: BLE001 - handed to every caller
            answers = [exc] * len(batch)
        for (script, script_keys, args, done), answer in zip(batch, answers, strict=True):
            if isinstance(answer, redis.exceptions.NoScriptError):
                try:  # the script cache was lost (a restart): the real script loads it
                    answer = await script(keys=script_keys, args=args)
                except Exception as exc:  # noqa: BLE001 - handed to the caller
                    answer = exc
            if done.done():  # the caller was cancelled (stop)
                continue
            if isinstance(answer, BaseException):
                done.set_exception(answer)
            else:
                done.set_result(answer)


def _merged(batch: list) -> list:
    """The batch with the calls of each merged script folded into one call, whose
    future hands every caller its own reply (or the shared error)."""
    if not any(isinstance(script, _Merge) for script, *_rest in batch):
        return batch
    plain: list = []
    groups: dict[Any, list] = {}
    for call in batch:
        if isinstance(call[0], _Merge):
            groups.setdefault(call[0].script, []).append(call)
        else:
            plain.append(call)
    loop = asyncio.get_running_loop()
    for script, calls in groups.items():
        merged_keys, argv = merge_calls([(k, a) for _s, k, a, _d in calls])
        done = loop.create_future()
        done.add_done_callback(lambda f, calls=calls: _hand_out(f, calls))
        plain.append((script, merged_keys, argv, done))
    return plain


def _hand_out(merged: asyncio.Future, calls: list) -> None:
    error = merged.exception() if not merged.cancelled() else \
        redis.exceptions.ConnectionError("script batcher stopped")
    replies = None if error is not None else merged.result()
    if error is None and (not isinstance(replies, list) or len(replies) != len(calls)):
        error = redis.exceptions.ResponseError(
            f"a merged script answered {replies!r} for {len(calls)} calls")
    for i, (*_call, done) in enumerate(calls):
        if done.done():
            continue
        if error is not None:
            done.set_exception(error)
        else:
            done.set_result(replies[i])


class _Merge:
    """Marks a queued call of a merged script (``script`` is the real AsyncScript)."""

    __slots__ = ("script",)

    def __init__(self, script):
        self.script = script


class _MergedScript:
    def __init__(self, batcher: BatchedScripts, script):
        self._batcher = batcher
        self._merge = _Merge(script)
        self._script = script
        self.sha = script.sha

    async def __call__(self, keys=None, args=None, client=None):
        call_keys, call_args = list(keys or ()), list(args or ())
        if client is not None:  # outside the batcher: a merged call of one
            merged_keys, argv = merge_calls([(call_keys, call_args)])
            return (await self._script(keys=merged_keys, args=argv, client=client))[0]
        return await self._batcher.call(self._merge, call_keys, call_args)


class _QueuedScript:
    def __init__(self, batcher: BatchedScripts, script):
        self._batcher = batcher
        self._script = script  # the real AsyncScript: sha, and the NOSCRIPT fallback
        self.sha = script.sha

    async def __call__(self, keys=None, args=None, client=None):
        if client is not None:
            return await self._script(keys=keys, args=args, client=client)
        return await self._batcher.call(self._script, list(keys or ()), list(args or ()))


def _now_iso() -> str:
    return datetime.now(timezone.utc).isoformat()
