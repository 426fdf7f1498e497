"""The private Redis: data reused across starts; a leftover server is stopped first."""

from __future__ import annotations

import redis

from adapters.redis_server import RedisServer
from gateway.private_redis import PID_FILE, PrivateRedis
from tests.gateway.process import pid_alive


async def test_data_survives_a_restart(tmp_path):
    first = PrivateRedis(tmp_path)
    await first.start()
    redis.Redis.from_url(first.url).set("k", "v")
    await first.stop()
    assert not (tmp_path / PID_FILE).exists()
    again = PrivateRedis(tmp_path)
    await again.start()
    try:
        assert redis.Redis.from_url(again.url).get("k") == b"v"
    finally:
        await again.stop()


async def test_a_leftover_server_on_the_same_data_is_stopped_first(tmp_path):
    leftover = RedisServer(tmp_path).start()  # as if a crashed gateway had left it
    redis.Redis.from_url(leftover.url).set("k", "kept")
    (tmp_path / PID_FILE).write_text(f"{leftover.proc.pid}\n")
    private = PrivateRedis(tmp_path)
    try:
        await private.start()
        assert leftover.proc.wait(5) == 0  # stopped with SIGTERM: AOF flushed
        assert redis.Redis.from_url(private.url).get("k") == b"kept"
        assert int((tmp_path / PID_FILE).read_text()) == private.pid
    finally:
        await private.stop()
        leftover.stop()


async def test_a_stale_pid_file_of_another_process_is_ignored(tmp_path):
    (tmp_path / PID_FILE).write_text("1\n")  # pid 1 is not a redis-server
    private = PrivateRedis(tmp_path)
    await private.start()
    try:
        assert pid_alive(1) and private.pid != 1
    finally:
        await private.stop()
