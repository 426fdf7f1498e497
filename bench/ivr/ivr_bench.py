"""IVR load: SIPp callers through Kamailio to the worker pool, on this machine.

    .venv/bin/python bench/ivr/ivr_bench.py [--levels 2,5,10,20,30,40,50] [--hold 8]
    .venv/bin/python bench/ivr/ivr_bench.py --levels 40,50,60 --go-on --before /tmp/old

``--before DIR`` runs every level twice, first with the workers' code taken from the
checkout DIR (``git worktree add DIR <commit>``), then with this one: before/after in
the same run, interleaved, so a disturbance by other work hits both alike.

Every call: INVITE (through the front, Record-Route honoured), hold ``--hold`` s
while the grade prompt plays and waits, press 1 by RFC 2833, hear the thanks
prompt, get the worker's BYE; the rating goes through the real intake into a
private redis-server. Per level: a fresh pool of N workers (4 calls each, the
pjsua2 wheel's limit) behind a fresh Kamailio, SIPp limited to 4·N concurrent
calls for ``--rounds`` rounds. Measured per level: concurrent calls held (SIPp's
CurrentCall peak), calls per second, digits captured (call summaries in Redis
whose key list is exactly the pressed 1, over calls SIPp placed), CPU (from
/proc, user+system over the load window) and peak RSS per worker and in total,
Kamailio's CPU, keypress-to-next-prompt p50/p95 (the workers' histogram,
interpolated inside its buckets: 5, 10, 20, 50, 100 ms …). Idle cost is measured
before the load: CPU and the wake-ups per second of each worker's main thread
(voluntary + involuntary context switches, /proc/<pid>/task/<pid>/status), with
Kamailio's OPTIONS pings going on. The load average (1 min) is printed at the start
and the end of each level's load. Baseline, same run: SIPp straight at one worker (no Kamailio),
4 calls. The run stops after the first level with a failed call or a lost digit.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

import redis  # noqa: E402

from adapters.redis_server import RedisServer  # noqa: E402
from ivr.kamailio import FrontSettings, KamailioProcess, write_front  # noqa: E402
import ivr.pool as ivr_pool  # noqa: E402
from ivr.pool import IvrPool  # noqa: E402
from tests.ivr.sipp import free_udp_port  # noqa: E402
from tests.ivr_pool.harness import caller_media_port, front_port, pool_config  # noqa: E402
from tests.ivr_pool.harness import proxied_scenario  # noqa: E402
from tests.ivr_pool.harness import worker_metrics  # noqa: E402

FLOW = str(Path(__file__).parent / "bench_flow.yaml")
TICK = os.sysconf("SC_CLK_TCK")
LATENCY = "hcp_ivr_keypress_to_prompt_seconds"


# -- /proc ---------------------------------------------------------------------------
def _stat_fields(pid: int) -> list[str]:
    text = Path(f"/proc/{pid}/stat").read_text()
    return text[text.rindex(")") + 2:].split()


def cpu_seconds(pid: int) -> float:
    try:
        f = _stat_fields(pid)
    except OSError:
        return 0.0
    return (int(f[11]) + int(f[12])) / TICK


def main_switches(pid: int) -> int:
    total = 0
    try:
        for line in Path(f"/proc/{pid}/task/{pid}/status").read_text().splitlines():
            if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                total += int(line.split()[1])
    except OSError:
        pass
    return total


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def session_pids(sid: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int(_stat_fields(int(entry.name))[3]) == sid:
                    pids.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue
    return pids


# -- results ---------------------------------------------------------------------------
@dataclass
class Level:
    name: str
    workers: int
    limit: int
    placed: int = 0
    ok: int = 0
    failed: int = 0
    peak_calls: int = 0
    wall_s: float = 0.0
    captured: int = 0
    rated: int = 0
    idle_cpu_pct: float = 0.0  # all workers, % of one core
    idle_wakeups_s: float = 0.0  # per worker, its main thread
    load: str = ""
    idle_rss_mb: float = 0.0  # all workers
    worker_cpu_pct: list[float] = field(default_factory=list)
    worker_rss_mb: list[float] = field(default_factory=list)
    front_cpu_pct: float = 0.0
    sipp_cpu_pct: float = 0.0
    p50_ms: float | None = None
    p95_ms: float | None = None

    @property
    def capture_pct(self) -> float:
        return 100.0 * self.captured / self.placed if self.placed else 0.0

    @property
    def cps(self) -> float:
        return self.ok / self.wall_s if self.wall_s else 0.0

    @property
    def cpu_ms_per_call(self) -> float:
        busy = sum(self.worker_cpu_pct) / 100 * self.wall_s
        return 1000 * busy / self.ok if self.ok else 0.0

    def line(self) -> str:
        cpu = sum(self.worker_cpu_pct)
        rss = sum(self.worker_rss_mb)
        per_cpu = cpu / max(1, self.workers)
        per_rss = rss / max(1, self.workers)
        p = (f"p50 {self.p50_ms:5.1f} ms p95 {self.p95_ms:6.1f} ms" if self.p50_ms is not None
             else "p50   n/a    p95   n/a   ")
        return (f"{self.name:<16} workers {self.workers:>3}  held {self.peak_calls:>3}/"
                f"{self.limit:<3} calls {self.ok:>4} ok {self.failed:>3} failed  "
                f"{self.cps:5.2f} calls/s  digits {self.capture_pct:5.1f} %  {p}  "
                f"cpu workers {cpu:6.1f} % (idle {self.idle_cpu_pct:5.1f} %, per worker "
                f"{per_cpu:4.1f} %, idle wake-ups {self.idle_wakeups_s:5.1f}/s per worker) "
                f"load {self.load}  rss {rss:7.0f} MB (per worker {per_rss:4.0f} MB)  "
                f"kamailio {self.front_cpu_pct:4.1f} %  sipp {self.sipp_cpu_pct:4.1f} %  "
                f"cpu/call {self.cpu_ms_per_call:5.0f} ms")


def histogram_quantiles(ports: list[tuple[int, str]]) -> tuple[float | None, float | None]:
    buckets: dict[float, float] = {}
    for port, _name in ports:
        try:
            samples = worker_metrics(port)
        except OSError:
            continue
        for (name, labels), value in samples.items():
            if name == LATENCY + "_bucket":
                le = float(dict(labels)["le"])
                buckets[le] = buckets.get(le, 0.0) + value
    if not buckets or not buckets.get(float("inf")):
        return None, None
    bounds = sorted(buckets)
    total = buckets[float("inf")]

    def quantile(q: float) -> float:
        rank, low, below = q * total, 0.0, 0.0
        for le in bounds:
            count = buckets[le]
            if count >= rank:
                if le == float("inf"):
                    return low * 1000
                width = count - below
                frac = (rank - below) / width if width else 1.0
                return (low + (le - low) * frac) * 1000
            low, below = le, count
        return low * 1000

    return quantile(0.5), quantile(0.95)


def capture(client: redis.Redis) -> tuple[int, int]:
    captured = rated = 0
    for _id, fields in client.xrange("{hcp}:ivr:calls"):
        digits = [d[0] for d in json.loads(fields[b"digits"])]
        captured += digits == ["1"]
        rated += fields[b"outcome"] == b"rated"
    return captured, rated


# -- one level -------------------------------------------------------------------------
def run_sipp(scenario: Path, port: int, workdir: Path, limit: int, calls: int,
             rate: float) -> tuple[int, int, int, int, float]:
    """(placed, ok, failed, peak concurrent, sipp cpu seconds)"""
    stat = workdir / "stat.csv"
    args = ["sipp", "-sf", str(scenario), f"127.0.0.1:{port}", "-m", str(calls),
            "-r", f"{rate:.2f}", "-l", str(limit), "-p", str(free_udp_port()),
            "-mp", str(caller_media_port()), "-i", "127.0.0.1", "-nostdin", "-timeout", "300s",
            "-trace_stat", "-stf", str(stat), "-fd", "1", "-trace_err",
            "-error_file", str(workdir / "sipp_errors.log"), "-set", "ticket", "X-No-Ticket: 1",
            "-set", "agent", "X-No-Agent: 1", "-set", "extra", "X-Extra: none"]
    proc = subprocess.Popen(args, cwd=workdir, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    _pid, _status, usage = os.wait4(proc.pid, 0)
    proc.returncode = 0
    rows = [line.split(";") for line in stat.read_text().splitlines()]
    head, last = rows[0], rows[-1]
    col = {name: i for i, name in enumerate(head)}
    peak = max(int(r[col["CurrentCall"]]) for r in rows[1:])
    ok = int(last[col["SuccessfulCall(C)"]])
    failed = int(last[col["FailedCall(C)"]])
    placed = int(last[col["TotalCallCreated"]])
    return placed, ok, failed, peak, usage.ru_utime + usage.ru_stime


async def run_level(level: Level, pool: IvrPool, port: int, front: KamailioProcess | None,
                    client: redis.Redis, workdir: Path, hold_s: float, rounds: int,
                    idle_s: float) -> Level:
    pids = pool.pids()
    front_pids = session_pids(front.proc.pid) if front else []
    # idle
    await asyncio.sleep(3.0)  # start-up done (prompts rendered, first pings answered)
    before = {n: cpu_seconds(p) for n, p in pids.items()}
    switches = {n: main_switches(p) for n, p in pids.items()}
    await asyncio.sleep(idle_s)
    level.idle_cpu_pct = 100 * sum(cpu_seconds(p) - before[n] for n, p in pids.items()) / idle_s
    level.idle_wakeups_s = sum(main_switches(p) - switches[n] for n, p in pids.items()) / (
        idle_s * max(1, len(pids)))
    level.idle_rss_mb = sum(rss_mb(p) for p in pids.values())
    # load
    client.delete("{hcp}:ivr:calls")
    scenario = proxied_scenario([("pause", int(hold_s * 1000)), ("key", "1"),
                                 ("wait_bye", 30000)], workdir)
    calls = level.limit * rounds
    rate = max(1.0, 1.5 * level.limit / hold_s)
    peak_rss = {n: rss_mb(p) for n, p in pids.items()}
    before = {n: cpu_seconds(p) for n, p in pids.items()}
    front_before = sum(cpu_seconds(p) for p in front_pids)
    load0 = os.getloadavg()[0]
    started = time.monotonic()
    sipp = asyncio.create_task(asyncio.to_thread(run_sipp, scenario, port, workdir,
                                                 level.limit, calls, rate))
    while not sipp.done():
        for n, p in pids.items():
            peak_rss[n] = max(peak_rss[n], rss_mb(p))
        await asyncio.wait([sipp], timeout=1.0)
    level.placed, level.ok, level.failed, level.peak_calls, sipp_cpu = sipp.result()
    level.wall_s = time.monotonic() - started
    level.load = f"{load0:.2f}->{os.getloadavg()[0]:.2f}"
    level.worker_cpu_pct = [100 * (cpu_seconds(p) - before[n]) / level.wall_s
                            for n, p in pids.items()]
    level.worker_rss_mb = list(peak_rss.values())
    level.front_cpu_pct = 100 * (sum(cpu_seconds(p) for p in front_pids)
                                 - front_before) / level.wall_s
    level.sipp_cpu_pct = 100 * sipp_cpu / level.wall_s
    await asyncio.sleep(1.0)  # the last summaries
    level.captured, level.rated = capture(client)
    level.p50_ms, level.p95_ms = histogram_quantiles(
        [(s.metrics_port, s.name) for s in pool.config.workers()])
    return level


async def with_pool(count: int, redis_url: str, data: Path, workdir: Path, direct: bool,
                    args) -> Level:
    config = pool_config(count, flow=FLOW, rtp_range=20, drain_s=30.0, poll_s=5.0,
                         extra_args=("--max-call-seconds", "120"))
    pool = IvrPool(config, redis_url, data, phone_secret="bench-secret-0123456789",
                   log_dir=workdir / "logs", ready_timeout_s=300)
    client = redis.Redis.from_url(redis_url)
    front = None
    t0 = time.monotonic()
    await pool.start()
    start_s = time.monotonic() - t0
    try:
        if direct:
            port = config.sip_port
            level = Level("direct (no front)", count, 4 * count)
        else:
            fport = front_port()
            cfg, _ = write_front(config, workdir / "front",
                                 FrontSettings(listen=f"127.0.0.1:{fport}", ping_interval_s=5))
            front = KamailioProcess(cfg, workdir / "front" / "run", workdir / "kamailio.log",
                                    f"127.0.0.1:{fport}")
            front.start()
            port = fport
            level = Level(f"via kamailio{args.tag}", count, 4 * count)
        print(f"  {count} worker(s) started and answering OPTIONS in {start_s:.1f} s",
              flush=True)
        return await run_level(level, pool, port, front, client, workdir, args.hold,
                               args.rounds, args.idle)
    finally:
        if front is not None:
            front.stop()
        await pool.stop()
        client.close()


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--levels", default="2,5,10,20,30,40,50",
                        help="pool sizes (workers) to try, 4 calls each")
    parser.add_argument("--hold", type=float, default=8.0, help="seconds before the key")
    parser.add_argument("--rounds", type=int, default=2, help="calls per slot")
    parser.add_argument("--idle", type=float, default=5.0, help="idle window, seconds")
    parser.add_argument("--keep", metavar="DIR", default=None,
                        help="work in DIR and keep it (worker and Kamailio logs)")
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--go-on", action="store_true",
                        help="try every level even after one lost a call")
    parser.add_argument("--before", metavar="DIR", default=None,
                        help="also run each level with the workers' code from checkout DIR")
    args = parser.parse_args()
    args.tag = ""
    levels = [int(n) for n in args.levels.split(",")]
    with tempfile.TemporaryDirectory(prefix="ivr-bench-") as tmp:
        tmp = Path(args.keep) if args.keep else Path(tmp)
        tmp.mkdir(parents=True, exist_ok=True)
        server = RedisServer(tmp / "redis").start()
        data = tmp / "data"
        print(f"IVR pool load, {os.cpu_count()} cores (shared), hold {args.hold:g} s, "
              f"{args.rounds} rounds per level; load average "
              f"{os.getloadavg()[0]:.1f} at start", flush=True)
        results = []
        try:
            base = Level("no baseline", 1, 4)
            if not args.no_baseline:
                work = tmp / "direct"
                work.mkdir()
                base = await with_pool(1, server.url, data, work, True, args)
                print(base.line(), flush=True)
            for count in levels:
                if args.before:
                    work = tmp / f"before-{count}"
                    work.mkdir()
                    ivr_pool.REPO, args.tag = Path(args.before).resolve(), " (before)"
                    try:
                        level = await with_pool(count, server.url, data, work, False, args)
                    finally:
                        ivr_pool.REPO, args.tag = REPO, ""
                    print(level.line(), flush=True)
                work = tmp / f"pool-{count}"
                work.mkdir()
                level = await with_pool(count, server.url, data, work, False, args)
                results.append(level)
                print(level.line(), flush=True)
                if (level.failed or level.capture_pct < 100.0) and not args.go_on:
                    print(f"  stop: {level.failed} failed call(s), "
                          f"{level.capture_pct:.1f} % digits", flush=True)
                    break
        finally:
            server.stop()
    good = [r for r in results if not r.failed and r.capture_pct >= 100.0]
    if good:
        best = good[-1]
        print(f"largest level with 100 % capture: {best.workers} workers, "
              f"{best.peak_calls} concurrent calls held, {best.cps:.2f} calls/s")
        if base.cpu_ms_per_call and best.cpu_ms_per_call:
            print(f"ratio worker cpu per call pool/direct "
                  f"{best.cpu_ms_per_call / base.cpu_ms_per_call:.2f}")
        if base.p50_ms and best.p50_ms:
            print(f"ratio keypress->prompt p50 pool/direct {best.p50_ms / base.p50_ms:.2f}, "
                  f"p95 {best.p95_ms / base.p95_ms:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
