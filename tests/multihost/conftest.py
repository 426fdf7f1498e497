"""Fixtures of the multi-host suite: a Sentinel set of real processes, the loopback
exchange, and gateways killed at teardown."""

from __future__ import annotations

import asyncio

import pytest

from tests.chaos.harness import gateway
from tests.multihost.sentinel import SentinelSet


@pytest.fixture
def sentinel_set(tmp_path):
    """``sentinel_set(replicas=1)``: a started SentinelSet, stopped at teardown."""
    made = []

    def make(**kw) -> SentinelSet:
        made.append(SentinelSet(tmp_path / f"sentinel{len(made)}", **kw).start())
        return made[-1]

    yield make
    for each in made:
        each.stop()


@pytest.fixture
def served(tmp_path, store):
    """``served(redis_url, **env)``: ``hcp serve`` on the loopback exchange (not started)."""
    made = []

    def make(redis_url: str, **env):
        gw = gateway(tmp_path / f"gw{len(made)}", store.url, HCP_REDIS_URL=redis_url, **env)
        made.append(gw)
        return gw

    yield make
    for gw in made:
        gw.kill()


async def in_thread(fn, *args):
    return await asyncio.to_thread(fn, *args)
