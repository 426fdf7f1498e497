"""What the HTTP API costs per rating: ``hcp serve`` against a bare aiohttp handler
running the same accept script, same Redis, same callers, interleaved rounds.

Starts one redis-server (AOF everysec), one ``hcp serve`` on it (local SQLite store,
so its submitter drains alongside as in production, log level INFO unless told)
and ``bench/gateway/bare_server.py`` on it (the peer baseline: token check, JSON
body, one EVALSHA of ratings/lua/accept.lua under its own key prefix, 201/409;
no model, no metrics, no logs, no submitter). Then ``--rounds`` rounds, each
posting n/rounds evaluations to either side in turn (the side going first
alternates), 10 % of them duplicates (409):

  bare    POST /v1/evaluations to the bare handler
  http    POST /v1/evaluations to hcp serve; the round ends when its outbox is
          drained, so the gateway's CPU covers intake + submission + SQLite

Per side: requests/s (median of its rounds), p50/p99 latency, server-process CPU
per request (user+sys from /proc), and the ratios http/bare within the run.

    .venv/bin/python bench/gateway/http_intake_bench.py [-n 20000] [-c 64] [--rounds 6]
        [--log-level INFO] [--profile bench/gateway/out/serve.svg] [--before DIR]

``--before DIR`` adds a third side in the same rounds: ``hcp serve`` run from an
older checkout (``git archive <commit> | tar -x -C DIR``), on a redis-server of its
own (its submitter must not drain the other gateway's outbox).

``--profile`` records the gateway's http rounds with py-spy (needs ptrace: root)
into the SVG flame graph and a collapsed-stack ``.txt`` beside it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from adapters.redis_server import RedisServer, free_port  # noqa: E402
from tests.gateway.process import GatewayProcess  # noqa: E402

TOKEN = "bench-token-0123456789abcdef"


def bodies(prefix: str, n: int) -> list[dict]:
    unique = n - n // 10
    items = [f"{prefix}-{i}" for i in range(unique)] + \
        [f"{prefix}-{i}" for i in range(n // 10)]  # the last 10 % repeat earlier items
    # one number for all, as in the runs: normalise_phone's cache hits (a
    # distinct number per request costs ~30 us more in phonenumbers)
    return [{"target": {"kind": "item", "id": item}, "grade": "satisfied",
             "phone": "13812345678", "channel": "api"} for item in items]


def pct(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100)[q - 1] * 1000 if len(values) > 1 else 0.0


def cpu_seconds(pid: int) -> float:
    """user + system CPU of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def drive(url: str, headers: dict, work: list, concurrency: int):
    """One side's round on a fresh session: a pooled connection left idle while the
    other sides ran would meet the gateway's idle bound (http.head_timeout_s)."""
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) \
            as session:
        return await _drive(session, url, headers, work, concurrency)


async def _drive(session, url: str, headers: dict, work: list, concurrency: int):
    latencies: list[float] = []
    accepted = 0
    queue = iter(work)

    async def worker():
        nonlocal accepted
        for body in queue:
            t0 = time.perf_counter()
            async with session.post(url, json=body, headers=headers) as resp:
                await resp.read()
                if resp.status not in (201, 409):
                    raise RuntimeError(f"HTTP {resp.status}: {await resp.text()}")
                accepted += resp.status == 201
            latencies.append(time.perf_counter() - t0)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started, latencies, accepted


async def outbox_depth(session: aiohttp.ClientSession, base_url: str) -> float:
    async with session.get(f"{base_url}/metrics") as resp:
        for line in (await resp.text()).splitlines():
            if line.startswith("hcp_outbox_depth "):
                return float(line.split()[1])
    raise RuntimeError("no hcp_outbox_depth in /metrics")


async def wait_healthy(session, base_url: str, proc, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("bare server exited")
        try:
            async with session.get(f"{base_url}/healthz") as resp:
                if resp.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.05)
    raise RuntimeError("bare server not ready")


class Side:
    def __init__(self, name: str):
        self.name = name
        self.rates: list[float] = []
        self.latencies: list[float] = []
        self.cpu = 0.0
        self.n = 0
        self.accepted = 0

    def line(self) -> str:
        return (f"{self.name:<5} {statistics.median(self.rates):>7,.0f} req/s "
                f"(rounds {min(self.rates):,.0f}-{max(self.rates):,.0f})   "
                f"p50 {pct(self.latencies, 50):6.2f} ms   p99 {pct(self.latencies, 99):6.2f} ms"
                f"   server CPU {self.cpu / self.n * 1000:.3f} ms/request   "
                f"accepted {self.accepted:,}")


