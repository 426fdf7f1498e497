"""Pool fixtures: an IvrPool on free ports (async) and a Kamailio front for it."""

from __future__ import annotations

import dataclasses
import shutil

import pytest

from ivr.kamailio import FrontSettings, KamailioProcess, write_front
from ivr.pool import IvrPool
from tests.ivr_pool.harness import front_port


@pytest.fixture
def sipp_dir(tmp_path):
    if shutil.which("sipp") is None:
        pytest.fail("sipp (Debian sip-tester) is not installed: scripts/install-deps")
    return tmp_path


@pytest.fixture
async def start_pool(redis_url, tmp_path):
    """Factory: await start_pool(config) -> a started IvrPool (drained after)."""
    pools: list[IvrPool] = []

    async def start(config) -> IvrPool:
        pool = IvrPool(config, redis_url, tmp_path / "data", phone_secret="pool-test-secret-0123",
                       log_dir=tmp_path / "logs", ready_timeout_s=60)
        await pool.start()
        pools.append(pool)
        return pool

    yield start
    for pool in pools:
        pool.config = dataclasses.replace(pool.config, drain_s=10.0)
        await pool.stop()


@pytest.fixture
def start_front(tmp_path):
    """Factory: start_front(pool_config, **front) -> a running KamailioProcess."""
    if shutil.which("kamailio") is None:
        pytest.fail("kamailio (Debian kamailio) is not installed: scripts/install-deps")
    fronts: list[KamailioProcess] = []

    def start(config, **front_values) -> KamailioProcess:
        port = front_port()
        front = FrontSettings(listen=f"127.0.0.1:{port}", ping_interval_s=1, **front_values)
        out = tmp_path / f"front-{port}"
        cfg, _ = write_front(config, out, front)
        proc = KamailioProcess(cfg, out / "run", out / "kamailio.log", front.listen)
        fronts.append(proc)
        proc.start()
        proc.port = port
        return proc

    yield start
    for proc in fronts:
        proc.stop()
