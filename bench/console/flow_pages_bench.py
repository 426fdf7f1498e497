"""Rating intake latency while supervisors load flow pages (issue 13).

A real ``hcp serve`` (console on, no demo data) with a loopback core store process;
``--clients`` signed-in supervisors load the flow list, a flow page (diagram, issues,
history) and the simulator page in a loop, while one client posts evaluations
(``POST /v1/evaluations``) one after the other and times each answer. The same
run without page load gives the idle baseline. ``--root DIR`` runs the gateway from
another checkout (``git archive <commit> | tar -x -C DIR``) for a before/after.

Run: .venv/bin/python bench/console/flow_pages_bench.py [--seconds 15] [--clients 4]
     [--root /tmp/before]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402

from adapters.redis_server import free_port  # noqa: E402
from console.auth import hash_password  # noqa: E402
from tests.support.corestore import DEFAULT_SECRET, CoreStoreProcess  # noqa: E402

HCP = Path(sys.executable).parent / "hcp"
TOKEN = "bench-token-0123456789abcdef"
PASSWORD = "bench-password-1"
PAGES = ("/console/flows", "/console/flows/hotline-rating",
         "/console/flows/sms-reminder", "/console/flows/hotline-rating/simulate")


def start_gateway(workdir: Path, root: Path, store_url: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HCP_")}
    env.update({"HCP_DATA_DIR": str(workdir / "data"), "HCP_HTTP_PORT": str(port),
                "HCP_HTTP_TOKENS": TOKEN, "HCP_CORE_URL": store_url,
                "HCP_CORE_HMAC_SECRET": DEFAULT_SECRET.decode(), "HCP_CORE_PF_API": "1",
                "HCP_CONSOLE_ENABLED": "1",
                "HCP_CONSOLE_USERS": f"sup:supervisor:{hash_password(PASSWORD)}",
                "PYTHONPATH": str(root)})
    log = (workdir / "gateway.log").open("ab")
    proc = subprocess.Popen([str(HCP), "serve"], cwd=workdir, env=env, stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=1):
                return proc, base
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("gateway not ready")


async def signed_in(base: str) -> aiohttp.ClientSession:
    session = aiohttp.ClientSession(base_url=base, cookie_jar=aiohttp.CookieJar(unsafe=True))
    async with session.get("/console/signin") as resp:
        pre = re.search(r'name="_pre" value="([^"]+)"', await resp.text()).group(1)
    async with session.post("/console/signin", allow_redirects=False,
                            data={"_pre": pre, "user": "sup", "password": PASSWORD}) as resp:
        assert resp.status == 303, resp.status
    return session


async def load_pages(session, stop: asyncio.Event, counts: list[int]) -> None:
    i = 0
    while not stop.is_set():
        async with session.get(PAGES[i % len(PAGES)]) as resp:
            await resp.read()
            assert resp.status == 200, resp.status
        counts[0] += 1
        i += 1


async def intake(base: str, seconds: float, phase: str) -> list[float]:
    times = []
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with aiohttp.ClientSession(base_url=base, headers=headers) as http:
        end = time.monotonic() + seconds
        n = 0
        while time.monotonic() < end:
            body = {"target": {"kind": "item", "id": f"BENCH-{phase}-{n:06d}"},
                    "grade": "satisfied", "channel": "api"}
            started = time.perf_counter()
            async with http.post("/v1/evaluations", json=body) as resp:
                await resp.read()
                assert resp.status in (200, 201, 202), resp.status
            times.append((time.perf_counter() - started) * 1000)
            n += 1
            await asyncio.sleep(0.02)
    return times


def figures(times: list[float]) -> dict:
    q = statistics.quantiles(times, n=100, method="inclusive")
    return {"n": len(times), "p50_ms": round(q[49], 1), "p95_ms": round(q[94], 1),
            "max_ms": round(max(times), 1)}


async def run(base: str, seconds: float, clients: int) -> dict:
    idle = figures(await intake(base, seconds / 2, "idle"))
    sessions = [await signed_in(base) for _ in range(clients)]
    stop, counts = asyncio.Event(), [0]
    loaders = [asyncio.create_task(load_pages(s, stop, counts)) for s in sessions]
    await asyncio.sleep(1)  # first loads (cold caches) out of the way
    started, before = time.monotonic(), counts[0]
    loaded = figures(await intake(base, seconds, "loaded"))
    pages_per_s = (counts[0] - before) / (time.monotonic() - started)
    stop.set()
    await asyncio.gather(*loaders)
    for s in sessions:
        await s.close()
    return {"idle": idle, f"{clients}_clients_on_flow_pages": loaded,
            "flow_pages_per_s": round(pages_per_s, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=15)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--root", type=Path, default=ROOT)
    args = ap.parse_args()
    store = CoreStoreProcess().start()
    with tempfile.TemporaryDirectory(prefix="flow-pages-bench-") as tmp:
        proc, base = start_gateway(Path(tmp), args.root.resolve(), store.url)
        try:
            out = asyncio.run(run(base, args.seconds, args.clients))
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
            store.stop()
    print(json.dumps({"root": str(args.root), **out}, indent=1))


if __name__ == "__main__":
    main()