async def main(n: int, concurrency: int, rounds: int, log_level: str,
               profile: Path | None, before: Path | None) -> None:
    print(f"load average at start {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as tmp:
        server = RedisServer(Path(tmp) / "redis").start()
        gw = GatewayProcess(Path(tmp) / "gw", {"HCP_REDIS_URL": server.url,
                                               "HCP_HTTP_TOKENS": TOKEN,
                                               "HCP_LOG_LEVEL": log_level})
        old_server = old = None
        if before is not None:
            old_server = RedisServer(Path(tmp) / "redis-before").start()
            old = GatewayProcess(Path(tmp) / "gw-before", {
                "HCP_REDIS_URL": old_server.url, "HCP_HTTP_TOKENS": TOKEN,
                "HCP_LOG_LEVEL": log_level, "PYTHONPATH": str(before.resolve())})
        bare_port = free_port()
        bare = subprocess.Popen([sys.executable, str(Path(__file__).with_name(
            "bare_server.py")), str(bare_port), server.url, TOKEN])
        spy = None
        try:
            await gw.start()
            if old is not None:
                await old.start()
            connector = aiohttp.TCPConnector(limit=concurrency)
            async with aiohttp.ClientSession(connector=connector) as session:
                bare_url = f"http://127.0.0.1:{bare_port}"
                await wait_healthy(session, bare_url, bare)
                if profile is not None:
                    profile.parent.mkdir(parents=True, exist_ok=True)
                    spy = subprocess.Popen(
                        [str(Path(sys.executable).parent / "py-spy"), "record", "--nonblocking",
                         "-p", str(gw.proc.pid), "-o", str(profile), "-r", "200"],
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                headers = {"Authorization": f"Bearer {TOKEN}"}
                sides = {"bare": (Side("bare"), bare_url, bare.pid),
                         "http": (Side("http"), gw.base_url, gw.proc.pid)}
                if old is not None:
                    sides["before"] = (Side("before"), old.base_url, old.proc.pid)
                names = list(sides)
                per_round = n // rounds
                for r in range(rounds):
                    order = names[r % len(names):] + names[:r % len(names)]
                    if r // len(names) % 2:
                        order.reverse()
                    for name in order:
                        side, base, pid = sides[name]
                        cpu0 = cpu_seconds(pid)
                        elapsed, lat, acc = await drive(
                            f"{base}/v1/evaluations", headers,
                            bodies(f"{name}{r}", per_round), concurrency)
                        if name != "bare":  # the submitter's share of the work, too
                            while await outbox_depth(session, base) > 0:
                                await asyncio.sleep(0.02)
                        side.cpu += cpu_seconds(pid) - cpu0
                        side.rates.append(per_round / elapsed)
                        side.latencies += lat
                        side.n += per_round
                        side.accepted += acc
            if spy is not None:
                spy.send_signal(signal.SIGINT)
                spy.wait(60)
                spy = None
            b, h = sides["bare"][0], sides["http"][0]
            print(f"{n:,} evaluations in {rounds} interleaved rounds, 10 % duplicates, "
                  f"{concurrency} concurrent callers, one redis-server (AOF everysec) on "
                  f"loopback, gateway log level {log_level}")
            print(b.line())
            print(h.line())
            ratios = [hr / br for hr, br in zip(h.rates, b.rates, strict=True)]
            ratio = statistics.median(h.rates) / statistics.median(b.rates)
            print(f"ratio http/bare throughput {ratio:.2f}"
                  f" (per round pair {min(ratios):.2f}-{max(ratios):.2f}); CPU per request "
                  f"{h.cpu / h.n / (b.cpu / b.n):.2f}x (gateway: intake + submission + SQLite)")
            if old is not None:
                o = sides["before"][0]
                print(o.line())
                ratio = statistics.median(o.rates) / statistics.median(b.rates)
                print(f"ratio before/bare throughput {ratio:.2f}; CPU per request "
                      f"{o.cpu / o.n / (b.cpu / b.n):.2f}x; http/before throughput "
                      f"{statistics.median(h.rates) / statistics.median(o.rates):.2f}, "
                      f"CPU {h.cpu / h.n / (o.cpu / o.n):.2f}x")
                await old.stop()
            print(f"load average at end {os.getloadavg()[0]:.2f}")
            await gw.stop()
        finally:
            if spy is not None:
                spy.kill()
            bare.terminate()
            bare.wait(10)
            gw.kill()
            server.stop()
            if old is not None:
                old.kill()
                old_server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=20000)
    parser.add_argument("-c", "--concurrency", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--log-level", default="INFO")
    parser.add_argument("--profile", type=Path)
    parser.add_argument("--before", type=Path)
    args = parser.parse_args()
    asyncio.run(main(args.n, args.concurrency, args.rounds, args.log_level, args.profile,
                     args.before))
