"""Redis bytes per pending reminder, with 1,000,000 pending.

    .venv/bin/python bench/sms/bench_reminder_memory.py [-n 1000000] [--per-phone 1]

Starts a private redis-server (no AOF), schedules N reminders through
sms.reminders.Reminders.schedule_many (the real Lua script, pipelined 1,000 at
a time) and prints the INFO used_memory delta per reminder, MEMORY USAGE of one
record hash and one per-number codes hash, and the scheduling rate.
``--per-phone K`` gives every number K pending items (K=1 is the worst case:
one codes hash per reminder). Baseline in the same run: the same N ids in a
bare sorted set (the least any due-time index can cost).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import redis.asyncio as aioredis  # noqa: E402

from adapters.redis_server import RedisServer  # noqa: E402
from sms import keys  # noqa: E402
from sms.completions import Completion  # noqa: E402
from sms.reminders import Reminders  # noqa: E402


async def used(redis) -> int:
    return (await redis.info("memory"))["used_memory"]


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=1_000_000)
    parser.add_argument("--per-phone", type=int, default=1)
    args = parser.parse_args()
    n, k = args.n, args.per_phone
    with tempfile.TemporaryDirectory() as tmp, RedisServer(tmp, aof=False) as server:
        redis = aioredis.Redis.from_url(server.url, socket_timeout=120)
        # Baseline first: the same ids in a bare sorted set, then dropped.
        base_start = await used(redis)
        for first in range(0, n, 10_000):
            await redis.zadd("bare", {f"i:44010020261127{i:08d}": 1.8e9 + i
                                      for i in range(first, min(first + 10_000, n))})
        bare = (await used(redis) - base_start) / n
        await redis.delete("bare")
        reminders = Reminders(redis, b"bench-secret")
        done = datetime.now(timezone.utc) - timedelta(hours=1)
        start = await used(redis)
        t = time.perf_counter()
        batch = 1000
        for first in range(0, n, batch):
            await reminders.schedule_many([
                Completion(f"44010020261127{i:08d}", "11440100MB2C92162X4440111017000",
                           "居住证签注", "广州市公安局", f"+86138{i // k:08d}", done)
                for i in range(first, min(first + batch, n))])
        seconds = time.perf_counter() - t
        after = await used(redis)
        pending = await reminders.pending_count()
        record = await redis.memory_usage(keys.reminder("i:4401002026112700000000"))
        codes = await redis.memory_usage(keys.codes(keys.phone_ref(b"bench-secret",
                                                                   "+8613800000000")))
        print(f"pending reminders       {pending}")
        print(f"numbers                 {n // k} ({k} pending per number)")
        print(f"used_memory delta       {after - start:,} bytes")
        print(f"bytes per reminder      {(after - start) / n:.0f}")
        print(f"MEMORY USAGE record     {record} bytes")
        print(f"MEMORY USAGE codes hash {codes} bytes (one per number)")
        print(f"scheduled               {n / seconds:.0f}/s (pipelined 1,000 per round trip)")
        print(f"baseline: bare zset     {bare:.0f} bytes per id; "
              f"ratio reminder/bare {(after - start) / n / bare:.1f}")
        await redis.aclose()


if __name__ == "__main__":
    asyncio.run(main())
