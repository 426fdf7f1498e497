#!/usr/bin/env python3
"""Submitter throughput against a bare aiohttp POST loop, same store, same run.

    .venv/bin/python bench/submit/bench_submit.py [--n 20000] [--concurrency 64]

Setup: a private redis-server (AOF everysec, as the gateway runs it) and the
loopback core store in its own process (so that the store's CPU is not the
client's). N evaluations are written to the outbox in the intake's format.

  baseline   N pre-built, pre-signed records POSTed by `concurrency` workers on
             one aiohttp session (connector limit = concurrency): the HTTP floor.
  submitter  the Submitter drains the N outbox entries to the same store (reads,
             fan-out, signing, POST, status MULTI + XACK + XDEL per evaluation).

Prints submissions/s, p50/p99 of the store request as each side saw it, the
client CPU per submission, and the ratio submitter/baseline. ``--store-latency``
makes every store answer take that long (a provincial store across a WAN):
then both sides are bound by latency x concurrency, not by this machine's CPU.
The store is reset between the runs. Each side runs
`--rounds` times; the best round of each is compared.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import aiohttp  # noqa: E402
import redis.asyncio as aioredis  # noqa: E402

from adapters.redis_server import RedisServer  # noqa: E402
from adapters.store_http import HttpCoreStore  # noqa: E402
from ratings import keys  # noqa: E402
from ratings.grades import Grade  # noqa: E402
from ratings.model import Channel, Evaluation, Target, TargetKind, utcnow  # noqa: E402
from ratings.records import fan_out  # noqa: E402
from ratings.store import IDEMPOTENCY_HEADER, SIGNATURE_HEADER, StoreOutcome, sign  # noqa: E402
from ratings.submitter import Submitter  # noqa: E402
from tests.support.corestore import DEFAULT_SECRET, CoreStoreProcess  # noqa: E402


def evaluations(n: int, tag: str) -> list[Evaluation]:
    grades = list(Grade)
    return [Evaluation(target=Target(TargetKind.ITEM, f"{tag}-{i}"), channel=Channel.HOTLINE,
                       grade=grades[i % 5], assessed_at=utcnow(),
                       reasons=("R01",) if grades[i % 5].needs_reason else ())
            for i in range(n)]


def percentiles(samples: list[float]) -> tuple[float, float]:
    qs = statistics.quantiles(samples, n=100)
    return qs[49] * 1000, qs[98] * 1000


class TimedStore:
    """The HTTP store, timing each request as the baseline times its POSTs."""

    def __init__(self, inner: HttpCoreStore):
        self.inner = inner
        self.record_options = inner.record_options
        self.latencies: list[float] = []

    async def submit(self, record) -> StoreOutcome:
        t0 = time.perf_counter()
        try:
            return await self.inner.submit(record)
        finally:
            self.latencies.append(time.perf_counter() - t0)

    async def close(self) -> None:
        await self.inner.close()


async def baseline(url: str, evs: list[Evaluation], concurrency: int) -> dict:
    records = [r for ev in evs for r in fan_out(ev)]
    prepared = [(r.body(), {IDEMPOTENCY_HEADER: r.idempotency_key,
                            SIGNATURE_HEADER: sign(DEFAULT_SECRET, r.body()),
                            "Content-Type": "application/json; charset=utf-8"})
                for r in records]
    queue = iter(prepared)
    latencies: list[float] = []
    connector = aiohttp.TCPConnector(limit=concurrency, limit_per_host=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        async def worker():
            for body, headers in queue:
                t0 = time.perf_counter()
                async with session.post(url, data=body, headers=headers) as answer:
                    await answer.read()
                    assert answer.status == 201, answer.status
                latencies.append(time.perf_counter() - t0)

        t0, cpu0 = time.perf_counter(), time.process_time()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    p50, p99 = percentiles(latencies)
    return {"rate": len(records) / elapsed, "p50_ms": p50, "p99_ms": p99, "seconds": elapsed,
            "cpu_us": cpu / len(records) * 1e6}


async def fill_outbox(client, evs: list[Evaluation]) -> None:
    await keys.ensure_outbox_group(client)
    for start in range(0, len(evs), 1000):
        pipe = client.pipeline(transaction=False)
        for ev in evs[start:start + 1000]:
            body, covers = ev.to_json(), json.dumps([ev.target.id])
            pipe.hset(keys.evaluation(ev.id), mapping={
                "id": ev.id, "status": "accepted", "attempts": 0, "ev": body,
                "covers": covers})
            pipe.xadd(keys.OUTBOX, {"id": ev.id, "ev": body, "covers": covers})
        await pipe.execute()


async def submitter_run(client, url: str, evs: list[Evaluation], concurrency: int) -> dict:
    await fill_outbox(client, evs)
    store = TimedStore(HttpCoreStore(url, DEFAULT_SECRET, timeout=10, concurrency=concurrency))
    sub = Submitter(client, store, "bench", concurrency=concurrency)
    t0, cpu0 = time.perf_counter(), time.process_time()
    task = asyncio.create_task(sub.run())
    while sub.counts["submitted"] < len(evs):
        if task.done():
            task.result()
        await asyncio.sleep(0.005)
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    await sub.stop()
    await task
    await store.close()
    assert await client.xlen(keys.OUTBOX) == 0
    p50, p99 = percentiles(store.latencies)
    return {"rate": len(evs) / elapsed, "p50_ms": p50, "p99_ms": p99, "seconds": elapsed,
            "retries": sub.counts["retries"], "cpu_us": cpu / len(evs) * 1e6}


async def main_async(n: int, concurrency: int, rounds: int, latency: float) -> None:
    with tempfile.TemporaryDirectory(prefix="hcp-bench-submit-") as tmp, \
            RedisServer(Path(tmp) / "redis") as server, CoreStoreProcess() as store:
        client = aioredis.Redis.from_url(server.url)
        try:
            if latency:
                store.faults(latency={"seconds": latency})
            await baseline(store.url, evaluations(2000, "warm-b"), concurrency)  # warm-up
            await submitter_run(client, store.url, evaluations(2000, "warm-s"), concurrency)
            best_base, best_sub = None, None
            for r in range(rounds):
                store.reset()
                if latency:
                    store.faults(latency={"seconds": latency})
                base = await baseline(store.url, evaluations(n, f"b{r}"), concurrency)
                store.reset()
                if latency:
                    store.faults(latency={"seconds": latency})
                sub = await submitter_run(client, store.url, evaluations(n, f"s{r}"),
                                          concurrency)
                assert store.stats()["stored"] == n
                if best_base is None or base["rate"] > best_base["rate"]:
                    best_base = base
                if best_sub is None or sub["rate"] > best_sub["rate"]:
                    best_sub = sub
                print(f"round {r + 1}: baseline {base['rate']:.0f}/s "
                      f"({base['cpu_us']:.0f} us CPU each), submitter {sub['rate']:.0f}/s "
                      f"({sub['cpu_us']:.0f} us CPU each)", flush=True)
        finally:
            await client.aclose()
    print(f"N={n} concurrency={concurrency} store latency={latency * 1000:.0f} ms "
          f"(best of {rounds} rounds)")
    print(f"bare aiohttp POST loop : {best_base['rate']:8.0f} submissions/s  "
          f"p50 {best_base['p50_ms']:.2f} ms  p99 {best_base['p99_ms']:.2f} ms  "
          f"client CPU {best_base['cpu_us']:.0f} us/submission")
    print(f"submitter (outbox->store): {best_sub['rate']:6.0f} submissions/s  "
          f"p50 {best_sub['p50_ms']:.2f} ms  p99 {best_sub['p99_ms']:.2f} ms  "
          f"client CPU {best_sub['cpu_us']:.0f} us/submission")
    print(f"ratio submitter/baseline: {best_sub['rate'] / best_base['rate']:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description="submitter vs bare aiohttp POST loop")
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--store-latency", type=float, default=0.0, help="seconds")
    args = parser.parse_args()
    asyncio.run(main_async(args.n, args.concurrency, args.rounds, args.store_latency))


if __name__ == "__main__":
    main()
