#!/usr/bin/env python3
"""The issue-2 benchmark in one run: intake, then submission, each against its baseline.

    .venv/bin/python bench/intake/pipeline_bench.py [--n 100000] [--callers 64]
        [--concurrency 64] [--store-latency 0] [--no-results-hook]

One private redis-server (AOF everysec, as the gateway runs it) and the loopback core
store (tests/support/corestore.py) in its own process serve every step:

  1. intake baseline   a redis-py pipeline issuing the intake's writes per evaluation
                       (intake_bench.run_baseline: SET NX EX, HSET, EXPIRE, HSET,
                       EXPIRE, XADD; one round trip, no decision)
  2. intake            N evaluations (10 % duplicates of an earlier item from another
                       channel) through ``Intake.accept`` from ``--callers`` concurrent
                       callers (intake_bench.run_intake); the accepted ones stay in
                       the outbox
  3. submit baseline   as many records as were accepted, pre-built and pre-signed,
                       POSTed by a bare aiohttp loop with ``--concurrency`` in flight
                       (bench_submit.baseline); the store is reset afterwards
  4. submission        the Submitter drains the intake's outbox into the store
                       (bench_submit.drain_outbox), with the console's results hook as
                       the gateway wires it unless ``--no-results-hook``

Round trips are counted at the client (intake_bench.CountingRedis: a command or a
whole pipeline = 1); Redis commands per evaluation come from INFO commandstats deltas
(commands run inside a script count too). At the end the store's records are compared,
by idempotency key, with what the intake accepted: every accepted evaluation once.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import random
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import redis.asyncio as aioredis  # noqa: E402

from adapters.redis_server import RedisServer  # noqa: E402
from ratings import keys  # noqa: E402
from ratings.records import idempotency_key  # noqa: E402
from tests.support.corestore import CoreStoreProcess  # noqa: E402


def _load(name: str, path: Path):
    """The two existing bench scripts are not a package: load them by path."""
    if name in sys.modules:
        return sys.modules[name]
    sys.path.insert(0, str(path.parent))  # bench_submit's own sibling imports
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


intake_bench = _load("intake_bench", REPO / "bench/intake/intake_bench.py")
bench_submit = _load("bench_submit", REPO / "bench/submit/bench_submit.py")


async def command_count(url: str) -> int:
    """Commands the server has run (INFO commandstats), minus this INFO itself."""
    client = aioredis.Redis.from_url(url)
    try:
        stats = await client.info("commandstats")
    finally:
        await client.aclose()
    return sum(int(v["calls"]) for v in stats.values())


async def counted(url: str, step):
    """Run ``step`` and return (its result, Redis commands it caused)."""
    before = await command_count(url)
    result = await step
    return result, await command_count(url) - before - 1  # the second INFO


async def expected_keys(url: str) -> set[str]:
    """Idempotency keys of every accepted evaluation, read from the outbox."""
    client = aioredis.Redis.from_url(url, decode_responses=True)
    wanted: set[str] = set()
    try:
        cursor = "-"
        while True:
            entries = await client.xrange(keys.OUTBOX, min=cursor, count=5000)
            for _entry_id, fields in entries:
                for item in json.loads(fields["covers"]):
                    wanted.add(idempotency_key(fields["id"], item))
            if len(entries) < 5000:
                return wanted
            cursor = "(" + entries[-1][0]
    finally:
        await client.aclose()


def fmt(name: str, rate: float, p50: float, p99: float, extra: str) -> str:
    return f"{name:<17} {rate:>8,.0f} ev/s   p50 {p50:7.2f} ms   p99 {p99:7.2f} ms   {extra}"


async def run(opts) -> dict:
    random.seed(7)
    evs = intake_bench.evaluations(opts.n)
    out: dict = {}
    with tempfile.TemporaryDirectory(prefix="hcp-bench-pipeline-") as tmp, \
            RedisServer(Path(tmp) / "redis") as server, CoreStoreProcess() as store:
        url = server.url
        # 1 + 2: intake baseline, then the intake (each flushes Redis first)
        base, base_cmds = await counted(url, intake_bench.run_baseline(url, evs, opts.callers))
        intake, intake_cmds = await counted(url, intake_bench.run_intake(url, evs, opts.callers))
        accepted = intake.accepted
        wanted = await expected_keys(url)
        # 3: the bare POST loop, as many records as accepted; then a clean store
        store.reset()
        if opts.store_latency:
            store.faults(latency={"seconds": opts.store_latency})
        post = await bench_submit.baseline(
            store.url, bench_submit.evaluations(accepted, "baseline"), opts.concurrency)
        store.reset()
        if opts.store_latency:
            store.faults(latency={"seconds": opts.store_latency})
        # 4: the Submitter drains what the intake accepted
        client = intake_bench.CountingRedis.from_url(url)
        try:
            drained, submit_cmds = await counted(url, bench_submit.drain_outbox(
                client, store.url, accepted, opts.concurrency,
                with_results=not opts.results_hook_off))
            submit_trips = client.round_trips
        finally:
            await client.aclose()
        stats = store.stats(keys=True)
        stored = set(store.records())
        out.update(
            base=base, base_cmds=base_cmds, intake=intake, intake_cmds=intake_cmds,
            post=post, drained=drained, submit_cmds=submit_cmds, submit_trips=submit_trips,
            accepted=accepted, wanted=len(wanted), stored=len(stored),
            missing=len(wanted - stored), extra=len(stored - wanted),
            resubmitted=stats["duplicates"])
    return out


def report(opts, r: dict) -> list[str]:
    n, accepted = opts.n, r["accepted"]
    base, intake, post, drained = r["base"], r["intake"], r["post"], r["drained"]
    lines = [
        f"{n:,} evaluations, 10 % duplicates, {opts.callers} intake callers, submitter "
        f"concurrency {opts.concurrency}, store latency {opts.store_latency * 1000:.0f} ms, "
        f"results hook {'off' if opts.results_hook_off else 'on'}, "
        f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} (at the end)",
        fmt("intake baseline", base.rate, base.pct(50), base.pct(99),
            f"round trips/ev {base.round_trips / n:.2f}   redis cmds/ev "
            f"{r['base_cmds'] / n:.2f}"),
        fmt("intake", intake.rate, intake.pct(50), intake.pct(99),
            f"round trips/ev {intake.round_trips / n:.2f}   redis cmds/ev "
            f"{r['intake_cmds'] / n:.2f}   accepted {accepted:,}"),
        fmt("submit baseline", post["rate"], post["p50_ms"], post["p99_ms"],
            f"bare aiohttp POST loop, {accepted:,} records"),
        fmt("submission", drained["rate"], drained["p50_ms"], drained["p99_ms"],
            f"round trips/ev {r['submit_trips'] / accepted:.2f}   redis cmds/ev "
            f"{r['submit_cmds'] / accepted:.2f}   retries {drained['retries']}"),
        f"ratio intake/redis pipeline {intake.rate / base.rate:.2f} (aim >= 0.5)",
        f"ratio submission/bare POST loop {drained['rate'] / post['rate']:.2f} (aim >= 0.8)",
        f"round trips per accepted evaluation, intake + submission "
        f"{(intake.round_trips + r['submit_trips']) / accepted:.2f}",
    ]
    ok = r["stored"] == r["wanted"] == accepted and not r["missing"] and not r["extra"]
    lines.append(
        f"exactly once: {'ok' if ok else 'FAILED'} - store holds {r['stored']:,} idempotency "
        f"keys for {accepted:,} accepted evaluations ({r['missing']} missing, {r['extra']} "
        f"unexpected, {r['resubmitted']} re-submissions answered 409)")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--callers", type=int, default=64)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--store-latency", type=float, default=0.0, help="seconds")
    parser.add_argument("--no-results-hook", dest="results_hook_off", action="store_true")
    opts = parser.parse_args(argv)
    result = asyncio.run(run(opts))
    lines = report(opts, result)
    print("\n".join(lines), flush=True)
    return 0 if lines[-1].startswith("exactly once: ok") else 1


if __name__ == "__main__":
    sys.exit(main())
