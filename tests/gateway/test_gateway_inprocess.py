"""The Gateway object in-process: extra components, readiness and 503 when Redis is away."""

from __future__ import annotations

import asyncio

import aiohttp
import aiohttp.web

from adapters.redis_server import RedisServer
from gateway.components import Hook
from gateway.config import load
from gateway.serve import Gateway


def config_for(tmp_path, redis_url, **env):
    # HCP_CORE_PF_API: these tests post API ratings, which need their channel's pf code
    return load(env={"HCP_DATA_DIR": str(tmp_path / "data"), "HCP_HTTP_PORT": "0",
                     "HCP_REDIS_URL": redis_url, "HCP_DRAIN_TIMEOUT_S": "2",
                     "HCP_CORE_PF_API": "1", **env}, cwd=tmp_path)


async def test_an_api_rating_without_a_pf_for_its_channel_is_a_400(tmp_path, redis_url):
    """No pf code is guessed for API ratings: without core.pf_api the API says so at once
    (a 201 followed by a dead letter would be a lost rating)."""
    config = load(env={"HCP_DATA_DIR": str(tmp_path / "data"), "HCP_HTTP_PORT": "0",
                       "HCP_REDIS_URL": redis_url}, cwd=tmp_path)
    gw = Gateway(config)
    await gw.start()
    base = f"http://127.0.0.1:{gw.http_port}"
    auth = {"Authorization": f"Bearer {gw.config.http_tokens[0]}"}
    body = {"target": {"kind": "item", "id": "PF-1"}, "grade": "satisfied"}
    try:
        async with aiohttp.ClientSession() as session:
            async with session.post(f"{base}/v1/evaluations", json=body, headers=auth) as resp:
                answer = await resp.json()
                assert resp.status == 400 and answer["field"] == "channel", answer
                assert "core.pf_api" in answer["message"]
            async with session.post(f"{base}/v1/evaluations", headers=auth,
                                    json=dict(body, channel="sms")) as resp:
                assert resp.status == 201  # SMS has its pf
    finally:
        await gw.stop()


async def test_extra_components_get_the_context_and_run_between(tmp_path, redis_url):
    seen = []

    async def console_page(request):
        return aiohttp.web.Response(text="extra")

    def ivr_pool(ctx):
        console = aiohttp.web.Application()
        console.router.add_get("/", console_page)
        ctx.http_app.add_subapp("/extra/", console)

        async def start():
            seen.append(("start", ctx.redis_url, type(ctx.intake).__name__,
                         type(ctx.store).__name__))

        async def stop():
            seen.append(("stop",))

        return Hook("ivr-pool", start, stop)

    gw = Gateway(config_for(tmp_path, redis_url), extra=[ivr_pool])
    await gw.start()
    try:
        assert gw.components.names == ["redis-client", "core-store", "submitter", "sms",
                                       "corrections", "ivr-pool", "console", "http"]
        assert seen == [("start", redis_url, "MeteredIntake", "LocalCoreStore")]
        assert gw.http_port and gw.http_port > 0
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{gw.http_port}/extra/") as resp:
                assert resp.status == 200 and await resp.text() == "extra"
    finally:
        await gw.stop()
    assert seen[-1] == ("stop",)


async def test_redis_gone_means_not_ready_and_503(tmp_path):
    server = RedisServer(tmp_path / "redis").start()
    gw = Gateway(config_for(tmp_path, server.url))
    await gw.start()
    base = f"http://127.0.0.1:{gw.http_port}"
    auth = {"Authorization": f"Bearer {gw.config.http_tokens[0]}"}
    body = {"target": {"kind": "item", "id": "R-1"}, "grade": "satisfied"}
    try:
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{base}/readyz") as resp:
                assert resp.status == 200
            server.stop()
            async with session.get(f"{base}/readyz") as resp:
                assert resp.status == 503
                assert (await resp.json())["checks"]["redis"].startswith("redis:")
            async with session.post(f"{base}/v1/evaluations", json=body, headers=auth) as resp:
                assert resp.status == 503
                assert (await resp.json())["error"] == "unavailable"
            async with session.get(f"{base}/healthz") as resp:
                assert resp.status == 200  # up, just not ready
            async with session.get(f"{base}/metrics") as resp:
                assert resp.status == 200  # a scrape still answers
            server.start()
            async with session.post(f"{base}/v1/evaluations", json=body, headers=auth) as resp:
                assert resp.status == 201
    finally:
        await gw.stop()
        server.stop()


async def test_a_crashed_submitter_stops_the_process(tmp_path, redis_url, monkeypatch):
    from ratings.submitter import Submitter

    async def crash(self):
        await asyncio.sleep(0.1)
        raise RuntimeError("store adapter bug")

    monkeypatch.setattr(Submitter, "run", crash)
    gw = Gateway(config_for(tmp_path, redis_url))
    await asyncio.wait_for(gw.run(), timeout=30)  # returns on its own: no signal sent
    assert isinstance(gw.failure, RuntimeError)
    assert gw.components.names == []  # everything stopped
