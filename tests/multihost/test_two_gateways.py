"""Two ``hcp serve`` processes on one port (``http.reuse_port``) and one Redis (issue 15):
each takes its share of the requests and of the submissions, and when one is killed
under load the other takes over its pending outbox entries. Same ledger as the chaos
suite: 0 lost, 0 stored twice."""

from __future__ import annotations

import asyncio
import signal

import pytest

from tests.chaos.harness import Load, gateway
from tests.chaos.ledger import take

pytestmark = pytest.mark.xdist_group("realtime")

RATINGS, CLIENTS = 300, 8
SHARED = {"HCP_HTTP_REUSE_PORT": "1", "HCP_HTTP_TOKENS": "t" * 32,
          "HCP_PHONE_SECRET": "p" * 32, "HCP_LOG_LEVEL": "DEBUG"}


def accepted_by(gw) -> int:
    """How many POSTs this process accepted (its own log: api.accepted, DEBUG)."""
    return sum(1 for e in gw.events() if e.get("event") == "api.accepted")


async def test_two_processes_share_the_port_and_the_work_and_survive_a_kill(
        tmp_path, store, redis_url):
    one = gateway(tmp_path / "one", store.url, HCP_REDIS_URL=redis_url, **SHARED)
    two = gateway(tmp_path / "two", store.url, HCP_REDIS_URL=redis_url, **SHARED)
    two.port = one.port  # the same address: the kernel spreads connections
    try:
        await one.start()
        await two.start()  # answered by one's /healthz already: wait for two's own start
        for _ in range(300):
            if any(e.get("event") == "gateway.ready" for e in two.events()):
                break
            await asyncio.sleep(0.1)
        store.latency(0.02)  # records in flight when one of them dies
        load = Load(one, "M", RATINGS, CLIENTS)  # one.base_url is the shared address
        posting = asyncio.create_task(load.run())
        await load.until_accepted(RATINGS // 3)
        shares = (accepted_by(one), accepted_by(two))
        one.proc.send_signal(signal.SIGKILL)  # its outbox entries are left pending
        one.proc.wait()
        await posting
        ledger = await take("two gateways, one killed", two, store, load.accepted, 60)
        ledger.notes.update({"accepted by each before the kill": shares,
                             "posts retried": load.retried})
        print("\n" + ledger.line())
        ledger.check()
        assert ledger.accepted == RATINGS
        # both took requests (new connections spread by SO_REUSEPORT) before the kill
        assert all(n > 0 for n in shares), shares
    finally:
        one.kill()
        two.kill()
