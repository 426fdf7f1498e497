#!/usr/bin/env python3
"""Submitter throughput against a bare aiohttp POST loop, same store, same run.

    .venv/bin/python bench/submit/bench_submit.py [--n 20000] [--concurrency 64]

Setup: a private redis-server (AOF everysec, as the gateway runs it) and the
loopback core store in its own process (so that the store's CPU is not the
client's). N evaluations are written to the outbox in the intake's format.

  baseline   N pre-built, pre-signed records POSTed by `concurrency` workers on
             one aiohttp session (connector limit = concurrency): the HTTP floor.
  submitter core  the Submitter drains the N outbox entries to the same store
             (read, fan-out, sign, POST, closing script), console hook off.
  submitter  the same as wired in the gateway: with the console's results hook
             (ratings.results.record_accepted: one more script per evaluation).

Prints submissions/s, p50/p99 of the store request as each side saw it, the
client CPU per submission, and the ratio submitter/baseline. ``--store-latency``
makes every store answer take that long (a provincial store across a WAN):
then both sides are bound by latency x concurrency, not by this machine's CPU.
The store is reset between the runs. Each side runs `--rounds` times, in a
rotating order; printed are the best round of each side and the median of the
per-round ratios (the steadier figure when the machine's load swings).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import aiohttp  # noqa: E402
import redis.asyncio as aioredis  # noqa: E402

from adapters.redis_server import RedisServer  # noqa: E402
from adapters.store_http import HttpCoreStore  # noqa: E402
from ratings import keys, results  # noqa: E402
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
    """A core store, timing each submit as the submitter awaits it (as the baseline
    times its POSTs)."""

    def __init__(self, inner):
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


async def submitter_run(client, url: str, evs: list[Evaluation], concurrency: int,
                        with_results: bool = True) -> dict:
    await fill_outbox(client, evs)
    return await drain_outbox(client, url, len(evs), concurrency, with_results)


async def drain_outbox(client, url: str, count: int, concurrency: int,
                       with_results: bool = True) -> dict:
    """Run a Submitter until it has submitted ``count`` evaluations of the outbox."""
    store = TimedStore(HttpCoreStore(url, DEFAULT_SECRET, timeout=10, concurrency=concurrency))
    extra = {} if with_results else {"results_hook": None}
    sub = Submitter(client, store, "bench", concurrency=concurrency, **extra)
    t0, cpu0 = time.perf_counter(), time.process_time()
    task = asyncio.create_task(sub.run())
    while sub.counts["submitted"] < count:
        if task.done():
            task.result()
        await asyncio.sleep(0.005)
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    await sub.stop()
    await task
    await store.close()
    assert await client.xlen(keys.OUTBOX) == 0
    p50, p99 = percentiles(store.latencies)
    return {"rate": count / elapsed, "p50_ms": p50, "p99_ms": p99, "seconds": elapsed,
            "retries": sub.counts["retries"], "cpu_us": cpu / count * 1e6}


def result_days(evs: list[Evaluation]) -> set[str]:
    return {results.local_day(ev) for ev in evs}


async def assert_counted_once(client, evs: list[Evaluation]) -> None:
    """The console hook (batched) counted each evaluation exactly once (its days' keys
    were cleared before the run): the guard holds every id, the counts add up to N."""
    counts: Counter[str] = Counter()
    ids: set[str] = set()
    for d in result_days(evs):
        ids |= {keys.decoded(k) for k in await client.hkeys(results.seen(d))}
        for field, value in (await client.hgetall(results.day(d))).items():
            if keys.decoded(field).startswith("c|"):
                counts[keys.decoded(field)] += int(value)
    assert ids == {ev.id for ev in evs}, "console guard: missing or extra evaluations"
    want = Counter(f"c|{ev.channel.value}|{ev.grade.id}" for ev in evs)
    assert counts == want, (counts, want)


SIDES = ("baseline", "submitter core", "submitter")


async def main_async(n: int, concurrency: int, rounds: int, latency: float) -> None:
    best: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="hcp-bench-submit-") as tmp, \
            RedisServer(Path(tmp) / "redis") as server, CoreStoreProcess() as store:
        client = aioredis.Redis.from_url(server.url)

        async def side(name: str, tag: str, count: int) -> dict:
            store.reset()
            if latency:
                store.faults(latency={"seconds": latency})
            evs = evaluations(count, tag)
            if name == "submitter":  # counted from zero: checked exactly once after
                await client.delete(*(k for d in result_days(evs)
                                      for k in (results.seen(d), results.day(d))))
            if name == "baseline":
                return await baseline(store.url, evs, concurrency)
            result = await submitter_run(client, store.url, evs, concurrency,
                                         with_results=name == "submitter")
            assert store.stats()["stored"] == count
            if name == "submitter":
                await assert_counted_once(client, evs)
            return result

        try:
            for name in SIDES:  # warm-up: connections, scripts, caches
                await side(name, f"warm-{name}", 2000)
            ratios: dict[str, list[float]] = {name: [] for name in SIDES}
            for r in range(rounds):
                line, rates = [], {}
                # rotate the order: a load swing on this shared machine hits each side
                order = SIDES[r % 3:] + SIDES[:r % 3]
                for name in order:
                    result = await side(name, f"{name}-{r}", n)
                    rates[name] = result["rate"]
                    if name not in best or result["rate"] > best[name]["rate"]:
                        best[name] = result
                    line.append(f"{name} {result['rate']:.0f}/s "
                                f"({result['cpu_us']:.0f} us CPU each)")
                for name in SIDES:
                    ratios[name].append(rates[name] / rates["baseline"])
                print(f"round {r + 1}: " + ", ".join(line), flush=True)
        finally:
            await client.aclose()
    print(f"N={n} concurrency={concurrency} store latency={latency * 1000:.0f} ms "
          f"(best of {rounds} rounds)")
    base = best["baseline"]["rate"]
    for name in SIDES:
        b = best[name]
        print(f"{name:15s} {b['rate']:7.0f} submissions/s  p50 {b['p50_ms']:6.2f} ms  "
              f"p99 {b['p99_ms']:7.2f} ms  client CPU {b['cpu_us']:4.0f} us/submission  "
              f"best/best {b['rate'] / base:.2f}  "
              f"median of round ratios {statistics.median(ratios[name]):.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description="submitter vs bare aiohttp POST loop")
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--store-latency", type=float, default=0.0, help="seconds")
    args = parser.parse_args()
    asyncio.run(main_async(args.n, args.concurrency, args.rounds, args.store_latency))


if __name__ == "__main__":
    main()
