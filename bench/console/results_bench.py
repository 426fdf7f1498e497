"""What the console's exactly-once bookkeeping costs.

1. Results: ``ratings.results.record_accepted`` (one EVALSHA: SET NX guard, three
   HINCRBY, a case for bad grades) against a baseline pipeline of the same three
   HINCRBY with no guard (not exactly-once, no case). 20 % of the calls are
   re-deliveries of an evaluation already counted.
2. Funnel: ``FunnelAggregator.apply`` (count + XACK in one script per batch) against
   a baseline that only XREADGROUPs and XACKs the same entries (no counting).

One private redis-server on loopback, same run; prints rates and the ratios.
Run: .venv/bin/python bench/console/results_bench.py [-n 20000] [-c 64]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import redis.asyncio as aioredis  # noqa: E402

from adapters.redis_server import RedisServer  # noqa: E402
from ratings import results  # noqa: E402
from ratings.grades import Grade  # noqa: E402
from ratings.model import Channel, Evaluation, Target, TargetKind  # noqa: E402


def evaluations(n: int) -> list[Evaluation]:
    rng = random.Random(7)
    now = datetime.now(timezone.utc)
    out = []
    for i in range(n):
        grade = rng.choice(list(Grade))
        out.append(Evaluation(
            target=Target(TargetKind.ITEM, f"B{i}"), channel=rng.choice(list(Channel)),
            grade=grade, assessed_at=now - timedelta(days=rng.randrange(30)),
            reasons=("attitude",) if grade.is_bad else (), phone="+8613812345678",
            context={"task_code": f"T{rng.randrange(50)}", "agent": f"S{rng.randrange(200)}"}))
    redelivered = [rng.choice(out) for _ in range(n // 4)]
    return out + redelivered


async def run(calls, worker, concurrency: int) -> float:
    queue = list(calls)
    start = time.perf_counter()

    async def one():
        while queue:
            await worker(queue.pop())

    await asyncio.gather(*(one() for _ in range(concurrency)))
    return len(calls) / (time.perf_counter() - start)


async def bench_results(redis, n: int, concurrency: int) -> tuple[float, float]:
    evs = evaluations(n)

    async def baseline(ev):
        day = results.day(results.local_day(ev))
        async with redis.pipeline(transaction=False) as pipe:
            for f in results.count_fields(ev):
                pipe.hincrby(day, f, 1)
            await pipe.execute()

    await redis.flushall()
    base = await run(evs, baseline, concurrency)
    await redis.flushall()
    measured = await run(evs, lambda ev: results.record_accepted(redis, ev), concurrency)
    counted = sum(sum(c.values()) for c in (await results.load_results(
        redis, datetime.now(timezone.utc).date() - timedelta(days=31),
        datetime.now(timezone.utc).date() + timedelta(days=1))).by_channel.values())
    assert counted == n, (counted, n)  # re-deliveries counted nothing
    return base, measured


async def bench_funnel(redis, n: int) -> tuple[float, float]:
    stat = {"kind": "entered", "node": "ask_grade", "flow_id": "hotline-rating",
            "flow_version": "v1", "at": "2026-11-27T10:00:00+00:00", "detail": {}}

    async def fill():
        await redis.delete(results.STATS)
        async with redis.pipeline(transaction=False) as pipe:
            for i in range(n):
                pipe.xadd(results.STATS, {"stat": json.dumps({**stat, "node": f"n{i % 12}"})})
            await pipe.execute()
        await redis.xgroup_create(results.STATS, results.FUNNEL_GROUP, id="0")

    await fill()
    start = time.perf_counter()
    while True:
        answer = await redis.xreadgroup(results.FUNNEL_GROUP, "b", {results.STATS: ">"},
                                        count=500)
        if not answer or not answer[0][1]:
            break
        await redis.xack(results.STATS, results.FUNNEL_GROUP, *[i for i, _ in answer[0][1]])
    base = n / (time.perf_counter() - start)
    await redis.flushall()
    await fill()
    agg = results.FunnelAggregator(redis, "m", block_ms=1)
    start = time.perf_counter()
    counted = await agg.drain()
    measured = n / (time.perf_counter() - start)
    assert counted == n
    return base, measured


async def main(n: int, concurrency: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        server = RedisServer(Path(tmp)).start()
        redis = aioredis.Redis.from_url(server.url, max_connections=concurrency + 4)
        try:
            base, measured = await bench_results(redis, n, concurrency)
            print(f"results: {n:,} evaluations + {n // 4:,} re-deliveries, "
                  f"{concurrency} concurrent callers")
            print(f"baseline  3×HINCRBY pipeline     {base:8,.0f} calls/s")
            print(f"measured  record_accepted (Lua)  {measured:8,.0f} calls/s")
            print(f"ratio measured/baseline {measured / base:.2f}")
            await redis.flushall()
            base, measured = await bench_funnel(redis, n)
            print(f"funnel: {n:,} statistics events, batches of 500")
            print(f"baseline  XREADGROUP + XACK      {base:8,.0f} events/s")
            print(f"measured  count + XACK (Lua)     {measured:8,.0f} events/s")
            print(f"ratio measured/baseline {measured / base:.2f}")
        finally:
            await redis.aclose()
            server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=20_000)
    parser.add_argument("-c", type=int, default=64)
    args = parser.parse_args()
    asyncio.run(main(args.n, args.c))
