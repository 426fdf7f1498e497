"""End to end: ``hcp serve`` as a real process, a real Redis, a real core store.

* embedded defaults: private redis-server (AOF in the data dir) + local SQLite store
* HCP_REDIS_URL (the tests' redis-server) + HCP_CORE_URL (the loopback core store)
"""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
import subprocess

import aiohttp
import pytest

from tests.gateway.process import HCP, GatewayProcess, pid_alive
from tests.support.corestore import DEFAULT_SECRET, LoopbackCoreStore

PHONE = "13812345678"


def ev(item: str, **changes) -> dict:
    body = {"target": {"kind": "item", "id": item}, "grade": "satisfied", "phone": PHONE,
            "channel": "api"}
    body.update(changes)
    return body


async def post(session, gw, body, headers=None):
    async with session.post(f"{gw.base_url}/v1/evaluations", json=body,
                            headers=gw.auth if headers is None else headers) as resp:
        return resp.status, await resp.json()


async def status_of(session, gw, ev_id):
    async with session.get(f"{gw.base_url}/v1/evaluations/{ev_id}", headers=gw.auth) as resp:
        assert resp.status == 200
        return await resp.json()


async def wait_status(session, gw, ev_id, wanted, timeout=20.0):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        status = await status_of(session, gw, ev_id)
        if status["status"] == wanted:
            return status
        if loop.time() > deadline:
            raise AssertionError(f"{ev_id} still {status} after {timeout} s")
        await asyncio.sleep(0.05)


def local_records(data_dir) -> dict[str, dict]:
    conn = sqlite3.connect(f"file:{data_dir / 'core-store.sqlite3'}?mode=ro", uri=True)
    try:
        rows = conn.execute("SELECT idempotency_key, payload FROM records").fetchall()
    finally:
        conn.close()
    return {key: json.loads(payload) for key, payload in rows}


async def test_embedded_defaults_end_to_end_and_restart(served_gateway):
    gw = await served_gateway().start()
    redis_pid = gw.redis_pid()
    assert redis_pid and pid_alive(redis_pid)
    async with aiohttp.ClientSession() as session:
        # accepted, submitted to the local SQLite store, one record per item
        code, item = await post(session, gw, ev("GD-1"))
        assert code == 201
        code, batch = await post(session, gw, ev(
            "B-1", target={"kind": "batch", "id": "B-1", "items": ["GD-2", "GD-3"]},
            grade="very_dissatisfied", reasons=["efficiency"], channel="sms"))
        assert code == 201
        code, staff = await post(session, gw, ev(
            "V-1", target={"kind": "staff", "id": "V-1", "staff_id": "S-9"}))
        assert code == 201
        for created in (item, batch, staff):
            done = await wait_status(session, gw, created["id"], "submitted")
            assert done["attempts"] >= 1
        records = local_records(gw.data_dir)
        assert set(records) == {f"{item['id']}:GD-1", f"{batch['id']}:GD-2",
                                f"{batch['id']}:GD-3", f"{staff['id']}:V-1"}
        assert records[f"{batch['id']}:GD-2"]["satisfaction"] == 1
        assert records[f"{batch['id']}:GD-2"]["pf"] == 7  # SMS
        assert "mobile" not in records[f"{item['id']}:GD-1"]

        # a duplicate, an item of the rated batch, refusals, no token
        code, dup = await post(session, gw, ev("GD-1", grade="very_satisfied"))
        assert code == 409 and dup["error"] == "already_evaluated" and dup["id"] == item["id"]
        code, _ = await post(session, gw, ev("GD-3"))
        assert code == 409
        assert (await post(session, gw, ev("X", grade="meh")))[0] == 400
        assert (await post(session, gw, ev("X", phone="12")))[1]["field"] == "phone"
        assert (await post(session, gw, ev("X"), headers={}))[0] == 401
        async with session.post(f"{gw.base_url}/v1/evaluations", data=b"x" * 70000,
                                headers=gw.auth) as resp:
            assert resp.status == 413

        async with session.get(f"{gw.base_url}/readyz") as resp:
            assert resp.status == 200
        async with session.get(f"{gw.base_url}/metrics") as resp:
            metrics = await resp.text()
        assert 'hcp_intake_accepted_total{channel="api"} 2.0' in metrics
        assert 'hcp_intake_refused_total{channel="api",reason="already_evaluated"} 2.0' \
            in metrics
        assert 'hcp_submitter_outcomes_total{outcome="submitted"} 3.0' in metrics
        assert "hcp_outbox_depth 0.0" in metrics

    # SIGTERM: clean exit, the private Redis is gone with it
    assert await gw.stop(signal.SIGTERM) == 0
    assert not pid_alive(redis_pid) and gw.redis_pid() is None
    events = [e["event"] for e in gw.events()]
    assert events[-1] == "gateway.stopped" and "gateway.signal" in events
    assert all(line.startswith("{") for line in gw.log_text().splitlines())
    assert PHONE not in gw.log_text() and PHONE[-8:] not in gw.log_text()

    # restart on the same data: same token, a duplicate stays a duplicate
    token = gw.token
    await gw.start()
    assert gw.token == token and gw.redis_pid() != redis_pid
    async with aiohttp.ClientSession() as session:
        code, dup = await post(session, gw, ev("GD-1"))
        assert code == 409 and dup["id"] == item["id"]
        assert (await status_of(session, gw, item["id"]))["status"] == "submitted"
        code, fresh = await post(session, gw, ev("GD-4"))
        assert code == 201
        await wait_status(session, gw, fresh["id"], "submitted")
    assert await gw.stop(signal.SIGINT) == 0
    assert len(local_records(gw.data_dir)) == 5


