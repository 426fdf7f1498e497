"""Intake benchmark: Intake.accept against a raw redis-py pipeline, same run, same Redis.

100,000 evaluations (10 % of them duplicates of an earlier item, from another channel)
go through ``Intake.accept`` from many concurrent callers. The baseline sends the
same writes (SET NX EX, HSET, EXPIRE, HSET, EXPIRE, XADD) for each evaluation as one
non-transactional pipeline: one round trip, no Lua, no decision. Both sides build
their arguments with ``Intake.plan`` so JSON encoding costs the same.

    .venv/bin/python bench/intake/intake_bench.py [--n 100000] [--callers 64]
        [--write-docs docs/benchmarks.md]

Prints evaluations/s, p50/p99 latency, Redis round trips per evaluation (counted at
the client) and the ratio intake/baseline. A private redis-server (AOF everysec, as
the gateway runs it) is started in a temporary directory and stopped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import redis.asyncio as aioredis

from adapters.redis_server import RedisServer
from ratings import keys
from ratings.grades import Grade
from ratings.intake import Intake
from ratings.model import Channel, Evaluation, Target, TargetKind, utcnow


@dataclass
class Figures:
    name: str
    n: int
    seconds: float
    latencies: list[float]
    round_trips: int
    accepted: int
    server_cpu_s: float = 0.0  # redis-server user+sys CPU spent during the run

    @property
    def rate(self) -> float:
        return self.n / self.seconds

    def pct(self, p: float) -> float:
        return statistics.quantiles(self.latencies, n=100)[p - 1] * 1000

    def line(self) -> str:
        return (f"{self.name:<9} {self.rate:>9,.0f} ev/s   p50 {self.pct(50):6.2f} ms   "
                f"p99 {self.pct(99):6.2f} ms   round trips/ev {self.round_trips / self.n:.2f}"
                f"   redis cpu/ev {self.server_cpu_s / self.n * 1e6:5.1f} us"
                f"   accepted {self.accepted:,}")


def evaluations(n: int, dup_share: float = 0.10) -> list[Evaluation]:
    now = utcnow()
    grades = list(Grade)
    unique = n - int(n * dup_share)
    evs = [Evaluation(Target(TargetKind.ITEM, f"P{i:07d}"), Channel.SMS,
                      random.choice(grades[:3]), now, phone="+8613800138000")
           for i in range(unique)]
    dups = [Evaluation(Target(TargetKind.ITEM, f"P{random.randrange(unique):07d}"),
                       Channel.HOTLINE, Grade.SATISFIED, now) for _ in range(n - unique)]
    mixed = evs + dups
    random.shuffle(mixed)
    return mixed


class CountingRedis(aioredis.Redis):
    """Counts every command the client sends; a pipeline counts as one round trip."""

    round_trips = 0

    async def execute_command(self, *args, **options):
        self.round_trips += 1
        return await super().execute_command(*args, **options)

    def pipeline(self, transaction=True, shard_hint=None):
        self.round_trips += 1  # one write + one read of the whole pipeline
        return super().pipeline(transaction, shard_hint)


async def server_cpu(client) -> float:
    info = await client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


async def drive(work, evs, callers: int) -> tuple[float, list[float], int]:
    queue = iter(evs)
    latencies: list[float] = []
    accepted = 0

    async def caller():
        nonlocal accepted
        for ev in queue:
            t0 = time.perf_counter()
            ok = await work(ev)
            latencies.append(time.perf_counter() - t0)
            accepted += bool(ok)

    start = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(callers)))
    return time.perf_counter() - start, latencies, accepted


async def run_intake(url: str, evs, callers: int) -> Figures:
    client = CountingRedis.from_url(url, max_connections=callers)
    try:
        await client.flushall()
        intake = Intake(client, b"bench-secret")
        await intake.accept(evs[0].with_id("warmup"))  # loads the script
        await client.flushall()

        async def work(ev):
            return (await intake.accept(ev)).accepted

        cpu0 = await server_cpu(client)
        client.round_trips = 0
        seconds, lat, accepted = await drive(work, evs, callers)
        trips = client.round_trips
        cpu = await server_cpu(client) - cpu0
        assert await client.xlen(keys.OUTBOX) == accepted
        return Figures("intake", len(evs), seconds, lat, trips, accepted, cpu)
    finally:
        await client.aclose()


async def run_baseline(url: str, evs, callers: int) -> Figures:
    client = CountingRedis.from_url(url, max_connections=callers)
    try:
        await client.flushall()
        planner = Intake(client, b"bench-secret")

        async def work(ev):
            k, a = planner.plan(ev)
            status, outbox, first, target = k[:4]
            ev_id, ev_json, _, now_ms, now_iso = a[:5]
            dedupe_ttl, record_ttl, covers = a[6], a[7], a[9]
            pipe = client.pipeline(transaction=False)
            pipe.set(target, ev_id, nx=True, ex=dedupe_ttl)
            pipe.hset(first, mapping={"at": now_ms, "covers": covers})
            pipe.expire(first, dedupe_ttl)
            pipe.hset(status, mapping={
                "id": ev_id, "status": "accepted", "attempts": 0, "last_error": "",
                "accepted_at": now_iso, "submitted_at": "", "ev": ev_json, "covers": covers})
            pipe.expire(status, record_ttl)
            pipe.xadd(outbox, {"id": ev_id, "ev": ev_json, "covers": covers})
            claimed, *_ = await pipe.execute()
            return claimed

        cpu0 = await server_cpu(client)
        client.round_trips = 0
        seconds, lat, accepted = await drive(work, evs, callers)
        trips = client.round_trips
        cpu = await server_cpu(client) - cpu0
        return Figures("baseline", len(evs), seconds, lat, trips, accepted, cpu)
    finally:
        await client.aclose()


def write_docs(path: Path, text: str) -> None:
    """Replace (or append) this benchmark's own ``## intake`` section, nothing else."""
    old = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    lines = old.splitlines(keepends=True)
    start = next((i for i, ln in enumerate(lines) if ln.strip() == "## intake"), None)
    if start is None:
        new = old.rstrip("\n") + "\n\n" + text
    else:
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")),
                   len(lines))
        tail = "".join(lines[end:])
        new = "".join(lines[:start]) + text + ("\n" + tail if tail else "")
    path.write_text(new, encoding="utf-8")


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--callers", type=int, default=64)
    parser.add_argument("--write-docs", type=Path)
    opts = parser.parse_args(argv)
    random.seed(7)
    evs = evaluations(opts.n)
    with tempfile.TemporaryDirectory() as tmp:
        server = RedisServer(tmp, aof=True).start()
        try:
            base = await run_baseline(server.url, evs, opts.callers)
            intake = await run_intake(server.url, evs, opts.callers)
        finally:
            server.stop()
    ratio = intake.rate / base.rate
    report = [f"{opts.n:,} evaluations, 10 % duplicates, {opts.callers} concurrent callers, "
              "one redis-server (AOF everysec) on loopback", base.line(), intake.line(),
              f"ratio intake/baseline {ratio:.2f} (aim >= 0.5)"]
    print("\n".join(report))
    if opts.write_docs:
        write_docs(opts.write_docs, "## intake\n\n" + (
            "`.venv/bin/python bench/intake/intake_bench.py` — `Intake.accept` (one EVALSHA "
            "of ratings/lua/accept.lua per evaluation) against a redis-py pipeline sending "
            "the same writes without Lua (SET NX EX, HSET, EXPIRE, HSET, EXPIRE, XADD; one "
            "round trip, no decision). Same run, same Redis, same callers.\n\n```\n"
            + "\n".join(report) + "\n```\n\n"
            "Reading: both sides are bound by the Python client on a 2-core machine shared "
            "with other work, so absolute rates move from run to run (about 1.7k-5.5k ev/s "
            "seen for the intake); the ratio is taken within one run. "
            "Building a six-command redis-py pipeline costs the client more than one EVALSHA, "
            "so the intake outruns its baseline. On the server the script costs a little more "
            "CPU per evaluation (redis cpu/ev) for checking the rules and writing atomically. "
            "The baseline writes status and outbox even for duplicates (it cannot decide in "
            "one round trip); its `accepted` counts successful SET NX only.\n"))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
