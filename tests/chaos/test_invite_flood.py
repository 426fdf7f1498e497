"""Chaos f: an INVITE flood at the IVR of ``hcp serve`` while clients rate over HTTP.

``hcp serve`` as scripts/run starts it (one IVR worker, private Redis; the loopback
exchange in its own process: tests/e2e_ivr/harness.py). SIPp floods the worker's
SIP port (tests/ivr/flood.py: every INVITE must get a final answer) while the API
clients post their ratings; right after the flood a normal caller presses 1 and
must be answered and rated. The ledger covers the API ratings and that call's
evaluation (found through the intake's call key, as the gateway holds it).
"""

from __future__ import annotations

import asyncio
import shutil

import aiohttp
import pytest
import redis.asyncio as aioredis

from ivr.outcome import call_id_of
from ratings import keys
from tests.chaos.harness import Load, scale
from tests.chaos.ledger import redis_url, statuses, take
from tests.e2e_ivr.harness import ServedGateway
from tests.ivr.flood import next_rated_call, run_flood
from tests.ivr.sipp import call_summaries
from tests.support.corestore import CoreStoreProcess

pytestmark = pytest.mark.xdist_group("realtime")


class Served:
    """What the load and the ledger need of a gateway (``GatewayProcess``'s shape)."""

    def __init__(self, gw: ServedGateway):
        self.gw = gw
        self.base_url = f"http://127.0.0.1:{gw.http_port}"
        token = (gw.workdir / "data" / "secrets" / "api_token").read_text().strip()
        self.auth = {"Authorization": f"Bearer {token}"}

    def env(self) -> dict[str, str]:
        return dict(self.gw.env)


async def test_invite_flood_while_rating(tmp_path):
    if shutil.which("sipp") is None:
        pytest.fail("sipp is not installed: scripts/install-deps")
    sc = scale()
    rate, seconds = sc.flood
    (tmp_path / "gw").mkdir()
    store = CoreStoreProcess().start()
    gw = ServedGateway(tmp_path / "gw", store, {"HCP_SUBMIT_CLAIM_IDLE_S": "1"})
    try:
        await asyncio.to_thread(gw.start)
        view = Served(gw)
        load = Load(view, "F", sc.ratings, sc.clients,
                    pace_s=seconds * sc.clients / sc.ratings)  # spread over the flood
        posting = asyncio.create_task(load.run())
        flood = await asyncio.to_thread(run_flood, gw.sip_port, rate, seconds,
                                        tmp_path / "flood")
        url = redis_url(view)
        call = await asyncio.to_thread(next_rated_call, gw.sip_port, tmp_path / "next",
                                       flood.ended_at, url)  # the clients may still post
        await posting
        assert call.rated, (call, gw.log()[-3000:])

        client = aioredis.Redis.from_url(url, decode_responses=True)
        try:
            rated = [s for s in await asyncio.to_thread(_summaries, url)
                     if s["outcome"] == "rated"]
            ev_id = await client.get(keys.call(call_id_of({}, rated[-1]["call_id"])))
        finally:
            await client.aclose()
        assert ev_id, "the rated call holds no call key"
        async with aiohttp.ClientSession() as session:
            covers = (await statuses(session, view, [ev_id]))[ev_id].get("covers") or []
        accepted = dict(load.accepted)
        accepted[ev_id] = tuple(covers)
        ledger = await take("INVITE flood", view, store, accepted, sc.drain_timeout_s)
        ledger.notes.update({"flood": flood.summary(),
                             "next call answered after": f"{call.answered_s:.2f} s",
                             "its attempts": call.attempts})
    finally:
        code = await asyncio.to_thread(gw.stop)
        store.stop()
    assert code == 0, gw.log()[-3000:]
    ledger.check()
    assert covers and flood.unanswered == 0, flood.summary()


def _summaries(url: str) -> list[dict]:
    import redis

    client = redis.Redis.from_url(url)
    try:
        return call_summaries(client)
    finally:
        client.close()
