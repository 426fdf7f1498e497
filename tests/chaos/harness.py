"""The chaos suite's moving parts: its scale, the gateway, and clients that post ratings.

Theory of operation
-------------------
Every fault runs against real processes: ``hcp serve`` as a child process
(``tests.gateway.process.GatewayProcess``: its private redis-server, supervised
by the gateway itself) and the loopback exchange (``tests.support.corestore``:
unique (projectNo, assessNumber), signatures, refusals, faults on demand) on the
test's event loop. What the faults must not break is counted by
``tests.chaos.ledger``; this module only produces the load.

**The clients behave like a careful API caller.** Each rating is one item (every
``BATCH_EVERY``-th a batch of three items: a fan-out of three records) posted with
its own ``Idempotency-Key``. Anything that is not a final answer — connection
refused or reset (the gateway is dead), a timeout, 503 (its Redis is restarting)
— is retried with the same key until the gateway answers 201 (a replay of an
accepted key is answered 201 with the same id). So every rating the clients
meant to give ends with a 201, and ``accepted`` maps each 201's evaluation id to
the records it must produce. A 4xx other than that is a bug of the test or of the
gateway and fails the run at once.

**Scale.** ``SCALE`` is the short run (the test suite: a few hundred ratings per
fault, outages of a few seconds) unless ``HCP_CHAOS_LONG=1`` (``scripts/chaos
--long``, ``pytest tests/chaos --chaos-long``): thousands of ratings, outages of
tens of seconds.
"""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from tests.gateway.process import GatewayProcess
from tests.support.corestore import DEFAULT_SECRET

LONG_ENV = "HCP_CHAOS_LONG"


@dataclass(frozen=True)
class Scale:
    name: str
    ratings: int  # per fault
    clients: int  # concurrent posting clients
    outage_s: float  # each phase of the store outage (down, 503, hanging)
    kills: int  # kill -9s per run (gateway, Redis)
    drain_timeout_s: float
    flood: tuple[int, float]  # INVITE/s, seconds


SHORT = Scale("short", ratings=300, clients=8, outage_s=1.5, kills=1, drain_timeout_s=45,
              flood=(100, 2.0))
LONG = Scale("long", ratings=5000, clients=32, outage_s=20.0, kills=3, drain_timeout_s=240,
             flood=(200, 10.0))


def scale() -> Scale:
    return LONG if os.environ.get(LONG_ENV, "") not in ("", "0") else SHORT


BATCH_EVERY = 10  # every tenth rating is a batch of three items


def gateway(workdir: Path, store_url: str, **env: str) -> GatewayProcess:
    """``hcp serve`` on the loopback exchange, claiming a dead worker's entries after 1 s."""
    base = {"HCP_CORE_URL": store_url, "HCP_CORE_HMAC_SECRET": DEFAULT_SECRET.decode(),
            "HCP_SUBMIT_CLAIM_IDLE_S": "1", "HCP_SUBMIT_CONCURRENCY": "32",
            "HCP_CORE_TIMEOUT_S": "1", "HCP_LOG_LEVEL": "WARNING"}
    base.update(env)
    return GatewayProcess(workdir, base)


def rating(tag: str, i: int) -> tuple[dict, tuple[str, ...]]:
    """The body of rating ``i`` and the items it must produce a record for."""
    if i % BATCH_EVERY == BATCH_EVERY - 1:
        items = tuple(f"{tag}-{i}-{k}" for k in range(3))
        target = {"kind": "batch", "id": f"{tag}-B{i}", "items": list(items)}
    else:
        items = (f"{tag}-{i}",)
        target = {"kind": "item", "id": items[0]}
    return {"target": target, "grade": "satisfied"}, items


@dataclass
class Load:
    """``clients`` callers posting ``count`` ratings, each retried until it gets a 201."""

    gw: GatewayProcess
    tag: str
    count: int
    clients: int
    pace_s: float = 0.0  # pause after each 201 per client (spreads the load over time)
    give_up_s: float = 120.0  # a rating still unanswered after this fails the run
    accepted: dict[str, tuple[str, ...]] = field(default_factory=dict)  # id -> items
    answers: Counter = field(default_factory=Counter)  # status code (0: no answer)
    retried: int = 0  # posts that were sent again (no final answer)
    _next: int = 0
    _first: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self) -> Load:
        timeout = aiohttp.ClientTimeout(total=5)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            await asyncio.gather(*(self._client(session) for _ in range(self.clients)))
        return self

    async def until_accepted(self, n: int, timeout: float = 60.0) -> None:
        """Return once ``n`` ratings have their 201 (the moment to inject a fault)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(self.accepted) < n:
            if loop.time() > deadline:
                raise AssertionError(f"{len(self.accepted)} of {n} accepted in {timeout} s: "
                                     f"{dict(self.answers)}")
            await asyncio.sleep(0.01)

    async def _client(self, session: aiohttp.ClientSession) -> None:
        while self._next < self.count:
            i = self._next
            self._next += 1
            await self._rate(session, i)
            if self.pace_s:
                await asyncio.sleep(self.pace_s)

    async def _rate(self, session: aiohttp.ClientSession, i: int) -> None:
        body, items = rating(self.tag, i)
        headers = dict(self.gw.auth, **{"Idempotency-Key": f"chaos-{self.tag}-{i}"})
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.give_up_s
        while True:
            code, answer = await self._post(session, body, headers)
            self.answers[code] += 1
            if code == 201:
                self.accepted[answer["id"]] = items
                return
            if code not in (0, 502, 503, 504):
                raise AssertionError(f"rating {i}: {code} {answer}")
            if loop.time() > deadline:
                raise AssertionError(f"rating {i}: no 201 in {self.give_up_s} s "
                                     f"(last {code} {answer})")
            self.retried += 1
            await asyncio.sleep(0.05)

    async def _post(self, session, body, headers) -> tuple[int, dict]:
        try:
            async with session.post(f"{self.gw.base_url}/v1/evaluations", json=body,
                                    headers=headers) as resp:
                try:
                    return resp.status, await resp.json()
                except (aiohttp.ContentTypeError, ValueError):
                    return resp.status, {"text": (await resp.text())[:200]}
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            return 0, {"error": type(exc).__name__}
