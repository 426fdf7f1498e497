"""``hcp serve`` on a ``redis+sentinel://`` URL: a primary, a replica, three sentinels.

The data nodes require a password (``requirepass``, ``masterauth``, the sentinels'
``auth-pass``); the URL carries it. The gateway finds the primary through the
sentinels (redis-py's Sentinel client),
accepts over HTTP, submits to the loopback exchange, and the ``hcp`` commands find
the same Redis (``python -m gateway.running`` names the primary as a plain URL).
"""

from __future__ import annotations

import asyncio
import subprocess
import sys

import aiohttp
import pytest
import redis

from gateway import redis_connect
from tests.gateway.process import ROOT

pytestmark = pytest.mark.xdist_group("realtime")

PASSWORD = "sentinel-data-pw-0123456789"  # requirepass/masterauth of the data nodes


async def wait_submitted(session, gw, ev_id: str, timeout: float = 20.0) -> dict:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        async with session.get(f"{gw.base_url}/v1/evaluations/{ev_id}",
                               headers=gw.auth) as resp:
            status = await resp.json()
        if status.get("status") == "submitted" or loop.time() > deadline:
            return status
        await asyncio.sleep(0.05)


async def test_hcp_serve_on_sentinel_accepts_and_submits(sentinel_set, served, store):
    sentinels = sentinel_set(replicas=1, password=PASSWORD)
    gw = await served(sentinels.url, HCP_CONSOLE_ENABLED="0",  # see below
                      HCP_LOG_LEVEL="INFO").start()
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        async with session.post(f"{gw.base_url}/v1/evaluations",
                                json={"target": {"kind": "item", "id": "SNT-1"},
                                      "grade": "satisfied"},
                                headers=dict(gw.auth, **{"Idempotency-Key": "snt-1"})) as resp:
            assert resp.status == 201, await resp.text()
            ev_id = (await resp.json())["id"]
        status = await wait_submitted(session, gw, ev_id)
        assert status["status"] == "submitted", status
        async with session.get(f"{gw.base_url}/readyz") as resp:
            assert resp.status == 200, await resp.text()
    assert any(key.startswith(f"{ev_id}:") for key in store.records), store.records
    # the rating is on the primary the sentinels name, and on its replica
    primary = sentinels.primary()
    assert primary.name == "primary"
    replica = sentinels.data[1].client()
    assert replica.info("replication")["role"] == "slave"
    assert primary.client().keys(f"*{ev_id}*") and replica.keys(f"*{ev_id}*")
    sync = redis_connect.sync_client(sentinels.url, socket_timeout=2)  # scripts' client
    try:
        assert sync.exists(f"{{hcp}}:ev:{ev_id}") == 1
    finally:
        sync.close()
    # an operator's command finds the primary as a plain URL
    done = subprocess.run([sys.executable, "-m", "gateway.running"], cwd=ROOT, env=gw.env(),
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"redis://:{PASSWORD}@127.0.0.1:{primary.port}/0"
    assert await gw.stop() == 0
    assert PASSWORD not in gw.log_text() and "***@" in gw.log_text()


async def test_the_console_on_a_sentinel_url(sentinel_set, served):
    sentinels = sentinel_set(replicas=1)
    gw = await served(sentinels.url).start()
    assert await gw.stop() == 0


def test_sentinel_url_forms():
    target = redis_connect.parse_sentinel_url(
        "rediss+sentinel://app:p%40ss@10.0.0.1:26380,10.0.0.2,[::1]:26381/hcp/2"
        "?sentinel_password=sp&ssl_ca_certs=/etc/ca.crt&socket_timeout=2")
    assert target.sentinels == (("10.0.0.1", 26380), ("10.0.0.2", 26379), ("::1", 26381))
    assert (target.service, target.db, target.ssl) == ("hcp", 2, True)
    assert (target.username, target.password, target.sentinel_password) == ("app", "p@ss", "sp")
    assert target.connection_kwargs() == {"db": 2, "username": "app", "password": "p@ss",
                                          "ssl": True, "ssl_ca_certs": "/etc/ca.crt",
                                          "socket_timeout": 2.0}
    assert target.sentinel_kwargs() == {"ssl": True, "password": "sp",
                                        "ssl_ca_certs": "/etc/ca.crt", "socket_timeout": 2.0}
    assert "p@ss" not in repr(target) and "sp" not in repr(target).replace("ssl", "")
    plain = redis_connect.parse_sentinel_url("redis+sentinel://h:26379/svc")
    assert (plain.db, plain.ssl, plain.password) == (0, False, None)
    for bad in ("redis+sentinel://h:26379", "redis+sentinel:///svc",
                "redis+sentinel://h:26379/svc/x", "redis+sentinel://:pw@h:nope/svc",
                "redis+sentinel://h/svc/0/extra"):
        with pytest.raises(ValueError) as caught:
            redis_connect.parse_sentinel_url(bad)
        assert "pw" not in str(caught.value)


def test_no_sentinel_answers_is_a_clear_refusal(tmp_path):
    from gateway.config import load
    from gateway.running import GatewayNotRunning, find

    from adapters.redis_server import free_port

    config = load(env={"HCP_REDIS_URL": f"redis+sentinel://:pw@127.0.0.1:{free_port()}/hcp"},
                  cwd=tmp_path)
    with pytest.raises(GatewayNotRunning, match="no sentinel .* names a primary") as caught:
        find(config)
    assert ":pw@" not in str(caught.value)
    with pytest.raises(redis.ConnectionError):
        redis_connect.current_primary(config.redis_url)
