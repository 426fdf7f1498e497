"""Signed SMS callbacks cannot be replayed (issue 14 point 4): the nonces live in Redis
until the timestamp leaves the window, on both sides of now.

Real Redis, the real callback routes on a real aiohttp server, the carrier built as the
SMS channel builds it (adapters.sms_channel.build_carrier with the gateway's Redis).
A "restart" is a new carrier, a new app and a new Redis client on the same Redis. The
window is judged by an injected clock, so +290 s and 305 s later need no sleeping.
"""

from __future__ import annotations

import json
import time

import aiohttp
import pytest
import redis.asyncio as aioredis
from aiohttp import web

from adapters.redis_server import free_port
from adapters.sms_channel import DEFAULTS, build_carrier
from adapters.sms_http import REPLAY_PREFIX, SignatureCheck, add_sms_callback_routes, signature

KEY, SECRET = "AK-replay", "replay-provider-secret"
PATH = "/v1/sms/inbound/acme"
ITEMS = [{"phone_number": "13800138000", "content": "1"}]


class Clock:
    def __init__(self):
        self.now = float(int(time.time()))

    def __call__(self) -> float:
        return self.now


def signed(stamp: float, nonce: str, body: bytes) -> dict:
    timestamp = str(int(stamp))
    return {"Content-Type": "application/json", "X-Hcp-Key": KEY, "X-Hcp-Timestamp": timestamp,
            "X-Hcp-Nonce": nonce,
            "X-Hcp-Signature": signature(SECRET, "POST", PATH, timestamp, nonce, body)}


class Gateway:
    """The callback routes of one gateway process: its own carrier and Redis client."""

    def __init__(self, redis_url: str, clock: Clock, tmp_path):
        self.redis_url, self.clock, self.tmp_path = redis_url, clock, tmp_path
        self.got: list = []
        self.fail_next = 0

    async def start(self) -> Gateway:
        self.redis = aioredis.Redis.from_url(self.redis_url)
        settings = dict(DEFAULTS, **{"sms.carrier": "http", "sms.http.name": "acme",
                                     "sms.http.base_url": "http://127.0.0.1:9",
                                     "sms.http.access_key": KEY, "sms.http.secret": SECRET})
        self.carrier = build_carrier(settings.get, self.tmp_path, self.redis)
        self.carrier.callbacks.clock = self.clock

        async def on_inbound(message):
            if self.fail_next:
                self.fail_next -= 1
                raise ConnectionError("store away")
            self.got.append(message)

        await self.carrier.start(on_inbound, None)
        app = web.Application()
        add_sms_callback_routes(app, {"acme": self.carrier})
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        self.port = free_port()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()
        return self

    async def stop(self) -> None:
        await self.carrier.stop()
        await self.runner.cleanup()
        await self.redis.aclose()

    async def post(self, headers: dict, body: bytes) -> tuple[int, dict]:
        async with aiohttp.ClientSession() as session:
            async with session.post(f"http://127.0.0.1:{self.port}{PATH}", data=body,
                                    headers=headers) as resp:
                return resp.status, await resp.json()


@pytest.fixture
async def world(redis_url, tmp_path):
    clock = Clock()
    started: list[Gateway] = []

    async def gateway() -> Gateway:
        started.append(await Gateway(redis_url, clock, tmp_path).start())
        return started[-1]

    yield clock, gateway
    for g in started:
        await g.stop()


BODY = json.dumps(ITEMS).encode()


async def test_a_fresh_callback_is_accepted_once_and_refused_after_a_restart(world, aredis):
    clock, gateway = world
    first = await gateway()
    headers = signed(clock.now, "n-fresh", BODY)
    assert (await first.post(headers, BODY))[0] == 200
    assert len(first.got) == 1
    status, answer = await first.post(headers, BODY)
    assert (status, answer["msg"]) == (401, "nonce replayed")
    await first.stop()
    clock.now += 10
    again = await gateway()  # a new process: new verifier, same Redis
    status, answer = await again.post(headers, BODY)
    assert (status, answer["msg"]) == (401, "nonce replayed")
    assert again.got == []
    # the key: bounded, no phone number, no raw nonce
    keys = [k.decode() for k in await aredis.keys(REPLAY_PREFIX + "*")]
    assert len(keys) == 1 and len(keys[0]) == len(REPLAY_PREFIX) + 32
    assert "13800138000" not in keys[0] and "n-fresh" not in keys[0]


