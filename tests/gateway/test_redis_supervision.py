"""The private Redis is supervised (gateway.private_redis), against real processes.

In process: a real redis-server killed with SIGKILL comes back on the same port with
its data, and the supervisor gives up (sets ``problem``) when restarts keep failing
(the port taken) or the server keeps dying. Served: ``hcp serve`` keeps taking
evaluations through a kill -9 of its redis-server, every 201 reaches the local
SQLite store exactly once, and /healthz turns 503 when the redis-server can no
longer start (a ``redis-server`` on PATH that refuses to run).
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
from collections import Counter
from datetime import datetime

import aiohttp
import jsonschema
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

from adapters.redis_server import redis_server_binary
from gateway.private_redis import PID_FILE, PrivateRedis
from tests.gateway.process import GatewayProcess, pid_alive
from tests.gateway.test_openapi_full import response_schema
from tests.gateway.test_serve_e2e import local_records, status_of


async def _until(predicate, timeout: float, what: str):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        await asyncio.sleep(0.02)


def _client(url: str) -> aioredis.Redis:
    """As the gateway's pool: a command on a broken connection is retried on a new one."""
    return aioredis.Redis.from_url(url, retry=Retry(ExponentialBackoff(cap=1.0, base=0.05), 3),
                                   retry_on_error=[RedisConnectionError])


async def test_a_killed_server_comes_back_on_the_same_port_with_its_data(tmp_path):
    private = PrivateRedis(tmp_path)
    await private.start()
    client = _client(private.url)
    try:
        await client.set("k", "v")
        port, old = private.server.port, private.pid
        os.kill(old, signal.SIGKILL)
        await _until(lambda: private.restarts == 1, 10, "restarted")
        assert private.server.port == port and private.pid != old
        assert int((tmp_path / PID_FILE).read_text()) == private.pid
        assert await client.get("k") == b"v"  # the same client, the same AOF
        assert private.problem is None
    finally:
        await client.aclose()
        await private.stop()
    assert not (tmp_path / PID_FILE).exists()


async def test_it_gives_up_when_restarts_keep_failing(tmp_path):
    private = PrivateRedis(tmp_path, max_failures=3, backoff_s=0.05, stable_s=0)
    await private.start()
    proc = private.server.proc
    squatter = socket.socket()
    try:
        # no await between the kill and the bind: the supervisor (on this loop)
        # cannot restart in between, so every restart finds the port taken
        proc.send_signal(signal.SIGKILL)
        proc.wait(5)
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("127.0.0.1", private.server.port))
        squatter.listen()
        await _until(lambda: private.problem is not None, 30, "gave up")
        assert "gave up after 3 failed restarts" in private.problem
        assert private.restarts == 0
    finally:
        squatter.close()
        await private.stop()


async def test_it_gives_up_when_the_server_keeps_dying(tmp_path):
    private = PrivateRedis(tmp_path, max_failures=3, backoff_s=0.05, stable_s=60)
    await private.start()
    try:
        for restarted in (1, 2):
            os.kill(private.pid, signal.SIGKILL)
            await _until(lambda n=restarted: private.restarts == n, 10, f"restart {restarted}")
        os.kill(private.pid, signal.SIGKILL)  # the third death within stable_s
        await _until(lambda: private.problem is not None, 10, "gave up")
        assert private.restarts == 2
    finally:
        await private.stop()


# -- served: hcp serve with its private Redis and the local SQLite store -----------

MAX_POSTS = 3000  # bounds of the load loop (loopback only)
MAX_SECONDS = 40.0
CONCURRENCY = 8
KILL_AFTER = 100  # 201s before the kill
AFTER_RECOVERY = 300  # 201s to see after the first post-kill 201


async def _post(session, gw, item: str) -> int:
    body = {"target": {"kind": "item", "id": item}, "grade": "satisfied"}
    try:
        async with session.post(f"{gw.base_url}/v1/evaluations", json=body,
                                headers=gw.auth) as resp:
            answer = await resp.json()
            return resp.status, answer.get("id")
    except (aiohttp.ClientError, asyncio.TimeoutError):
        return 0, None


