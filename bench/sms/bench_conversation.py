"""Citizen replies handled per second by the SMS conversation, and what its parts cost.

    .venv/bin/python bench/sms/bench_conversation.py [-n 2000] [--concurrency 32]

Starts a private redis-server (no AOF), schedules and "sends" N reminders to N
numbers (a no-op carrier: the bench measures the gateway, not a carrier), then
hands each number the reply "1" through ``Conversations.on_inbound``: route (parse,
the number's items), run the shipped flow, ``Intake.accept``, answer. Rows:

  bare intake     the same N evaluations straight into Intake.accept (baseline)
  conversation    on_inbound with the cross-process Redis lock per number
  no redis lock   on_inbound with the in-process lock only (what the lock costs)

and the ratios conversation/bare and conversation/no-lock, from the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import redis.asyncio as aioredis  # noqa: E402

from adapters.redis_server import RedisServer  # noqa: E402
from ratings.grades import Grade  # noqa: E402
from ratings.intake import Intake  # noqa: E402
from ratings.model import Channel, Evaluation, Target, TargetKind  # noqa: E402
from sms.carrier import InboundSms, SubmitResult  # noqa: E402
from sms.completions import Completion  # noqa: E402
from sms.conversation import Conversations  # noqa: E402
from sms.optout import OptOuts  # noqa: E402
from sms.reminders import SENT, Reminders  # noqa: E402

SECRET = b"bench-secret"


class NullCarrier:
    name = "null"

    async def send(self, message) -> SubmitResult:
        return SubmitResult(message.id, (message.id,), 1)


def phone(i: int) -> str:
    return f"+86139{i:08d}"


async def prepare(redis, prefix: str, n: int) -> Reminders:
    reminders = Reminders(redis, SECRET)
    at = datetime.now(timezone.utc) - timedelta(days=2)
    done = [Completion(f"{prefix}{i:08d}", "SVC", "居住证签注", "广州市公安局", phone(i), at)
            for i in range(n)]
    for i in range(0, n, 1000):
        await reminders.schedule_many(done[i:i + 1000])
    for c in done:  # as if the dispatcher had sent them
        await reminders.finish(c.reminder_id, SENT)
    return reminders


async def timed(label: str, n: int, concurrency: int, one) -> float:
    limit = asyncio.Semaphore(concurrency)

    async def guarded(i):
        async with limit:
            return await one(i)

    start = time.perf_counter()
    results = await asyncio.gather(*(guarded(i) for i in range(n)))
    elapsed = time.perf_counter() - start
    bad = sum(1 for r in results if r not in (True, "completed"))
    print(f"{label:16s} {n:6d} replies {elapsed:7.2f} s {n / elapsed:8.0f}/s  not rated {bad}")
    return n / elapsed


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    n, conc = args.n, args.concurrency
    with tempfile.TemporaryDirectory() as tmp, RedisServer(tmp, aof=False) as server:
        redis = aioredis.Redis.from_url(server.url)
        intake = Intake(redis, SECRET)
        now = datetime.now(timezone.utc)

        async def bare(i):
            ev = Evaluation(Target(TargetKind.ITEM, f"BARE{i:08d}"), Channel.SMS,
                            Grade.VERY_SATISFIED, now, phone=phone(i))
            return (await intake.accept(ev)).accepted

        def replying(conversations):
            async def one(i):
                return await conversations.on_inbound(InboundSms(phone(i), "1", now))
            return one

        base = await timed("bare intake", n, conc, bare)
        reminders = await prepare(redis, "LOCK", n)
        with_lock = Conversations(reminders, intake, OptOuts(redis, SECRET), NullCarrier())
        locked = await timed("conversation", n, conc, replying(with_lock))
        await redis.flushdb()
        reminders = await prepare(redis, "FREE", n)
        no_lock = Conversations(reminders, intake, OptOuts(redis, SECRET), NullCarrier())
        local = no_lock._locks

        @contextlib.asynccontextmanager
        async def in_process_only(number):
            lock = local.setdefault(number, asyncio.Lock())
            async with lock:
                yield

        no_lock._number_lock = in_process_only
        unlocked = await timed("no redis lock", n, conc, replying(no_lock))
        print(f"ratio conversation/bare-intake {locked / base:.2f}; "
              f"conversation/no-redis-lock {locked / unlocked:.2f}")
        await redis.aclose()


if __name__ == "__main__":
    asyncio.run(main())