async def test_stamped_290_s_ahead_is_still_refused_305_s_later(world, aredis):
    clock, gateway = world
    start = clock.now
    first = await gateway()
    headers = signed(start + 290, "n-future", BODY)
    assert (await first.post(headers, BODY))[0] == 200
    # remembered until the stamp leaves the window: 290 + 300 s from now, not 300 s
    key = (await aredis.keys(REPLAY_PREFIX + "*"))[0]
    assert await aredis.pttl(key) >= (290 + 300) * 1000
    clock.now = start + 305  # 15 s after the stamp: still inside the window
    status, answer = await first.post(headers, BODY)
    assert (status, answer["msg"]) == (401, "nonce replayed")
    await first.stop()
    again = await gateway()
    status, answer = await again.post(headers, BODY)
    assert (status, answer["msg"]) == (401, "nonce replayed")
    assert len(first.got) == 1 and again.got == []


@pytest.mark.parametrize("offset", [-301, +301, -10_000, +10_000])
async def test_a_stamp_outside_the_window_on_either_side_is_refused(world, offset):
    clock, gateway = world
    g = await gateway()
    status, answer = await g.post(signed(clock.now + offset, f"n{offset}", BODY), BODY)
    assert (status, answer["msg"]) == (401, "timestamp outside the window")
    assert g.got == []


@pytest.mark.parametrize("offset", [-300, +300])
async def test_the_edges_of_the_window_are_inside(world, offset):
    clock, gateway = world
    g = await gateway()
    assert (await g.post(signed(clock.now + offset, f"edge{offset}", BODY), BODY))[0] == 200


@pytest.mark.parametrize("timestamp", ["", "12.5", " 1", "+1", "١٢٣", "9" * 20])
async def test_odd_timestamps_are_refused(world, timestamp):
    clock, gateway = world
    g = await gateway()
    headers = signed(clock.now, "n-odd", BODY)
    headers["X-Hcp-Timestamp"] = timestamp
    headers["X-Hcp-Signature"] = signature(SECRET, "POST", PATH, timestamp, "n-odd", BODY)
    assert (await g.post(headers, BODY))[0] == 401


async def test_a_callback_that_failed_is_admitted_again(world):
    """Its handling failed (nothing recorded): the provider's retry is no replay."""
    clock, gateway = world
    g = await gateway()
    g.fail_next = 1
    headers = signed(clock.now, "n-retry", BODY)
    assert (await g.post(headers, BODY))[0] == 503
    assert (await g.post(headers, BODY))[0] == 200
    assert len(g.got) == 1
    assert (await g.post(headers, BODY))[0] == 401


async def test_redis_away_is_a_503_the_provider_retries(world, tmp_path):
    clock, gateway = world
    g = await gateway()
    await g.redis.aclose()
    g.carrier.callbacks.redis = aioredis.Redis.from_url(
        f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=0.5)
    assert (await g.post(signed(clock.now, "n-away", BODY), BODY))[0] == 503
    await g.carrier.callbacks.redis.aclose()


def test_without_redis_the_same_rule_holds_in_memory():
    """The loopback provider's verifier (one process): +290 s is remembered past 305 s."""
    clock = Clock()
    check = SignatureCheck(KEY, SECRET, clock=clock)
    start = clock.now
    headers = signed(start + 290, "n-mem", BODY)
    assert check.verify("POST", PATH, headers, BODY) is None
    clock.now = start + 305
    assert check.verify("POST", PATH, headers, BODY) == "nonce replayed"
    clock.now = start + 591
    assert check.verify("POST", PATH, headers, BODY) == "timestamp outside the window"