async def test_intake_survives_a_kill_9_of_the_private_redis(tmp_path):
    gw = GatewayProcess(tmp_path, {"HCP_SUBMIT_CLAIM_IDLE_S": "1"})
    try:
        await gw.start()
        old_redis = gw.redis_pid()
        loop = asyncio.get_running_loop()
        accepted: dict[str, str] = {}  # evaluation id -> item
        answers = Counter()
        killed_at: float | None = None
        recovered_at: float | None = None
        after_recovery = 0
        started = loop.time()
        numbers = iter(range(MAX_POSTS))

        async def client():
            nonlocal killed_at, recovered_at, after_recovery
            async with aiohttp.ClientSession(
                    timeout=aiohttp.ClientTimeout(total=15)) as session:
                for i in numbers:
                    if loop.time() - started > MAX_SECONDS or after_recovery >= AFTER_RECOVERY:
                        return
                    sent_at = loop.time()
                    item = f"SUP-{i}"
                    code, ev_id = await _post(session, gw, item)
                    answers[code] += 1
                    if code != 201:
                        continue
                    accepted[ev_id] = item
                    if killed_at is None and len(accepted) >= KILL_AFTER:
                        killed_at = loop.time()
                        os.kill(old_redis, signal.SIGKILL)
                    elif killed_at is not None and sent_at > killed_at:
                        if recovered_at is None:
                            recovered_at = loop.time()
                        after_recovery += 1

        await asyncio.gather(*(client() for _ in range(CONCURRENCY)))
        assert killed_at is not None, answers
        assert recovered_at is not None, f"no 201 after the kill: {answers}"
        recovery_s = recovered_at - killed_at
        assert recovery_s < 10, recovery_s  # the bound

        events = gw.events()
        died = [e for e in events if e["event"] == "redis.private_died"]
        restarted = [e for e in events if e["event"] == "redis.private_restarted"]
        assert [e["pid"] for e in died] == [old_redis]
        assert len(restarted) == 1 and restarted[0]["pid"] == gw.redis_pid() != old_redis

        async with aiohttp.ClientSession() as session:  # the drain: all submitted
            pending = set(accepted)
            deadline = loop.time() + 60
            while pending and loop.time() < deadline:
                for ev_id in list(pending):
                    if (await status_of(session, gw, ev_id))["status"] == "submitted":
                        pending.discard(ev_id)
                await asyncio.sleep(0.1)
            assert not pending, f"{len(pending)} of {len(accepted)} never submitted"
            async with session.get(f"{gw.base_url}/metrics") as resp:
                outcomes = {line.split('"')[1]: float(line.rsplit(" ", 1)[1])
                            for line in (await resp.text()).splitlines()
                            if line.startswith("hcp_submitter_outcomes_total{")}

        # the restarted server was started from the loop's thread: it still dies
        # with the gateway (PR_SET_PDEATHSIG)
        new_redis = gw.redis_pid()
        gw.proc.send_signal(signal.SIGKILL)
        gw.proc.wait()
        await _until(lambda: not pid_alive(new_redis), 10, "restarted redis down with the gateway")

        await gw.start()  # the same data again, then a clean stop
        assert await gw.stop() == 0
    finally:
        gw.kill()

    records = local_records(gw.data_dir)
    per_evaluation = Counter(key.split(":", 1)[0] for key in records)
    stored_once = [ev_id for ev_id in accepted if per_evaluation[ev_id] == 1]
    missing = [ev_id for ev_id in accepted if per_evaluation[ev_id] == 0]
    doubled = [ev_id for ev_id in accepted if per_evaluation[ev_id] > 1]
    assert not missing and not doubled, (len(missing), len(doubled))
    assert set(records) >= {f"{ev_id}:{item}" for ev_id, item in accepted.items()}
    unanswered_but_stored = len(set(per_evaluation) - set(accepted))
    print(f"\nkill -9 of the private redis-server after {KILL_AFTER} accepted: "
          f"intake 201 again {recovery_s:.3f} s after the kill (supervisor: down "
          f"{restarted[0]['down_s']} s); answers {dict(answers)}; 201s {len(accepted)}, "
          f"stored once {len(stored_once)}, missing {len(missing)}, doubled {len(doubled)}; "
          f"stored without a 201 (ambiguous answers) {unanswered_but_stored}; "
          f"submitter outcomes {outcomes}")


def _refusing_redis_server(folder) -> tuple[dict[str, str], object]:
    """A ``redis-server`` first on PATH that runs the real one until ``broken`` exists."""
    folder.mkdir(parents=True, exist_ok=True)
    broken = folder / "broken"
    script = folder / "redis-server"
    script.write_text(f'#!/bin/sh\n[ -e "{broken}" ] && exit 1\n'
                      f'exec "{redis_server_binary()}" "$@"\n')
    script.chmod(0o755)
    return {"PATH": f"{folder}:{os.environ.get('PATH', '')}"}, broken


async def test_healthz_fails_when_the_supervisor_gives_up(tmp_path):
    env, broken = _refusing_redis_server(tmp_path / "bin")
    gw = GatewayProcess(tmp_path, {**env, "HCP_DRAIN_TIMEOUT_S": "2"})
    try:
        await gw.start()
        async with aiohttp.ClientSession() as session:
            async def healthz():
                async with session.get(f"{gw.base_url}/healthz") as resp:
                    return resp.status, await resp.json()

            status, body = await healthz()
            assert status == 200
            jsonschema.validate(body, response_schema("/healthz", "get", 200))

            broken.touch()  # from now on redis-server cannot start
            os.kill(gw.redis_pid(), signal.SIGKILL)
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 60
            while (status := (await healthz())[0]) == 200 and loop.time() < deadline:
                await asyncio.sleep(0.1)
            status, body = await healthz()
            assert status == 503, body
            jsonschema.validate(body, response_schema("/healthz", "get", 503))
            assert "gave up" in body["reason"]
            async with session.get(f"{gw.base_url}/readyz") as resp:
                assert resp.status == 503
        logged = gw.events()
        events = [e["event"] for e in logged]
        assert events.count("redis.private_died") == 1
        assert events.count("redis.private_restart_failed") >= 1
        assert events.count("redis.private_gave_up") == 1
        assert "redis.private_restarted" not in events
        assert await gw.stop() == 0
        at = {e["event"]: datetime.fromisoformat(e["ts"]) for e in logged}
        print(f"\nredis-server unable to start: gave up after "
              f"{events.count('redis.private_restart_failed')} failed restarts, "
              f"{(at['redis.private_gave_up'] - at['redis.private_died']).total_seconds():.2f} s "
              f"after its death")
    finally:
        gw.kill()
