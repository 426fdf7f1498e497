"""A wrong Redis password stops ``hcp serve`` at once, with one line that says so.

redis-py's AuthenticationError is a ConnectionError: the start's wait for a Redis
that is still starting, and the pool's retry on broken connections, used to retry
it too (~45 s before the start failed, with a generic traceback). A refusal is a
configuration error, not an outage.
"""

from __future__ import annotations

import time

import pytest
from redis.exceptions import AuthenticationError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from adapters.redis_server import RedisServer
from gateway import redis_connect
from tests.gateway.process import GatewayProcess

pytestmark = pytest.mark.xdist_group("realtime")

PASSWORD = "right-redis-pw-0123456789"


@pytest.fixture
def locked_redis(tmp_path):
    server = RedisServer(tmp_path / "redis", aof=False, password=PASSWORD).start()
    yield server
    server.stop()


async def test_hcp_serve_refuses_a_wrong_password_at_once(tmp_path, locked_redis):
    gw = GatewayProcess(tmp_path / "gw", {
        "HCP_REDIS_URL": f"redis://:wrong-password-0123@127.0.0.1:{locked_redis.port}/0"})
    started = time.monotonic()
    with pytest.raises(RuntimeError, match="exited with 1"):
        await gw.start(timeout=60)
    took = time.monotonic() - started
    events = [e for e in gw.events() if e.get("event") == "redis.refused"]
    assert len(events) == 1, gw.log_text()[-2000:]
    assert "***" in events[0]["url"] and "wrong-password" not in gw.log_text()
    assert took < 10, f"{took:.1f} s before the start gave up"  # the interpreter's start


async def test_no_password_is_a_refusal_too(tmp_path, locked_redis):
    gw = GatewayProcess(tmp_path / "gw", {
        "HCP_REDIS_URL": f"redis://127.0.0.1:{locked_redis.port}/0"})
    with pytest.raises(RuntimeError, match="exited with 1"):
        await gw.start(timeout=60)
    assert [e for e in gw.events() if e.get("event") == "redis.refused"], gw.log_text()[-2000:]


async def test_the_shared_client_does_not_retry_a_refusal(locked_redis):
    wrong = f"redis://:nope-0123456789@127.0.0.1:{locked_redis.port}/0"
    client = redis_connect.async_client(wrong, max_connections=4,  # as gateway.serve
                                        retry=redis_connect.retry_policy(3),
                                        retry_on_error=[RedisConnectionError, RedisTimeoutError])
    started = time.monotonic()
    try:
        with pytest.raises(AuthenticationError):
            await client.ping()
    finally:
        await redis_connect.close_async(client)
    assert time.monotonic() - started < 0.25  # retried with backoff: ~0.7 s
    right = redis_connect.async_client(locked_redis.url, max_connections=4,
                                       retry=redis_connect.retry_policy(3))
    try:
        assert await right.ping()
    finally:
        await redis_connect.close_async(right)
