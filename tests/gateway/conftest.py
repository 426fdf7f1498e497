"""Fixtures of the gateway tests: the HTTP app on a real Intake and a real Redis."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient, TestServer

from gateway.http_api import make_app
from gateway.metrics import MeteredIntake, Metrics
from ratings.intake import Intake

TOKEN = "test-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def metrics() -> Metrics:
    return Metrics()


@pytest.fixture
def intake(aredis, metrics):
    return MeteredIntake(Intake(aredis, b"gateway-test-secret"), metrics)


@pytest.fixture
async def api(aredis, intake, metrics):
    """A test client of the API app; readiness asks the real Redis."""

    async def readiness():
        try:
            await aredis.ping()
            return {"redis": None}
        except Exception as exc:
            return {"redis": type(exc).__name__}

    app = make_app(intake, metrics, (TOKEN,), readiness, redis=aredis, max_body_bytes=4096)
    client = TestClient(TestServer(app))
    await client.start_server()
    yield client
    await client.close()


@pytest.fixture
async def served_gateway(tmp_path):
    """``make(**env)``: a real ``hcp serve`` process (tests.gateway.process), each killed
    at the end of the test."""
    from tests.gateway.process import GatewayProcess

    started: list[GatewayProcess] = []

    def make(**env) -> GatewayProcess:
        gw = GatewayProcess(tmp_path / "gw", env)
        started.append(gw)
        return gw

    yield make
    for gw in started:
        gw.kill()
