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
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

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

    async def note_failure(self, ev_id: str, error: str) -> None:
        """Best effort: attempts and last_error of a failed attempt (Redis may be down)."""
        try:
            pipe = self.redis.pipeline(transaction=False)
            pipe.hincrby(keys.evaluation(ev_id), "attempts", 1)
            pipe.hset(keys.evaluation(ev_id), "last_error", error[:500])
            await pipe.execute()
        except REDIS_DOWN:
            pass

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


def _now_iso() -> str:
    return datetime.now(timezone.utc).isoformat()
