#!/usr/bin/env python3
"""The console's results hook as the submitter calls it: merged vs one script each.

    .venv/bin/python bench/submit/results_hook_bench.py [--n 20000] [--rounds 6]

``ratings.results.record_accepted`` through the submitter's ``BatchedScripts``, 64
concurrent callers, good grades (no case), private redis-server. Two sides take
turns round by round in one process:

  merged    what the submitter runs since issue 16: the calls of one batch are one
            EVALSHA of the lean counting script (a few arguments per evaluation)
  one each  the same batcher with the merged form hidden: one EVALSHA of the full
            script (~20 arguments) per evaluation in the batch's pipeline, as before

Prints CPU per call (this process: the hook's Python side, batching included) and
calls/s, median of the rounds, and checks that each side counted every evaluation once.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

import redis.asyncio as aioredis  # noqa: E402

from adapters.redis_server import RedisServer  # noqa: E402
from ratings import results  # noqa: E402
from ratings.closing import BatchedScripts  # noqa: E402
from ratings.grades import Grade  # noqa: E402
from ratings.model import Channel, Evaluation, Target, TargetKind, utcnow  # noqa: E402


class OneEach:
    """The batcher without its merged form: record_accepted takes the full script."""

    def __init__(self, batcher: BatchedScripts):
        self._batcher = batcher

    def register_script(self, text):
        return self._batcher.register_script(text)


async def side(r, merged: bool, evs: list[Evaluation], callers: int) -> tuple[float, float]:
    batcher = BatchedScripts(r)
    runner = asyncio.create_task(batcher.run())
    hook_redis = batcher if merged else OneEach(batcher)
    queue = iter(evs)
    counted = 0

    async def caller():
        nonlocal counted
        for ev in queue:
            ok = await results.record_accepted(hook_redis, ev)
            counted += ok

    cpu0, t0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(callers)))
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - t0
    runner.cancel()
    await asyncio.gather(runner, return_exceptions=True)
    assert counted == len(evs), (counted, len(evs))
    return cpu / len(evs) * 1e6, len(evs) / wall


async def main(n: int, rounds: int, callers: int) -> None:
    load = os.getloadavg()[0]
    grades = [Grade.VERY_SATISFIED, Grade.SATISFIED, Grade.BASICALLY_SATISFIED]
    figures: dict[str, list[tuple[float, float]]] = {"merged": [], "one each": []}
    with tempfile.TemporaryDirectory() as tmp:
        server = RedisServer(Path(tmp) / "redis").start()
        r = aioredis.Redis.from_url(server.url, max_connections=callers + 8)
        try:
            for rnd in range(rounds + 1):  # round 0 warms both (scripts, connections)
                for name in (("merged", "one each") if rnd % 2 else ("one each", "merged")):
                    evs = [Evaluation(Target(TargetKind.ITEM, f"{name}-{rnd}-{i}"),
                                      Channel.HOTLINE, grades[i % 3], utcnow(),
                                      context={"task_code": f"T{i % 7}"})
                           for i in range(n // rounds if rnd else 500)]
                    got = await side(r, name == "merged", evs, callers)
                    if rnd:
                        figures[name].append(got)
        finally:
            await r.aclose()
            server.stop()
    print(f"{n:,} evaluations per side in {rounds} interleaved rounds, {callers} callers, "
          f"load average {load:.1f} at start, {os.getloadavg()[0]:.1f} at end")
    med = {}
    for name, runs in figures.items():
        cpu = statistics.median(c for c, _ in runs)
        rate = statistics.median(x for _, x in runs)
        med[name] = cpu
        print(f"{name:<9} {cpu:6.1f} us CPU/call (rounds {min(c for c, _ in runs):.1f}-"
              f"{max(c for c, _ in runs):.1f})   {rate:9,.0f} calls/s")
    print(f"ratio CPU merged/one each {med['merged'] / med['one each']:.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--callers", type=int, default=64)
    args = parser.parse_args()
    asyncio.run(main(args.n, args.rounds, args.callers))
