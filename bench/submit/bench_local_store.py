#!/usr/bin/env python3
"""The Submitter draining into the embedded SQLite store, against a bare INSERT loop.

    .venv/bin/python bench/submit/bench_local_store.py [--n 20000] [--concurrency 64]

Setup: a private redis-server (AOF everysec, as the gateway runs it); N evaluations
written to the outbox in the intake's format (bench_submit.fill_outbox).

  baseline   the same ``INSERT OR IGNORE`` statements (same table, same pragmas,
             same JSON encoding) in a bare synchronous loop in this process,
             committed every ``concurrency`` rows: what SQLite itself costs with
             commits as large as the submitter's in-flight window.
  submitter  the Submitter (console hook off) draining the outbox into
             ``LocalCoreStore`` in a fresh file.

``--store-file old.py`` loads LocalCoreStore from another file (e.g. the previous
version, ``git show <rev>:adapters/store_local.py > /tmp/old.py``) for before/after.

Prints rows/s of each, the submitter's p50/p99 store-call latency, its CPU per
evaluation and the ratio submitter/baseline, plus the exactly-once check (rows in
the file == N, one per idempotency key).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import sqlite3
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
if str(Path(__file__).parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).parent))

import redis.asyncio as aioredis  # noqa: E402
from bench_submit import TimedStore, evaluations, fill_outbox, percentiles  # noqa: E402

from adapters import store_local  # noqa: E402
from adapters.redis_server import RedisServer  # noqa: E402
from ratings import keys  # noqa: E402
from ratings.records import fan_out  # noqa: E402
from ratings.submitter import Submitter  # noqa: E402


def bare_loop(path: Path, evs, batch: int, synchronous: str) -> dict:
    records = [r for ev in evs for r in fan_out(ev)]
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    conn.execute(store_local.SCHEMA)
    t0, cpu0 = time.perf_counter(), time.process_time()
    for start in range(0, len(records), batch):
        conn.execute("BEGIN IMMEDIATE")
        for r in records[start:start + batch]:
            conn.execute(
                "INSERT OR IGNORE INTO records (idempotency_key, project_no, payload, stored_at)"
                " VALUES (?, ?, ?, ?)",
                (r.idempotency_key, str(r.payload.get("projectNo", "")),
                 json.dumps(r.payload, ensure_ascii=False, sort_keys=True),
                 datetime.now(timezone.utc).isoformat()))
        conn.execute("COMMIT")
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    rows = conn.execute("SELECT COUNT(DISTINCT idempotency_key) FROM records").fetchone()[0]
    conn.close()
    return {"rate": len(records) / elapsed, "cpu_us": cpu / len(records) * 1e6, "rows": rows}


async def submitter_run(client, path: Path, evs, concurrency: int) -> dict:
    await client.flushall()
    await fill_outbox(client, evs)
    store = TimedStore(store_local.LocalCoreStore(path))
    sub = Submitter(client, store, "bench", concurrency=concurrency, results_hook=None)
    t0, cpu0 = time.perf_counter(), time.process_time()
    task = asyncio.create_task(sub.run())
    while sub.counts["submitted"] < len(evs):
        if task.done():
            task.result()
        await asyncio.sleep(0.005)
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    await sub.stop()
    await task
    rows = await store.inner.count()
    commits = getattr(store.inner, "commits", None)  # None: a store without group commit
    await store.close()
    assert await client.xlen(keys.OUTBOX) == 0
    p50, p99 = percentiles(store.latencies)
    return {"rate": len(evs) / elapsed, "p50_ms": p50, "p99_ms": p99,
            "cpu_us": cpu / len(evs) * 1e6, "rows": rows, "commits": commits}


async def main_async(n: int, concurrency: int) -> None:
    synchronous = getattr(store_local, "SYNCHRONOUS", "NORMAL")
    with tempfile.TemporaryDirectory(prefix="hcp-bench-local-") as tmp, \
            RedisServer(Path(tmp) / "redis") as server:
        client = aioredis.Redis.from_url(server.url)
        try:
            await submitter_run(client, Path(tmp) / "warm.sqlite3",
                                evaluations(500, "warm"), concurrency)
            base = bare_loop(Path(tmp) / "bare.sqlite3", evaluations(n, "bare"),
                             concurrency, synchronous)
            sub = await submitter_run(client, Path(tmp) / "sub.sqlite3",
                                      evaluations(n, "sub"), concurrency)
        finally:
            await client.aclose()
    print(f"N={n} concurrency={concurrency} journal=WAL synchronous={synchronous}")
    print(f"baseline   {base['rate']:8.0f} rows/s  CPU {base['cpu_us']:5.0f} us/row  "
          f"(bare INSERT loop, commit every {concurrency})")
    print(f"submitter  {sub['rate']:8.0f} ev/s    CPU {sub['cpu_us']:5.0f} us/ev   "
          f"store call p50 {sub['p50_ms']:.2f} ms  p99 {sub['p99_ms']:.2f} ms")
    if sub["commits"]:
        print(f"group commit: {sub['commits']} transactions, "
              f"{n / sub['commits']:.1f} records per commit on average")
    print(f"ratio submitter/baseline {sub['rate'] / base['rate']:.3f}")
    print(f"exactly once: {sub['rows']} rows for {n} evaluations "
          f"({'ok' if sub['rows'] == n else 'MISMATCH'})")


def main() -> None:
    parser = argparse.ArgumentParser(description="submitter -> LocalCoreStore vs bare INSERTs")
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--store-file", type=Path, help="LocalCoreStore from this file")
    args = parser.parse_args()
    if args.store_file:
        global store_local
        spec = importlib.util.spec_from_file_location("store_under_test", args.store_file)
        store_local = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(store_local)
    asyncio.run(main_async(args.n, args.concurrency))


if __name__ == "__main__":
    main()
