"""The one ledger every chaos fault ends with: accepted, stored, lost, stored twice,
dead-lettered.

Theory of operation
-------------------
Three witnesses, read after the drain, never the gateway's own counters alone:

* **the clients**: ``accepted`` maps every evaluation id the gateway answered 201
  for (``tests.chaos.harness.Load``, or an entry a test wrote into the outbox
  itself) to the items it must produce a record for — key ``<id>:<item>``;
* **the exchange** (the loopback store, in-process or ``CoreStoreProcess``): the
  records it holds, keyed by idempotency key;
* **the gateway**: ``GET /v1/evaluations/{id}`` (status ``accepted``, ``submitted``
  or ``dead``) and its dead-letter stream ``keys.DEAD``, read from the Redis that
  ``python -m gateway.running`` names for the gateway's config (as an operator
  would find it).

The figures, per evaluation:

  accepted       answered 201 (or written to the outbox by the test)
  stored         every one of its records is at the exchange
  dead-lettered  status ``dead`` and in the dead-letter stream
  lost           accepted − stored − dead-lettered: the promise broken
  stored twice   records at the exchange that no accepted evaluation explains (a
                 key nobody was told about, an item filed a second time)

``take`` first waits (bounded) until no evaluation is ``accepted`` any more, so a
slow drain is not mistaken for a loss. ``Ledger.check(dead=…)`` asserts lost = 0,
stored twice = 0 and exactly the expected dead letters (an evaluation both stored
and dead-lettered, or a status that disagrees with the stream, fails it too).
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field

import aiohttp
import redis.asyncio as aioredis

from ratings import keys
from tests.gateway.process import ROOT, GatewayProcess
from tests.support.corestore import slot_of


@dataclass
class Ledger:
    fault: str
    accepted: int
    stored: int
    dead_lettered: int
    stored_twice: int
    resent: int = 0  # records sent again and answered "already there" (absorbed)
    drain_s: float = 0.0
    notes: dict = field(default_factory=dict)  # fault-specific figures, printed
    problems: list[str] = field(default_factory=list)  # inconsistencies between witnesses
    dead_ids: set[str] = field(default_factory=set)

    @property
    def lost(self) -> int:
        return self.accepted - self.stored - self.dead_lettered

    def line(self) -> str:
        extra = "".join(f"; {k} {v}" for k, v in self.notes.items())
        return (f"chaos {self.fault}: accepted {self.accepted}, stored {self.stored}, "
                f"lost {self.lost}, stored twice {self.stored_twice}, dead-lettered "
                f"{self.dead_lettered} (re-sent and absorbed {self.resent}; drained in "
                f"{self.drain_s:.1f} s{extra})")

    def check(self, dead: set[str] = frozenset(), twice_at_most: int = 0) -> None:
        """lost 0, the expected dead letters, stored twice 0 — except where the
        protocol itself cannot tell (``twice_at_most``: an SMPP submit whose answer
        died with the connection, see test_smsc_disconnect)."""
        print("\n" + self.line())
        assert not self.problems, self.problems
        assert self.lost == 0, self.line()
        assert self.stored_twice <= twice_at_most, self.line()
        assert self.dead_ids == set(dead), (sorted(self.dead_ids), sorted(dead))


def redis_url(gw: GatewayProcess) -> str:
    """The gateway's Redis as an operator finds it (``python -m gateway.running``)."""
    done = subprocess.run([sys.executable, "-m", "gateway.running"], cwd=ROOT, env=gw.env(),
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


async def statuses(session: aiohttp.ClientSession, gw: GatewayProcess,
                   ids: list[str]) -> dict[str, dict]:
    limit = asyncio.Semaphore(16)

    async def one(ev_id: str) -> tuple[str, dict]:
        async with limit:
            async with session.get(f"{gw.base_url}/v1/evaluations/{ev_id}",
                                   headers=gw.auth) as resp:
                return ev_id, (await resp.json() if resp.status == 200
                               else {"status": f"HTTP {resp.status}"})

    return dict(await asyncio.gather(*(one(i) for i in ids)))


async def submitter_outcomes(session: aiohttp.ClientSession, gw: GatewayProcess) -> dict:
    """The gateway's own submitter counters (/metrics; since its last start), non-zero."""
    async with session.get(f"{gw.base_url}/metrics") as resp:
        text = await resp.text()
    counts = {line.split('"')[1]: int(float(line.rsplit(" ", 1)[1]))
              for line in text.splitlines() if line.startswith("hcp_submitter_outcomes_total{")}
    return {k: v for k, v in counts.items() if v}


def _records(store) -> dict[str, dict]:
    return store.records if isinstance(store.records, dict) else store.records()


def _resent(store) -> int:
    stats = store.stats()
    return int(stats.get("duplicates", 0))


async def drained(gw: GatewayProcess, ids, drain_timeout: float,
                  final: tuple[str, ...] = ("submitted", "dead")
                  ) -> tuple[float, list[str], dict[str, dict], dict]:
    """Poll the statuses of ``ids`` until each is in ``final`` or the time is up:
    (seconds waited, ids still pending, every status, the submitter's counters)."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        pending = list(ids)
        while True:
            now = await statuses(session, gw, pending)
            pending = [i for i, s in now.items() if s.get("status") not in final]
            if not pending or loop.time() - started > drain_timeout:
                break
            await asyncio.sleep(0.2)
        drain_s = loop.time() - started
        return (drain_s, pending, await statuses(session, gw, list(ids)),
                await submitter_outcomes(session, gw))


async def take(fault: str, gw: GatewayProcess, store, accepted: dict[str, tuple[str, ...]],
               drain_timeout: float = 60.0) -> Ledger:
    """Wait for the drain, then count. ``gw`` must be running (its API and Redis)."""
    drain_s, pending, final, outcomes = await drained(gw, accepted, drain_timeout)

    client = aioredis.Redis.from_url(redis_url(gw), decode_responses=True)
    try:
        dead_stream = Counter(f["id"] for _entry, f in await client.xrange(keys.DEAD))
    finally:
        await client.aclose()

    ours = {k: v for k, v in _records(store).items() if not k.startswith("foreign:")}
    expected = {f"{ev_id}:{item}" for ev_id, items in accepted.items() for item in items}
    stored = {ev_id for ev_id, items in accepted.items()
              if all(f"{ev_id}:{item}" in ours for item in items)}
    status_dead = {ev_id for ev_id, s in final.items() if s.get("status") == "dead"}
    dead = status_dead & set(dead_stream)
    per_slot = Counter(slot_of(payload) for payload in ours.values())
    stored_twice = (len(set(ours) - expected)
                    + sum(n - 1 for n in per_slot.values() if n > 1))

    problems = []
    if status_dead != set(dead_stream) & set(accepted):
        problems.append(f"status dead {sorted(status_dead)} but dead letters "
                        f"{sorted(set(dead_stream) & set(accepted))}")
    if unknown := set(dead_stream) - set(accepted):
        problems.append(f"dead letters of evaluations nobody accepted: {sorted(unknown)}")
    if twice := [i for i, n in dead_stream.items() if n > 1]:
        problems.append(f"dead-lettered more than once: {sorted(twice)}")
    if both := stored & dead:
        problems.append(f"stored and dead-lettered: {sorted(both)}")
    if wrong := {i for i in stored if final[i].get("status") != "submitted"}:
        problems.append(f"at the store but status not submitted: "
                        f"{ {i: final[i].get('status') for i in sorted(wrong)[:5]} }")
    if pending:
        problems.append(f"{len(pending)} still not final after {drain_timeout} s, e.g. "
                        f"{ {i: final[i] for i in pending[:3]} }")
    return Ledger(fault, accepted=len(accepted), stored=len(stored),
                  dead_lettered=len(dead), stored_twice=stored_twice, resent=_resent(store),
                  drain_s=drain_s, problems=problems, dead_ids=dead,
                  notes={"submitter (last process)": outcomes})


async def take_sms(fault: str, gw: GatewayProcess, reminders: dict[str, str],
                   texts: Counter, drain_timeout: float = 60.0) -> Ledger:
    """The same ledger for reminders: ``reminders`` maps each reminder id the gateway
    answered 201 for to its number as the SMSC sees it; ``texts`` counts the submits
    the SMSC(s) accepted per number (one reminder per number, one segment each).

    accepted = reminders created; stored = state ``sent`` and a text at the SMSC;
    dead-lettered = state ``failed``; stored twice = texts beyond one per number."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    limit = asyncio.Semaphore(16)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        async def state(rid: str) -> tuple[str, str]:
            async with limit:
                async with session.get(f"{gw.base_url}/v1/sms/reminders/{rid}",
                                       headers=gw.auth) as resp:
                    return rid, ((await resp.json())["state"] if resp.status == 200
                                 else f"HTTP {resp.status}")

        pending = list(reminders)
        states: dict[str, str] = {}
        while True:
            states.update(await asyncio.gather(*(state(r) for r in pending)))
            pending = [r for r in pending if states[r] not in ("sent", "failed")]
            if not pending or loop.time() - started > drain_timeout:
                break
            await asyncio.sleep(0.5)
    drain_s = loop.time() - started
    sent = {r for r, s in states.items() if s == "sent" and texts[reminders[r]] > 0}
    failed = {r for r, s in states.items() if s == "failed"}
    numbers = set(reminders.values())
    twice = sum(n - 1 for n in texts.values() if n > 1) + sum(
        n for number, n in texts.items() if number not in numbers)
    problems = []
    if unsent := [r for r, s in states.items() if s == "sent" and not texts[reminders[r]]]:
        problems.append(f"state sent, no text at the SMSC: {unsent[:5]}")
    if pending:
        problems.append(f"{len(pending)} not final after {drain_timeout} s: "
                        f"{ {r: states[r] for r in pending[:3]} }")
    return Ledger(fault, accepted=len(reminders), stored=len(sent), dead_lettered=len(failed),
                  stored_twice=twice, drain_s=drain_s, problems=problems, dead_ids=failed)
