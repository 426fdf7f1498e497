#!/usr/bin/env python3
"""The issue-2 benchmark in one run: intake, then submission, each against its baseline.

    .venv/bin/python bench/intake/pipeline_bench.py [--n 100000] [--callers 64]
        [--concurrency 64] [--store-latency 0] [--no-results-hook] [--via-http]

One private redis-server (AOF everysec, as the gateway runs it) and the loopback core
store (tests/support/corestore.py) in its own process serve every step:

  1. intake baseline   a bare client running the intake's own accept script, one
                       EVALSHA per evaluation with its arguments built inline
                       (intake_bench.run_bare_script: the same decision work, no
                       domain model)
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

``--via-http``: steps 2 and 4 happen in one ``hcp serve`` (tests/gateway/process.py)
on the same Redis, posting to the loopback store: evaluations arrive as authenticated
``POST /v1/evaluations`` (bodies as bench/gateway/http_intake_bench.py builds them)
while the gateway's own submitter drains; submission evaluations/s is then accepted /
time from the first POST until the store holds every accepted evaluation (no
per-request submission latency; Redis commands are those of the whole gateway).
That clock holds the intake as well, so it is compared with the two baselines run
back to back (bare script, then bare POST loop: the same work end to end), not with
the POST loop alone.

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
import time
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
http_intake_bench = _load("http_intake_bench", REPO / "bench/gateway/http_intake_bench.py")


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


async def intake_via_http(opts, url: str, store, workdir: Path) -> dict:
    """POSTs to a gateway on this Redis whose submitter drains to ``store`` meanwhile."""
    import aiohttp

    from tests.gateway.process import GatewayProcess
    from tests.support.corestore import DEFAULT_SECRET

    client = aioredis.Redis.from_url(url)
    await client.flushall()
    await client.aclose()
    gw = GatewayProcess(workdir, {
        "HCP_REDIS_URL": url, "HCP_CORE_URL": store.url, "HCP_LOG_LEVEL": "WARNING",
        "HCP_CORE_HMAC_SECRET": DEFAULT_SECRET.decode(), "HCP_CORE_PF_API": "1",
        "HCP_SUBMIT_CONCURRENCY": str(opts.concurrency)})
    bodies = http_intake_bench.bodies("http", opts.n)
    random.shuffle(bodies)
    wanted: set[str] = set()  # idempotency keys of the accepted evaluations
    try:
        await gw.start()
        connector = aiohttp.TCPConnector(limit=opts.callers)
        async with aiohttp.ClientSession(connector=connector) as session:
            post_url, auth = f"{gw.base_url}/v1/evaluations", gw.auth

            async def post(body):
                async with session.post(post_url, json=body, headers=auth) as resp:
                    answer = await resp.json()
                    if resp.status not in (201, 409):
                        raise RuntimeError(f"HTTP {resp.status}: {answer}")
                    if resp.status == 201:
                        wanted.add(idempotency_key(answer["id"], body["target"]["id"]))
                    return resp.status == 201

            before = await command_count(url)
            t0 = time.perf_counter()
            seconds, latencies, accepted = await intake_bench.drive(
                post, bodies, opts.callers)
            while store.stats()["stored"] < accepted:
                await asyncio.sleep(0.05)
            drained = time.perf_counter() - t0
            commands = await command_count(url) - before - 1
        await gw.stop()
    finally:
        gw.kill()
    intake = intake_bench.Figures("intake", opts.n, seconds, latencies, 0, accepted)
    return {"intake": intake, "drained_seconds": drained, "commands": commands,
            "wanted": wanted}


def fmt(name: str, rate: float, p50: float, p99: float, extra: str) -> str:
    return f"{name:<17} {rate:>8,.0f} ev/s   p50 {p50:7.2f} ms   p99 {p99:7.2f} ms   {extra}"


async def run(opts) -> dict:
    random.seed(7)
    evs = intake_bench.evaluations(opts.n)
    accepted = opts.n - int(opts.n * 0.10)  # both generators repeat 10 % of the items
    out: dict = {}
    with tempfile.TemporaryDirectory(prefix="hcp-bench-pipeline-") as tmp, \
            RedisServer(Path(tmp) / "redis") as server, CoreStoreProcess() as store:
        url = server.url

        def store_ready():
            store.reset()
            if opts.store_latency:
                store.faults(latency={"seconds": opts.store_latency})

        # 1: the intake baseline (flushes Redis first)
        out["base"], out["base_cmds"] = await counted(
            url, intake_bench.run_bare_script(url, evs, opts.callers))
        # 3 (before the gateway, whose submitter needs the store to itself)
        store_ready()
        out["post"] = await bench_submit.baseline(
            store.url, bench_submit.evaluations(accepted, "baseline"), opts.concurrency)
        store_ready()
        if opts.via_http:  # 2 + 4 in one gateway process
            http = await intake_via_http(opts, url, store, Path(tmp) / "gw")
            out.update(intake=http["intake"], intake_cmds=None, drained=None,
                       drained_rate=http["intake"].accepted / http["drained_seconds"],
                       submit_cmds=http["commands"], submit_trips=None)
            wanted = http["wanted"]
        else:
            # 2: the intake (flushes Redis first); the accepted stay in the outbox
            out["intake"], out["intake_cmds"] = await counted(
                url, intake_bench.run_intake(url, evs, opts.callers))
            wanted = await expected_keys(url)
            # 4: the Submitter drains what the intake accepted
            client = intake_bench.CountingRedis.from_url(url)
            try:
                drained, out["submit_cmds"] = await counted(url, bench_submit.drain_outbox(
                    client, store.url, out["intake"].accepted, opts.concurrency,
                    with_results=not opts.results_hook_off))
                out.update(drained=drained, drained_rate=drained["rate"],
                           submit_trips=client.round_trips)
            finally:
                await client.aclose()
        stats = store.stats(keys=True)
        stored = set(store.records())
        out.update(accepted=out["intake"].accepted, wanted=len(wanted), stored=len(stored),
                   missing=len(wanted - stored), extra=len(stored - wanted),
                   resubmitted=stats["duplicates"])
    return out


def report(opts, r: dict) -> list[str]:
    n, accepted = opts.n, r["accepted"]
    base, intake, post, drained = r["base"], r["intake"], r["post"], r["drained"]
    via = "POST /v1/evaluations to hcp serve" if opts.via_http else "Intake.accept"
    lines = [
        f"{n:,} evaluations, 10 % duplicates, intake via {via}, {opts.callers} intake "
        f"callers, submitter concurrency {opts.concurrency}, store latency "
        f"{opts.store_latency * 1000:.0f} ms, results hook "
        f"{'off' if opts.results_hook_off else 'on'}, load average "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())} (at the end)",
        fmt("intake baseline", base.rate, base.pct(50), base.pct(99),
            f"round trips/ev {base.round_trips / n:.2f}   redis cmds/ev "
            f"{r['base_cmds'] / n:.2f}"),
    ]
    if opts.via_http:
        lines.append(fmt("intake (http)", intake.rate, intake.pct(50), intake.pct(99),
                         f"accepted {accepted:,}"))
    else:
        lines.append(fmt("intake", intake.rate, intake.pct(50), intake.pct(99),
                         f"round trips/ev {intake.round_trips / n:.2f}   redis cmds/ev "
                         f"{r['intake_cmds'] / n:.2f}   accepted {accepted:,}"))
    lines.append(fmt("submit baseline", post["rate"], post["p50_ms"], post["p99_ms"],
                     f"bare aiohttp POST loop, {accepted:,} records"))
    if opts.via_http:
        lines.append(f"{'submission':<17} {r['drained_rate']:>8,.0f} ev/s   (gateway's own "
                     f"submitter, first POST to last record stored)   redis cmds/ev "
                     f"{r['submit_cmds'] / accepted:.2f} (whole gateway)")
    else:
        lines.append(fmt("submission", drained["rate"], drained["p50_ms"], drained["p99_ms"],
                         f"round trips/ev {r['submit_trips'] / accepted:.2f}   redis cmds/ev "
                         f"{r['submit_cmds'] / accepted:.2f}   retries {drained['retries']}"))
    lines.append(f"ratio intake/bare script {intake.rate / base.rate:.2f}")
    if opts.via_http:  # the clock ran from the first POST: intake + submission
        both = accepted / (accepted / base.rate + accepted / post["rate"])
        lines.append(f"ratio end to end (gateway: intake + submission, first POST to last "
                     f"record) / (bare script + bare POST loop, back to back: "
                     f"{both:,.0f} ev/s) {r['drained_rate'] / both:.2f}")
    else:
        lines.append(f"ratio submission/bare POST loop {r['drained_rate'] / post['rate']:.2f}"
                     " (aim >= 0.8)")
    if not opts.via_http:
        lines.append(f"round trips per accepted evaluation, intake + submission "
                     f"{(intake.round_trips + r['submit_trips']) / accepted:.2f}")
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
    parser.add_argument("--via-http", action="store_true",
                        help="intake through POST /v1/evaluations of a gateway it starts")
    opts = parser.parse_args(argv)
    result = asyncio.run(run(opts))
    lines = report(opts, result)
    print("\n".join(lines), flush=True)
    return 0 if lines[-1].startswith("exactly once: ok") else 1


if __name__ == "__main__":
    sys.exit(main())
