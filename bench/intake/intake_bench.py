"""Intake benchmark: Intake.accept against a bare client running the same script.

100,000 evaluations (10 % of them duplicates of an earlier item, from another channel)
go through ``Intake.accept`` from many concurrent callers. Two baselines, same run,
same Redis, the three sides taking turns over ``--rounds`` slices (rotating order,
Redis flushed before each slice, each slice with its own 10 % duplicates):

  bare script  the same decision work without the domain: one EVALSHA of
               ratings/lua/accept.lua per evaluation, keys and arguments built
               inline (f-strings, json.dumps of a small dict), no Evaluation,
               no ``Intake.plan``: the peer baseline of the ratio (issue 16)
  pipeline     the same writes (SET NX EX, HSET, EXPIRE, HSET, EXPIRE, XADD) as one
               non-transactional pipeline, no Lua and no decision (it writes
               duplicates too); arguments from ``Intake.plan``. Kept for
               the Redis-side comparison only: it is not the same work

    .venv/bin/python bench/intake/intake_bench.py [--n 100000] [--callers 64] [--rounds 5]
        [--write-docs docs/benchmarks.md]

Prints evaluations/s, p50/p99 latency, Redis round trips per evaluation (counted at
the client) and the ratio intake/baseline. A private redis-server (AOF everysec, as
the gateway runs it) is started in a temporary directory and stopped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
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
from ratings.intake import ACCEPT_LUA, Intake
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


async def run_bare_script(url: str, evs, callers: int) -> Figures:
    """One EVALSHA of the accept script per evaluation, arguments built inline."""
    client = CountingRedis.from_url(url, max_connections=callers)
    try:
        await client.flushall()
        accept = client.register_script(ACCEPT_LUA)
        window_ms = 15 * 24 * 3600 * 1000
        wire = [(ev.id, ev.target.id, ev.grade.id, ev.channel.value, ev.phone) for ev in evs]

        async def work(item):
            ev_id, target, grade, channel, phone = item
            now = time.time()
            code, _holder = await accept(
                keys=[f"{{hcp}}:ev:{ev_id}", keys.OUTBOX, f"{{hcp}}:first:{ev_id}",
                      keys.item(target)],
                args=[ev_id, json.dumps({"target": {"kind": "item", "id": target},
                                         "grade": grade, "channel": channel,
                                         "phone": phone, "id": ev_id}, ensure_ascii=False),
                      "single", int(now * 1000),
                      time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(now)), window_ms,
                      keys.DEDUPE_TTL_S, keys.RECORD_TTL_S, keys.OUTBOX_GROUP,
                      json.dumps([target], ensure_ascii=False), keys.FIRST_PREFIX])
            return code == b"accepted"

        await work(wire[0])  # loads the script
        await client.flushall()
        cpu0 = await server_cpu(client)
        client.round_trips = 0
        seconds, lat, accepted = await drive(work, wire, callers)
        trips = client.round_trips
        cpu = await server_cpu(client) - cpu0
        return Figures("bare", len(evs), seconds, lat, trips, accepted, cpu)
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
        return Figures("pipeline", len(evs), seconds, lat, trips, accepted, cpu)
    finally:
        await client.aclose()


def _merge(name: str, runs: list[Figures]) -> Figures:
    """One side's slices as one figure (rate = evaluations over the summed seconds)."""
    return Figures(name, sum(f.n for f in runs), sum(f.seconds for f in runs),
                   [x for f in runs for x in f.latencies], sum(f.round_trips for f in runs),
                   sum(f.accepted for f in runs), sum(f.server_cpu_s for f in runs))


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
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--write-docs", type=Path)
    opts = parser.parse_args(argv)
    random.seed(7)
    load = os.getloadavg()[0]
    runners = {"pipeline": run_baseline, "bare": run_bare_script, "intake": run_intake}
    figures: dict[str, list[Figures]] = {name: [] for name in runners}
    names = list(runners)
    with tempfile.TemporaryDirectory() as tmp:
        server = RedisServer(tmp, aof=True).start()
        try:
            for r in range(opts.rounds):
                evs = evaluations(opts.n // opts.rounds)
                for name in names[r % 3:] + names[:r % 3]:
                    figures[name].append(await runners[name](server.url, evs, opts.callers))
        finally:
            server.stop()
    sides = {name: _merge(name, runs) for name, runs in figures.items()}
    ratios = [i.rate / b.rate for i, b in zip(figures["intake"], figures["bare"], strict=True)]
    report = [f"{opts.n:,} evaluations in {opts.rounds} interleaved slices, 10 % duplicates, "
              f"{opts.callers} concurrent callers, one redis-server (AOF everysec) on "
              f"loopback, load average {load:.1f} at start, {os.getloadavg()[0]:.1f} at end",
              *(sides[name].line() for name in names),
              f"ratio intake/baseline {sides['intake'].rate / sides['bare'].rate:.2f} "
              "(baseline: the bare script, the same decision work) "
              f"(per slice {min(ratios):.2f}-{max(ratios):.2f}); "
              f"intake/pipeline {sides['intake'].rate / sides['pipeline'].rate:.2f} "
              "(not the same work)"]
    print("\n".join(report))
    if opts.write_docs:
        write_docs(opts.write_docs, "## intake\n\n" + (
            "`.venv/bin/python bench/intake/intake_bench.py [--n 100000] [--rounds 5]` — "
            "`Intake.accept` (one EVALSHA of ratings/lua/accept.lua per evaluation) against "
            "a bare client running the same script with arguments built inline (the same "
            "decision work, no domain model), and a redis-py pipeline of the same writes "
            "without Lua or decision (not the same work; Redis-side comparison only). "
            "Same run, same Redis, same callers, the sides taking turns slice by slice."
            "\n\n```\n" + "\n".join(report) + "\n```\n"))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
