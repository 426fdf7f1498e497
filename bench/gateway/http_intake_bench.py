"""What the HTTP API costs on top of the intake: POST /v1/evaluations vs Intake.accept.

Starts one redis-server (AOF everysec) and one ``hcp serve`` (that Redis, the
local SQLite store, so the submitter drains alongside as in production). Then,
against the same Redis, with the same number of concurrent callers:

  baseline   ``Intake.accept`` called in this process (no HTTP)
  http       aiohttp POSTs to the running gateway (JSON, auth, parsing, metrics)

It prints evaluations/s, p50/p99 latency of each and the ratio http/baseline.
10 % of the evaluations are duplicates (refused with 409 / not accepted).

    .venv/bin/python bench/gateway/http_intake_bench.py [-n 20000] [-c 64]
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

import aiohttp
import redis.asyncio as aioredis

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from adapters.redis_server import RedisServer  # noqa: E402
from gateway.api_request import parse_evaluation  # noqa: E402
from ratings.intake import Intake  # noqa: E402
from tests.gateway.process import GatewayProcess  # noqa: E402


def bodies(prefix: str, n: int) -> list[dict]:
    unique = n - n // 10
    items = [f"{prefix}-{i}" for i in range(unique)] + \
        [f"{prefix}-{i}" for i in range(n // 10)]  # the last 10 % repeat earlier items
    return [{"target": {"kind": "item", "id": item}, "grade": "satisfied",
             "phone": "13812345678", "channel": "api"} for item in items]


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[q - 1] * 1000 if len(values) > 1 else 0.0


async def drive(call, work: list, concurrency: int) -> tuple[float, list[float], int]:
    latencies: list[float] = []
    accepted = 0
    queue = iter(work)

    async def worker():
        nonlocal accepted
        for item in queue:
            t0 = time.perf_counter()
            if await call(item):
                accepted += 1
            latencies.append(time.perf_counter() - t0)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started, latencies, accepted


def cpu_seconds(pid: int) -> float:
    """user + system CPU of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def outbox_depth(session: aiohttp.ClientSession, base_url: str) -> float:
    async with session.get(f"{base_url}/metrics") as resp:
        for line in (await resp.text()).splitlines():
            if line.startswith("hcp_outbox_depth "):
                return float(line.split()[1])
    raise RuntimeError("no hcp_outbox_depth in /metrics")


def report(name: str, n: int, elapsed: float, latencies: list[float], accepted: int) -> float:
    rate = n / elapsed
    print(f"{name:<9} {rate:>8,.0f} ev/s   p50 {pct(latencies, 50):6.2f} ms   "
          f"p99 {pct(latencies, 99):6.2f} ms   accepted {accepted:,}")
    return rate


async def main(n: int, concurrency: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        server = RedisServer(Path(tmp) / "redis").start()
        gw = GatewayProcess(Path(tmp) / "gw", {"HCP_REDIS_URL": server.url,
                                               "HCP_LOG_LEVEL": "WARNING"})
        try:
            client = aioredis.Redis.from_url(server.url, max_connections=concurrency + 8)
            intake = Intake(client, b"bench-secret-0123456789")

            async def direct(body):
                return (await intake.accept(parse_evaluation(body))).accepted

            elapsed, lat, acc = await drive(direct, bodies("base", n), concurrency)
            print(f"{n:,} evaluations, 10 % duplicates, {concurrency} concurrent callers, "
                  "one redis-server (AOF everysec) on loopback")
            base = report("baseline", n, elapsed, lat, acc)
            await client.aclose()

            await gw.start()
            # the start waits for the ready line; the HTTP phase's own log stays quiet
            connector = aiohttp.TCPConnector(limit=concurrency)
            async with aiohttp.ClientSession(connector=connector) as session:
                url = f"{gw.base_url}/v1/evaluations"
                auth = gw.auth

                async def over_http(body):
                    async with session.post(url, json=body, headers=auth) as resp:
                        await resp.read()
                        if resp.status not in (201, 409):
                            raise RuntimeError(f"HTTP {resp.status}")
                        return resp.status == 201

                cpu0 = cpu_seconds(gw.proc.pid)
                elapsed, lat, acc = await drive(over_http, bodies("http", n), concurrency)
                http = report("http", n, elapsed, lat, acc)
                drained = time.perf_counter()
                while await outbox_depth(session, gw.base_url) > 0:
                    await asyncio.sleep(0.05)
                drained = time.perf_counter() - drained + elapsed
                cpu = cpu_seconds(gw.proc.pid) - cpu0
            print(f"ratio http/baseline {http / base:.2f}")
            print(f"gateway process: {acc / drained:,.0f} ev/s accepted and submitted to the "
                  f"local store; {cpu / n * 1000:.2f} ms CPU per request (intake + "
                  f"submission + SQLite)")
            await gw.stop()
        finally:
            gw.kill()
            server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=20000)
    parser.add_argument("-c", "--concurrency", type=int, default=64)
    args = parser.parse_args()
    asyncio.run(main(args.n, args.concurrency))