async def test_external_redis_and_loopback_core_store(served_gateway, redis_url):
    async with LoopbackCoreStore() as store:
        gw = await served_gateway(HCP_REDIS_URL=redis_url, HCP_CORE_URL=store.url,
                           HCP_CORE_HMAC_SECRET=DEFAULT_SECRET.decode(),
                           HCP_HTTP_TOKENS="e2e-token-0123456789").start()
        assert gw.redis_pid() is None and not (gw.data_dir / "redis").exists()
        assert not (gw.data_dir / "secrets" / "api_token").exists()  # configured: none made
        gw_auth = {"Authorization": "Bearer e2e-token-0123456789"}
        async with aiohttp.ClientSession() as session:
            store.fail_next(3, status=503)  # the first tries fail: retried, not lost
            code, first = await post(session, gw, ev("P-1"), headers=gw_auth)
            assert code == 201
            store.reject_key("P-bad", reason="projectNo unknown")
            code, bad = await post(session, gw, ev("P-bad"), headers=gw_auth)
            assert code == 201

            done = await wait_status(session, gw, first["id"], "submitted")
            assert done["attempts"] >= 2
            assert set(store.records) >= {f"{first['id']}:P-1"}
            dead = await wait_status(session, gw, bad["id"], "dead")
            assert "projectNo unknown" in (dead["last_error"] or "")
            assert f"{bad['id']}:P-bad" not in store.records
            async with session.get(f"{gw.base_url}/readyz") as resp:
                assert (await resp.json())["checks"] == {"redis": "ok", "store": "ok"}
        assert await gw.stop() == 0
        # the store saw the record once; the phone number never left the gateway
        assert sum(store.duplicates.values()) == 0
        assert PHONE not in json.dumps(store.records)


async def test_sigterm_drains_an_in_flight_submission(served_gateway, redis_url):
    async with LoopbackCoreStore() as store:
        env = dict(HCP_REDIS_URL=redis_url, HCP_CORE_URL=store.url,
                   HCP_CORE_HMAC_SECRET=DEFAULT_SECRET.decode())
        gw = await served_gateway(**env).start()
        store.slow_next(1, seconds=1.5, after_store=True)
        async with aiohttp.ClientSession() as session:
            code, created = await post(session, gw, ev("SLOW-1"))
            assert code == 201
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 10
            while store.requests == 0 and loop.time() < deadline:
                await asyncio.sleep(0.01)
            assert store.requests == 1  # the slow request is in flight now
        assert await gw.stop(signal.SIGTERM) == 0
        drained = [e for e in gw.events() if e.get("event") == "submitter.drained"]
        assert drained and drained[0]["in_flight_at_stop"] == 1
        assert drained[0]["left_pending"] == 0

        # finished before exit: the next start finds it submitted and sends nothing again
        await gw.start()
        async with aiohttp.ClientSession() as session:
            status = await status_of(session, gw, created["id"])
        assert status["status"] == "submitted"
        assert await gw.stop() == 0
        assert store.requests == 1 and sum(store.duplicates.values()) == 0


@pytest.mark.parametrize("env, setting", [
    ({"HCP_HTTP_PORT": "http"}, "http.port"),
    ({"HCP_CORE_URL": "http://127.0.0.1:9/x"}, "core.hmac_secret"),
    ({"HCP_FOLLOW_UP_WINDOW": "soon"}, "intake.follow_up_window"),
])
def test_config_error_exits_2_and_names_the_setting(tmp_path, env, setting):
    gw = GatewayProcess(tmp_path, env)
    result = subprocess.run([str(HCP), "serve"], cwd=tmp_path, env=gw.env(),
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert f"setting {setting}" in result.stderr
    assert not gw.data_dir.exists()  # nothing started, nothing written


def test_port_taken_exits_1_and_starts_nothing(tmp_path):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        gw = GatewayProcess(tmp_path, {"HCP_HTTP_PORT": str(taken.getsockname()[1])})
        result = subprocess.run([str(HCP), "serve"], cwd=tmp_path, env=gw.env(),
                                capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    [line] = [json.loads(line) for line in result.stderr.splitlines()]
    assert line["event"] == "gateway.port_in_use" and "HCP_HTTP_PORT" in line["error"]
    assert gw.redis_pid() is None  # found before the private Redis was started
    assert not (gw.data_dir / "redis").exists()


async def test_drain_timeout_leaves_the_rest_for_the_next_start(served_gateway, redis_url):
    async with LoopbackCoreStore() as store:
        env = dict(HCP_REDIS_URL=redis_url, HCP_CORE_URL=store.url,
                   HCP_CORE_HMAC_SECRET=DEFAULT_SECRET.decode(),
                   HCP_DRAIN_TIMEOUT_S="0.5", HCP_SUBMIT_CLAIM_IDLE_S="1")
        gw = await served_gateway(**env).start()
        store.slow_next(1, seconds=8, after_store=False)  # answers long after the drain
        async with aiohttp.ClientSession() as session:
            code, created = await post(session, gw, ev("LATE-1"))
            assert code == 201
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 10
            while store.requests == 0 and loop.time() < deadline:
                await asyncio.sleep(0.01)
        assert await gw.stop(signal.SIGTERM) == 0
        # exited without the answer: the slow request stores only after its sleep
        assert store.records == {}

        await gw.start()  # the entry was left pending: claimed and submitted now
        async with aiohttp.ClientSession() as session:
            await wait_status(session, gw, created["id"], "submitted")
        assert await gw.stop() == 0
        assert list(store.records) == [f"{created['id']}:LATE-1"]
