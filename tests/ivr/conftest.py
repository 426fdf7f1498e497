"""IVR fixtures: a shared prompt cache (espeak renders once per run) and workers."""

from __future__ import annotations

import shutil

import pytest
import redis

from tests.ivr.sipp import WorkerProcess


@pytest.fixture(scope="session")
def ivr_data_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("ivr-data")


@pytest.fixture
def sync_redis(redis_url):
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
def start_worker(redis_url, ivr_data_dir):
    """Factory: start_worker(*extra_args) -> a running WorkerProcess (stopped after)."""
    started: list[WorkerProcess] = []

    def start(*extra_args: str) -> WorkerProcess:
        worker = WorkerProcess(redis_url, ivr_data_dir, list(extra_args)).start()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


@pytest.fixture
def sipp_dir(tmp_path):
    if shutil.which("sipp") is None:
        pytest.fail("sipp (Debian sip-tester) is not installed: scripts/install-deps")
    return tmp_path
