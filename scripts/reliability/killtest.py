#!/usr/bin/env python3
"""kill -9 checks: every accepted evaluation reaches the store exactly once.

    scripts/reliability/killtest.py [--n 10000] [--scenario gateway|redis|both] [--json]

Theory of operation: a private redis-server (AOF everysec, as the gateway runs
it) and the loopback core store in its own process (answering 503 to 2 % of
requests, seeded). A producer feeds N evaluations through the real intake
(10 % of them batches of 3 items, so fan-out is exercised) while a gateway-like
runner process (runner.py: one Submitter) drains the outbox. When about a third
of the records are at the store:

  gateway  the runner is killed with SIGKILL and a new one (new consumer name)
           is started; it claims the dead consumer's entries after claim_idle.
  redis    redis-server is killed with SIGKILL, stays down 1 s, and restarts
           from its AOF; runner and producer ride the outage out.

The producer retries an accept that failed on a Redis error (the intake answers
a replay of the same id as accepted), so "accepted" means the intake said so.
When the outbox is drained, the store's records are compared key by key with
the records the accepted evaluations must produce. Exit status 1 if any is
missing or unexpected; 409 answers (records re-sent after a kill) are printed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import redis.asyncio as aioredis  # noqa: E402
import redis.exceptions  # noqa: E402

from adapters.redis_server import RedisServer  # noqa: E402
from ratings import keys  # noqa: E402
from ratings.grades import Grade  # noqa: E402
from ratings.intake import Intake  # noqa: E402
from ratings.model import Channel, Evaluation, Target, TargetKind, utcnow  # noqa: E402
from ratings.records import idempotency_key  # noqa: E402
from tests.support.corestore import DEFAULT_SECRET, CoreStoreProcess  # noqa: E402

RUNNER = Path(__file__).with_name("runner.py")


@dataclass
class Result:
    scenario: str
    accepted: int
    expected_records: int
    at_store: int
    missing: int
    unexpected: int
    duplicate_answers: int  # 409s: records sent again after the kill, absorbed by the key
    store_requests: int
    accepted_at_kill: int  # < accepted: the intake was still writing when the kill came
    seconds: float

    @property
    def ok(self) -> bool:
        return self.missing == 0 and self.unexpected == 0 and self.at_store == \
            self.expected_records

    def line(self) -> str:
        return (f"{self.scenario:8s} kill -9: accepted {self.accepted} evaluations -> "
                f"{self.expected_records} records expected; at the store {self.at_store} "
                f"(missing {self.missing}, unexpected {self.unexpected}); "
                f"409 answers {self.duplicate_answers}; requests {self.store_requests}; "
                f"accepted at the kill {self.accepted_at_kill}; {self.seconds:.1f} s -> "
                f"{'OK' if self.ok else 'FAILED'}")


def evaluations(n: int, prefix: str) -> list[Evaluation]:
    grades = list(Grade)
    out = []
    for i in range(n):
        grade = grades[i % 5]
        if i % 10 == 0:
            target = Target(TargetKind.BATCH, f"{prefix}B{i}",
                            tuple(f"{prefix}B{i}-{k}" for k in range(3)))
        else:
            target = Target(TargetKind.ITEM, f"{prefix}I{i}")
        out.append(Evaluation(
            target=target, channel=Channel.SMS if i % 2 else Channel.HOTLINE, grade=grade,
            assessed_at=utcnow(), reasons=("R01",) if grade.needs_reason else ()))
    return out


def start_runner(redis_url: str, store_url: str) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, str(RUNNER), "--redis-url", redis_url, "--store-url", store_url,
         "--secret-hex", DEFAULT_SECRET.hex(), "--claim-idle", "2"],
        stdout=subprocess.PIPE, text=True, cwd=str(REPO))
    line = proc.stdout.readline()
    if not line.startswith("RUNNING"):
        proc.kill()
        raise RuntimeError(f"runner did not start: {line!r}")
    return proc


async def produce(redis_url: str, evs: list[Evaluation], accepted: list[Evaluation]) -> None:
    client = aioredis.Redis.from_url(redis_url)
    intake = Intake(client, phone_secret=b"reliability")
    try:
        for ev in evs:
            while True:
                try:
                    result = await intake.accept(ev)
                    break
                except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError,
                        OSError):
                    await asyncio.sleep(0.05)  # Redis is down: same id again later
            if result.accepted:
                accepted.append(ev)
    finally:
        await client.aclose()


async def drained(redis_url: str) -> bool:
    client = aioredis.Redis.from_url(redis_url)
    try:
        pending = await client.xpending(keys.OUTBOX, keys.OUTBOX_GROUP)
        return await client.xlen(keys.OUTBOX) == 0 and pending["pending"] == 0
    except (redis.exceptions.ConnectionError, redis.exceptions.ResponseError, OSError):
        return False
    finally:
        await client.aclose()


async def wait_until(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not await predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up waiting for {what}")
        await asyncio.sleep(0.05)


def stop_runner(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    proc.stdout.close()


async def run_scenario(scenario: str, n: int, workdir: Path) -> Result:
    started = time.monotonic()
    server = RedisServer(workdir / f"redis-{scenario}").start()
    store = CoreStoreProcess().start()
    runners: list[subprocess.Popen] = []
    try:
        store.faults(fail_rate={"p": 0.02, "seed": 7})
        evs = evaluations(n, prefix=f"{scenario}-")
        expected = {idempotency_key(ev.id, item) for ev in evs
                    for item in ev.target.record_items()}
        accepted: list[Evaluation] = []
        runners.append(start_runner(server.url, store.url))
        producer = asyncio.create_task(produce(server.url, evs, accepted))

        async def third_stored() -> bool:
            stats = await asyncio.to_thread(store.stats)
            return stats["stored"] >= len(expected) // 3

        await wait_until(third_stored, 120, "a third of the records")
        accepted_at_kill = len(accepted)
        if scenario == "gateway":
            os.kill(runners[-1].pid, signal.SIGKILL)
            runners[-1].wait()
            runners.append(start_runner(server.url, store.url))
        else:
            server.stop(kill=True)
            await asyncio.sleep(1.0)
            await asyncio.to_thread(server.start)
        await producer
        await wait_until(lambda: drained(server.url), 300, "the outbox to drain")
        for proc in runners:
            stop_runner(proc)
        records = await asyncio.to_thread(store.records)
        stats = await asyncio.to_thread(store.stats)
        must = {idempotency_key(ev.id, item) for ev in accepted
                for item in ev.target.record_items()}
        at_store = set(records)
        return Result(scenario, len(accepted), len(must), len(at_store),
                      len(must - at_store), len(at_store - must), stats["duplicates"],
                      stats["requests"], accepted_at_kill, time.monotonic() - started)
    finally:
        for proc in runners:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        store.stop()
        server.stop()


async def main_async(n: int, scenarios: list[str], as_json: bool) -> int:
    results = []
    with tempfile.TemporaryDirectory(prefix="hcp-killtest-") as tmp:
        for scenario in scenarios:
            result = await run_scenario(scenario, n, Path(tmp))
            results.append(result)
            if not as_json:
                print(result.line(), flush=True)
    if as_json:
        print(json.dumps([asdict(r) | {"ok": r.ok} for r in results]))
    return 0 if all(r.ok for r in results) else 1


def main() -> None:
    parser = argparse.ArgumentParser(description="kill -9 checks of the submitter")
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--scenario", choices=("gateway", "redis", "both"), default="both")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    scenarios = ["gateway", "redis"] if args.scenario == "both" else [args.scenario]
    sys.exit(asyncio.run(main_async(args.n, scenarios, args.json)))


if __name__ == "__main__":
    main()
