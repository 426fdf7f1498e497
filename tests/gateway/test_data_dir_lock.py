"""One data directory, one gateway (gateway.data_dir_lock), against real processes.

A second ``hcp serve`` on a live gateway's data dir refuses, naming the first one's
pid, and touches nothing (the first's private Redis keeps running and intake keeps
answering); a redis-server left behind by a gateway that is gone is still stopped.
"""

from __future__ import annotations

import json
import os
import subprocess

import aiohttp
import pytest

from adapters.redis_server import RedisServer
from gateway.data_dir_lock import LOCK_FILE, DataDirLock, DataDirLocked
from gateway.private_redis import PID_FILE
from tests.gateway.process import HCP, GatewayProcess, pid_alive
from tests.gateway.test_serve_e2e import post, wait_status


def _dead_pid() -> int:
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def test_a_second_holder_is_refused_until_the_first_releases(tmp_path):
    first, second = DataDirLock(tmp_path), DataDirLock(tmp_path)
    first.acquire()
    try:
        assert (tmp_path / LOCK_FILE).read_text() == f"{os.getpid()}\n"
        with pytest.raises(DataDirLocked) as refused:
            second.acquire()  # flock is per open file: refused in the same process too
        assert refused.value.owner_pid == os.getpid()
        assert f"pid {os.getpid()}" in str(refused.value) and str(tmp_path) in str(refused.value)
    finally:
        first.release()
    assert (tmp_path / LOCK_FILE).read_text() == ""
    second.acquire()
    second.release()


def test_check_refuses_like_acquire_and_creates_nothing(tmp_path):
    DataDirLock(tmp_path).check()  # no lock file: nobody there
    assert not (tmp_path / LOCK_FILE).exists()
    owner = DataDirLock(tmp_path)
    owner.acquire()
    try:
        with pytest.raises(DataDirLocked, match=f"pid {os.getpid()}"):
            DataDirLock(tmp_path).check()
        assert (tmp_path / LOCK_FILE).read_text() == f"{os.getpid()}\n"
    finally:
        owner.release()
    DataDirLock(tmp_path).check()  # released: the probe passes and holds nothing
    owner.acquire()
    owner.release()


def test_a_lock_file_of_a_dead_owner_locks_nothing(tmp_path):
    (tmp_path / LOCK_FILE).write_text(f"{_dead_pid()}\n")
    lock = DataDirLock(tmp_path)
    lock.acquire()
    try:
        assert (tmp_path / LOCK_FILE).read_text() == f"{os.getpid()}\n"
    finally:
        lock.release()


async def test_a_second_gateway_on_the_same_data_dir_refuses_and_touches_nothing(tmp_path):
    # the first has its secrets from the environment; the second would generate them
    # into the data dir, were it allowed to go on
    first = GatewayProcess(tmp_path / "first", {"HCP_HTTP_TOKENS": "t" * 24,
                                                "HCP_PHONE_SECRET": "p" * 32})
    second = GatewayProcess(tmp_path / "second", {"HCP_DATA_DIR": str(first.data_dir)})
    try:
        await first.start()
        redis_pid = first.redis_pid()
        with pytest.raises(RuntimeError, match="exited with 1"):
            await second.start()
        refusal = second.log_text()
        assert f"pid {first.proc.pid}" in refusal and str(first.data_dir) in refusal
        [in_use] = [e for e in second.events() if e["event"] == "gateway.data_dir_in_use"]
        assert in_use["owner_pid"] == first.proc.pid
        assert in_use["data_dir"] == str(first.data_dir)
        events = {e["event"] for e in second.events()}
        assert "redis.stale_private_server" not in events
        assert "redis.private_started" not in events
        assert not (first.data_dir / "secrets" / "api_token").exists()
        assert not (first.data_dir / "secrets" / "phone_secret").exists()

        assert first.redis_pid() == redis_pid and pid_alive(redis_pid)
        assert (first.data_dir / LOCK_FILE).read_text() == f"{first.proc.pid}\n"
        async with aiohttp.ClientSession() as session:
            code, body = await post(session, first, {
                "target": {"kind": "item", "id": "LOCK-1"}, "grade": "satisfied"})
            assert code == 201, body
            await wait_status(session, first, body["id"], "submitted")
        assert await first.stop() == 0

        await second.start()  # the first has stopped: the data dir is free again
        assert await second.stop() == 0
    finally:
        second.kill()
        first.kill()


async def test_a_stale_redis_with_no_live_owner_is_stopped_and_the_gateway_starts(tmp_path):
    gw = GatewayProcess(tmp_path)
    # as if a gateway had been kill -9'd where nothing took its Redis down with it
    leftover = RedisServer(gw.data_dir / "redis").start()
    (gw.data_dir / "redis" / PID_FILE).write_text(f"{leftover.proc.pid}\n")
    (gw.data_dir / LOCK_FILE).write_text(f"{_dead_pid()}\n")
    try:
        await gw.start()
        assert leftover.proc.wait(5) == 0  # stopped with SIGTERM: AOF flushed
        stale = [e for e in gw.events() if e["event"] == "redis.stale_private_server"]
        assert [e["pid"] for e in stale] == [leftover.proc.pid]
        assert gw.redis_pid() != leftover.proc.pid
        async with aiohttp.ClientSession() as session:
            code, body = await post(session, gw, {
                "target": {"kind": "item", "id": "STALE-1"}, "grade": "satisfied"})
            assert code == 201, body
        assert await gw.stop() == 0
    finally:
        gw.kill()
        leftover.stop()


async def test_the_same_settings_twice_is_told_as_the_data_dir_in_use(tmp_path):
    """A second `scripts/run` would find the first's ports taken too: the refusal names
    the other gateway, the thing to stop, not a port."""
    first = GatewayProcess(tmp_path)
    try:
        await first.start()
        again = subprocess.run([str(HCP), "serve"], cwd=tmp_path, env=first.env(),
                               capture_output=True, text=True, timeout=60)
        assert again.returncode == 1, again.stderr
        [line] = [json.loads(line) for line in again.stderr.splitlines()]
        assert line["event"] == "gateway.data_dir_in_use"
        assert line["owner_pid"] == first.proc.pid
        assert await first.stop() == 0
    finally:
        first.kill()
