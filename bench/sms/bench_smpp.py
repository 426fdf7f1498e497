"""SMPP throughput and correctness with 10,000 queued messages, against a loopback SMSC.

    .venv/bin/python bench/sms/bench_smpp.py [-n 10000]

Runs, in one process and against the same child-process SMSC (smpp34's server):
  bare-burst    smpp34's client, all N submit_sm at once (no window): the baseline
                of "what the library does if you just fire"; counts non-OK answers
  bare-window   smpp34's client, 64 submits in flight (the library's own fastest
                loop that does not lose messages on this SMSC)
  adapter       adapters.sms_smpp.SmppCarrier.send for N messages queued at once
  dispatcher    N reminders in a real Redis, dispatched through the adapter; reports
                segments per reminder (issue 12: one) and, with --per-phone K, K items
                per number due together going out as one text per number
  aiosmpplib    aiosmpplib 0.7.4 ESME, N SubmitSm enqueued at once, no rate limiter
Prints messages/s, failures, and the SMSC's own accepted count for each, and the
adapter's rate as a ratio to bare-window.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

import smpp34  # noqa: E402

from adapters.redis_server import RedisServer, free_port  # noqa: E402
from adapters.sms_smpp import SmppCarrier  # noqa: E402
from sms.carrier import OutboundSms  # noqa: E402

PHONE = "+8613800138000"
TEXT = "【广东政务服务】您办理的“居住证签注”已办结，欢迎评价。"


class Smsc:
    def __init__(self):
        self.port = free_port()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "adapters.sms_smpp_loopback", "--port", str(self.port),
             "--quiet"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=REPO,
            env=dict(os.environ, PYTHONPATH=str(REPO)), text=True)
        assert json.loads(self.proc.stdout.readline())["event"] == "ready"

    def accepted(self) -> int:
        self.proc.stdin.write('{"stats": true}\n')
        self.proc.stdin.flush()
        while True:
            event = json.loads(self.proc.stdout.readline())
            if event["event"] == "stats":
                return event["accepted"]

    def stop(self):
        self.proc.kill()
        self.proc.wait()


def report(name, n, seconds, failures, accepted):
    rate = n / seconds
    print(f"{name:12s} {n:6d} msgs {seconds:7.2f} s {rate:8.0f}/s  "
          f"failures {failures:5d}  SMSC accepted {accepted:6d}")
    return rate


async def bare(smsc: Smsc, n: int, window: int | None) -> tuple[float, int, int]:
    before = smsc.accepted()
    client = smpp34.Client("127.0.0.1", smsc.port, "bench", "pw", bind_type="TRX")
    session = await client.connect()
    body = TEXT.encode("utf-16-be")
    limit = asyncio.Semaphore(window or n)

    async def one():
        async with limit:
            return await session.submit_sm("8613800138000", body, data_coding=8)

    t = time.perf_counter()
    results = await asyncio.gather(*(one() for _ in range(n)), return_exceptions=True)
    seconds = time.perf_counter() - t
    failures = sum(1 for r in results if isinstance(r, Exception) or not r.is_success)
    await session.unbind()
    await client.stop()
    return seconds, failures, smsc.accepted() - before


async def adapter(smsc: Smsc, n: int) -> tuple[float, int, int]:
    before = smsc.accepted()
    carrier = SmppCarrier("127.0.0.1", smsc.port, "bench", "pw", registered_delivery=0)

    async def nothing(_):
        pass

    await carrier.start(nothing, nothing)
    await carrier.wait_bound()
    t = time.perf_counter()
    results = await asyncio.gather(
        *(carrier.send(OutboundSms(f"b{i}", PHONE, TEXT)) for i in range(n)),
        return_exceptions=True)
    seconds = time.perf_counter() - t
    failures = sum(1 for r in results if isinstance(r, Exception))
    await carrier.stop()
    return seconds, failures, smsc.accepted() - before


async def dispatcher(smsc: Smsc, n: int, per_phone: int = 1) -> tuple[float, int, int, float,
                                                                     dict]:
    import redis.asyncio as aioredis

    from sms.completions import Completion
    from sms.deliveries import Deliveries
    from sms.dispatcher import DispatchPolicy, Dispatcher
    from sms.optout import OptOuts
    from sms.quiet_hours import QuietHours
    from sms.reminders import Reminders

    class NoneRated:
        async def is_evaluated(self, item_id):
            return False

    before = smsc.accepted()
    with tempfile.TemporaryDirectory() as tmp, RedisServer(tmp, aof=False) as server:
        redis = aioredis.Redis.from_url(server.url, max_connections=256)
        now = [time.time()]
        reminders = Reminders(redis, b"bench", delay_s=0, clock=lambda: now[0])
        done = datetime.now(timezone.utc)
        t = time.perf_counter()
        for i in range(n):
            await reminders.schedule(Completion(
                f"ITEM{i}", "SVC", "居住证签注", "公安局", f"+86138{i // per_phone:08d}", done))
        schedule_rate = n / (time.perf_counter() - t)
        carrier = SmppCarrier("127.0.0.1", smsc.port, "bench", "pw", registered_delivery=0)

        async def nothing(_):
            pass

        await carrier.start(nothing, nothing)
        await carrier.wait_bound()
        policy = DispatchPolicy(quiet_hours=QuietHours(start=datetime.min.time(),
                                                       end=datetime.max.time()),
                                batch=500, concurrency=64)
        d = Dispatcher(reminders, carrier, NoneRated(), OptOuts(redis, b"bench"),
                       Deliveries(redis, "smpp"), policy)
        t = time.perf_counter()
        while await d.dispatch_due():
            pass
        seconds = time.perf_counter() - t
        failures = n - d.sent["reminders"]
        await carrier.stop()
        await redis.aclose()
    return seconds, failures, smsc.accepted() - before, schedule_rate, dict(d.sent)


async def aiosmpplib_burst(smsc: Smsc, n: int, wait_s: float) -> tuple[float, int, int]:
    from aiosmpplib import ESME, AbstractHook, PhoneNumber, SubmitSm, SubmitSmResp

    before = smsc.accepted()
    counts = {"ok": 0, "error": 0}
    finished = asyncio.Event()

    class Counting(AbstractHook):
        async def sending(self, smpp_message, pdu, client_id):
            pass

        async def received(self, smpp_message, pdu, client_id):
            if isinstance(smpp_message, SubmitSmResp):
                counts["ok"] += 1
                if counts["ok"] + counts["error"] >= n:
                    finished.set()

        async def send_error(self, smpp_message, error, client_id):
            counts["error"] += 1
            if counts["ok"] + counts["error"] >= n:
                finished.set()

    esme = ESME("127.0.0.1", smsc.port, "bench", "pw", hook=Counting(),
                log_level=logging.CRITICAL)
    from aiosmpplib.broker import SimpleBroker
    esme.broker = SimpleBroker(maxsize=n + 10)
    task = asyncio.create_task(esme.start())
    t = time.perf_counter()
    for i in range(n):
        await esme.broker.enqueue(SubmitSm(
            short_message=TEXT, source=PhoneNumber("10690000"),
            destination=PhoneNumber("8613800138000"), log_id=f"a{i}"))
    try:
        await asyncio.wait_for(finished.wait(), wait_s)
    except asyncio.TimeoutError:
        pass
    seconds = time.perf_counter() - t
    await esme.stop()
    task.cancel()
    try:
        await task
    except (asyncio.CancelledError, Exception):
        pass
    lost = n - counts["ok"] - counts["error"]
    return seconds, counts["error"] + lost, smsc.accepted() - before


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=10_000)
    parser.add_argument("--skip-aiosmpplib", action="store_true")
    parser.add_argument("--per-phone", type=int, default=3,
                        help="items per number for the grouped dispatcher run")
    args = parser.parse_args()
    n = args.n
    smsc = Smsc()
    try:
        report("bare-burst", n, *await bare(smsc, n, None))
        base = report("bare-window", n, *await bare(smsc, n, 64))
        rate = report("adapter", n, *await adapter(smsc, n))
        seconds, failures, accepted, schedule_rate, sent = await dispatcher(smsc, n)
        drate = report("dispatcher", n, seconds, failures, accepted)
        print(f"reminders scheduled {schedule_rate:.0f}/s (one completion per call)")
        print(f"dispatcher segments {accepted / seconds:.0f}/s; {sent['texts']} texts for "
              f"{sent['reminders']} reminders, {sent['segments'] / sent['reminders']:.2f} "
              f"segments per reminder (SMSC accepted {accepted} segments)")
        k = args.per_phone
        gsec, gfail, gacc, _, gsent = await dispatcher(smsc, n, per_phone=k)
        report(f"grouped x{k}", n, gsec, gfail, gacc)
        print(f"grouped: {gsent['texts']} texts for {gsent['reminders']} reminders "
              f"({k} per number), {gsent['segments'] / gsent['texts']:.2f} segments per text, "
              f"{gsent['segments'] / gsent['reminders']:.2f} per reminder")
        print(f"ratio adapter/bare-window {rate / base:.2f}; "
              f"dispatcher/bare-window {drate / base:.2f} reminders, "
              f"{accepted / seconds / base:.2f} segments")
        if not args.skip_aiosmpplib:
            report("aiosmpplib", n, *await aiosmpplib_burst(smsc, n, 60))
    finally:
        smsc.stop()


if __name__ == "__main__":
    asyncio.run(main())
