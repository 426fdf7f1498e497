"""kill -9 of ``hcp serve`` mid-submission: nothing lost, nothing doubled.

The gateway dies while records are in flight (the store holds some answers back).
Its private redis-server gets SIGTERM from the kernel (PR_SET_PDEATHSIG), flushes
its AOF and exits. The next start opens the same data; the entries the dead
process held are claimed after ``claim_idle_s``, and every accepted evaluation
ends up at the store exactly once.
"""

from __future__ import annotations

import asyncio
import signal

import aiohttp

from tests.gateway.process import GatewayProcess, pid_alive
from tests.gateway.test_serve_e2e import post, status_of
from tests.support.corestore import DEFAULT_SECRET, LoopbackCoreStore

N = 200


async def test_kill9_then_restart_submits_everything_once(tmp_path):
    async with LoopbackCoreStore() as store:
        gw = GatewayProcess(tmp_path, {
            "HCP_CORE_URL": store.url, "HCP_CORE_HMAC_SECRET": DEFAULT_SECRET.decode(),
            "HCP_SUBMIT_CLAIM_IDLE_S": "1", "HCP_SUBMIT_CONCURRENCY": "16"})
        try:
            await gw.start()
            old_redis = gw.redis_pid()
            store.slow_next(N, seconds=0.3, after_store=True)  # stored, answered late
            async with aiohttp.ClientSession() as session:
                limit = asyncio.Semaphore(20)

                async def one(i):
                    async with limit:
                        code, body = await post(session, gw, {
                            "target": {"kind": "item", "id": f"K-{i}"}, "grade": "satisfied"})
                        assert code == 201
                        return body["id"]

                ids = await asyncio.gather(*(one(i) for i in range(N)))
                loop = asyncio.get_running_loop()
                deadline = loop.time() + 20
                while len(store.records) < 20 and loop.time() < deadline:
                    await asyncio.sleep(0.01)
            in_flight_at_kill = len(store.records)
            assert 0 < in_flight_at_kill < N  # killed mid-way

            gw.proc.send_signal(signal.SIGKILL)
            gw.proc.wait()
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 10
            while pid_alive(old_redis) and loop.time() < deadline:
                await asyncio.sleep(0.02)
            assert not pid_alive(old_redis)  # went down with the gateway

            store.clear_faults()
            await gw.start()
            assert gw.redis_pid() != old_redis

            async with aiohttp.ClientSession() as session:
                loop = asyncio.get_running_loop()
                deadline = loop.time() + 30
                pending = set(ids)
                while pending and loop.time() < deadline:
                    for ev_id in list(pending):
                        if (await status_of(session, gw, ev_id))["status"] == "submitted":
                            pending.discard(ev_id)
                    await asyncio.sleep(0.1)
                assert not pending, f"{len(pending)} never submitted"
            assert await gw.stop() == 0
        finally:
            gw.kill()
        expected = {f"{ev_id}:K-{i}" for i, ev_id in enumerate(ids)}
        assert set(store.records) == expected  # all there, nothing extra: once each
        print(f"kill -9 with {in_flight_at_kill}/{N} stored; re-sent and answered "
              f"duplicate: {sum(store.duplicates.values())}")
