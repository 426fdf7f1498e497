"""Two ``hcp serve`` processes on one port (``http.reuse_port``) against one, each side
on a redis-server of its own, same callers, interleaved rounds (issue 15, issue 16).

  one   one hcp serve (local SQLite store), its Redis
  two   two hcp serve sharing one HTTP port (SO_REUSEPORT), their Redis; each round
        ends when the outbox is drained (intake + submission, as in http_intake_bench)

Prints requests/s per side (median of rounds), p50/p99 and the ratio two/one with the
load average. On this 2-core machine the callers, Redis and the gateways share the
cores, so the ratio says what a second process buys when CPU is already short.

    .venv/bin/python bench/gateway/two_processes_bench.py [-n 20000] [-c 64] [--rounds 6]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from adapters.redis_server import RedisServer  # noqa: E402
from bench.gateway.http_intake_bench import (  # noqa: E402
    TOKEN,
    Side,
    bodies,
    cpu_seconds,
    drive,
    outbox_depth,
)
from tests.gateway.process import GatewayProcess  # noqa: E402

SHARED = {"HCP_HTTP_TOKENS": TOKEN, "HCP_PHONE_SECRET": "bench-phone-secret-0123456789",
          "HCP_LOG_LEVEL": "INFO"}


async def ready(gw: GatewayProcess) -> None:
    """Started and listening itself (a shared port's /healthz may be the other's)."""
    await gw.start()
    for _ in range(300):
        if any(e.get("event") == "gateway.ready" for e in gw.events()):
            return
        await asyncio.sleep(0.1)
    raise RuntimeError("gateway not ready")


async def main(n: int, concurrency: int, rounds: int) -> None:
    print(f"load average at start {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        redis_one = RedisServer(tmp / "redis-one").start()
        redis_two = RedisServer(tmp / "redis-two").start()
        single = GatewayProcess(tmp / "single", {"HCP_REDIS_URL": redis_one.url, **SHARED})
        pair = [GatewayProcess(tmp / f"pair{i}", {"HCP_REDIS_URL": redis_two.url,
                                                  "HCP_HTTP_REUSE_PORT": "1", **SHARED})
                for i in range(2)]
        pair[1].port = pair[0].port
        gateways = [single, *pair]
        try:
            for gw in gateways:
                await ready(gw)
            sides = {"one": (Side("one"), single.base_url, [single.proc.pid]),
                     "two": (Side("two"), pair[0].base_url, [p.proc.pid for p in pair])}
            headers = {"Authorization": f"Bearer {TOKEN}"}
            per_round = n // rounds
            async with aiohttp.ClientSession() as session:
                for r in range(rounds):
                    for name in (["one", "two"] if r % 2 == 0 else ["two", "one"]):
                        side, base, pids = sides[name]
                        cpu0 = sum(cpu_seconds(p) for p in pids)
                        elapsed, lat, acc = await drive(
                            f"{base}/v1/evaluations", headers,
                            bodies(f"{name}{r}", per_round), concurrency)
                        while await outbox_depth(session, base) > 0:
                            await asyncio.sleep(0.02)
                        side.cpu += sum(cpu_seconds(p) for p in pids) - cpu0
                        side.rates.append(per_round / elapsed)
                        side.latencies += lat
                        side.n += per_round
                        side.accepted += acc
            one, two = sides["one"][0], sides["two"][0]
            print(f"{n:,} evaluations in {rounds} interleaved rounds, 10 % duplicates, "
                  f"{concurrency} concurrent callers, {os.cpu_count()} cores")
            print(one.line())
            print(two.line())
            ratios = [t / o for t, o in zip(two.rates, one.rates, strict=True)]
            print(f"ratio two/one throughput "
                  f"{statistics.median(two.rates) / statistics.median(one.rates):.2f} "
                  f"(per round pair {min(ratios):.2f}-{max(ratios):.2f})")
            print(f"load average at end {os.getloadavg()[0]:.2f}")
            for gw in gateways:
                await gw.stop()
        finally:
            for gw in gateways:
                gw.kill()
            redis_one.stop()
            redis_two.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=20000)
    parser.add_argument("-c", "--concurrency", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args()
    asyncio.run(main(args.n, args.concurrency, args.rounds))
