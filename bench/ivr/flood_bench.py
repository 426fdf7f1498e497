"""INVITE floods at one IVR worker and through the Kamailio front (issue 11, part 2).

    .venv/bin/python bench/ivr/flood_bench.py [--rates 50,100,200,400] [--seconds 10]
                                              [--workers 2] [--modes worker,front]

Per mode a pool (``ivr/pool.py``, the supervisor that restarts a dead worker) on
free loopback ports and a private redis-server: ``worker`` = SIPp straight at one
worker; ``front`` = SIPp at a Kamailio front (``ivr/kamailio.py``'s config, with its
ratelimit and pike) before ``--workers`` workers. Per rate: SIPp sends ``rate``
INVITE/s for ``--seconds`` (tests/ivr/flood.py: a 200 is ACKed and hung up after
100 ms, a refusal is ACKed), then one normal caller presses 1 at once. Reported:
INVITEs, final answers by status, unanswered (no final answer within 8 s), answer
p95, worker crashes (pool restarts) during the rate, time from the flood's end to
the next call's 200 and to its rating in the intake's outbox, and whether it was
rated. Everything goes to 127.0.0.1 and stops after the last rate.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from adapters.redis_server import RedisServer  # noqa: E402
from ivr.kamailio import FrontSettings, KamailioProcess, write_front  # noqa: E402
from ivr.pool import IvrPool  # noqa: E402
from tests.ivr.flood import next_rated_call, run_flood  # noqa: E402
from tests.ivr_pool.harness import front_port, pool_config  # noqa: E402


def restarts(pool: IvrPool) -> int:
    return sum(w["restarts"] for w in pool.status())


async def run_mode(mode: str, args, redis_url: str, work: Path) -> list[str]:
    count = 1 if mode == "worker" else args.workers
    config = pool_config(count, drain_s=10.0, poll_s=0.5)
    pool = IvrPool(config, redis_url, work / "data", phone_secret="bench-secret-0123456789",
                   log_dir=work / "logs", ready_timeout_s=120)
    await pool.start()
    front = None
    lines = []
    try:
        port = config.sip_port
        if mode == "front":
            fport = front_port()
            cfg, _ = write_front(config, work / "front",
                                 FrontSettings(listen=f"127.0.0.1:{fport}", ping_interval_s=1))
            front = KamailioProcess(cfg, work / "front" / "run", work / "kamailio.log",
                                    f"127.0.0.1:{fport}").start()
            port = fport
        for rate in args.rates:
            before = restarts(pool)
            flood = await asyncio.to_thread(run_flood, port, rate, args.seconds,
                                            work / f"flood-{rate}")
            crashes = restarts(pool) - before
            after = await asyncio.to_thread(next_rated_call, port, work / f"next-{rate}",
                                            flood.ended_at, redis_url, mode == "front")
            crashes = max(crashes, restarts(pool) - before)
            codes = " ".join(f"{c}:{n}" for c, n in sorted(flood.finals.items()))
            line = (f"| {mode} ({count}w) | {rate}/s | {flood.invites} | {flood.unanswered} | "
                    f"{codes} | {flood.p95_ms():.0f} | {crashes} | "
                    f"{after.answered_s:.2f} | {after.rated_s:.2f} | "
                    f"{'yes' if after.rated else 'NO'} ({after.attempts} try) | "
                    f"{os.getloadavg()[0]:.1f} |")
            print(line, flush=True)
            lines.append(line)
            await asyncio.sleep(args.settle)
    finally:
        if front is not None:
            front.stop()
        t0 = time.monotonic()
        await pool.stop()
        print(f"  {mode}: pool stopped in {time.monotonic() - t0:.1f} s", flush=True)
    return lines


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rates", default="50,100,200,400")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=2, help="workers behind the front")
    parser.add_argument("--modes", default="worker,front")
    parser.add_argument("--settle", type=float, default=2.0, help="pause between rates, s")
    args = parser.parse_args()
    args.rates = [int(r) for r in args.rates.split(",")]
    print(f"INVITE flood, {os.cpu_count()} cores (shared), {args.seconds:g} s per rate; "
          f"load average {os.getloadavg()[0]:.1f} at start", flush=True)
    print("| target | rate | INVITEs | unanswered | finals | answer p95 ms | crashes | "
          "next 200 after s | next rated after s | next rated | load |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory(prefix="ivr-flood-") as tmp:
        server = RedisServer(Path(tmp) / "redis").start()
        try:
            for mode in args.modes.split(","):
                work = Path(tmp) / mode
                work.mkdir()
                await run_mode(mode, args, server.url, work)
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
