"""The failover ledger: what clients were told (201), what the exchange holds, and what
the Redis that survived the failover still knows.

Theory of operation
-------------------
As in tests/chaos/ledger.py, three witnesses, read after the drain:

* the clients (``tests.chaos.harness.Load``): every evaluation id answered 201, with
  the records it must produce;
* the exchange (the loopback store): its records by idempotency key;
* the gateway, on the promoted primary: ``GET /v1/evaluations/{id}``. A 404 there
  for an id the clients were answered 201 for means the write never reached the
  replica that was promoted: the asynchronous replica's loss (``forgotten``).

The drain ends when no evaluation is ``accepted`` any more (404 is final too: a
forgotten rating will never drain). Figures: accepted, stored (every record at the
exchange), lost (accepted − stored − dead-lettered), stored twice (records no
accepted evaluation explains, or a second one in a (projectNo, assessNumber) slot),
forgotten, and re-sent (a record sent again and absorbed by the exchange's 409).
A forgotten rating may still be stored: the submitter can have sent it from the
old primary before that died.
"""

from __future__ import annotations

import asyncio
from collections import Counter


from gateway.api_request import evaluation_id_for
from tests.chaos.harness import Load, rating
from tests.chaos.ledger import Ledger, drained
from tests.support.corestore import slot_of


class FailoverLoad(Load):
    """``Load``, plus one answer a failover produces: 409 ``already_evaluated`` naming
    the client's own evaluation id (the id its Idempotency-Key maps to).

    How: an attempt answered 503 (its WAIT failed, or the primary died) was still
    written on the old primary, whose submitter sent it to the exchange; the
    submitter's status write (ratings/lua/submitted.lua, an unconditional HSET) then
    created the evaluation's status hash on the promoted replica, which had never
    seen the rating, and the client's retry meets that hash (accept.lua's
    ``id_in_use``). The rating is at the exchange, once; the client was told 409.
    Counted in ``own_409`` and kept in ``accepted`` so the ledger checks it is stored."""

    own_409: int = 0

    async def _rate(self, session, i: int) -> None:
        body, items = rating(self.tag, i)
        key = f"chaos-{self.tag}-{i}"
        headers = dict(self.gw.auth, **{"Idempotency-Key": key})
        while True:
            code, answer = await self._post(session, body, headers)
            self.answers[code] += 1
            if code == 201 or (code == 409 and answer.get("id") == evaluation_id_for(key)):
                self.accepted[answer["id"]] = items
                self.own_409 += code == 409
                return
            if code not in (0, 502, 503, 504):
                raise AssertionError(f"rating {i}: {code} {answer}")
            self.retried += 1
            await asyncio.sleep(0.05)


class IntakeGaps:
    """Samples how many ratings have their 201: the longest stretch without a new one
    is the time the intake paused (the failover as a client saw it)."""

    def __init__(self, load, every_s: float = 0.05):
        self.load = load
        self.every_s = every_s
        self.longest_s = 0.0
        self._task: asyncio.Task | None = None

    def start(self) -> IntakeGaps:
        self._task = asyncio.create_task(self._sample())
        return self

    async def stop(self) -> float:
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass
        return self.longest_s

    async def _sample(self) -> None:
        loop = asyncio.get_running_loop()
        seen, since = len(self.load.accepted), loop.time()
        while True:
            await asyncio.sleep(self.every_s)
            now = len(self.load.accepted)
            if now != seen:
                seen, since = now, loop.time()
            elif now < self.load.count:
                self.longest_s = max(self.longest_s, loop.time() - since)


async def take(fault: str, gw, store, accepted: dict[str, tuple[str, ...]],
               drain_timeout: float = 40.0) -> Ledger:
    # a status the promoted replica never had (HTTP 404) is final too
    drain_s, pending, final, outcomes = await drained(
        gw, accepted, drain_timeout, ("submitted", "dead", "HTTP 404"))
    records = store.records
    ours = {k: v for k, v in records.items() if not k.startswith("foreign:")}
    expected = {f"{ev_id}:{item}" for ev_id, items in accepted.items() for item in items}
    stored = {ev_id for ev_id, items in accepted.items()
              if all(f"{ev_id}:{item}" in ours for item in items)}
    dead = {ev_id for ev_id, s in final.items() if s.get("status") == "dead"}
    forgotten = {ev_id for ev_id, s in final.items() if s.get("status") == "HTTP 404"}
    per_slot = Counter(slot_of(payload) for payload in ours.values())
    stored_twice = len(set(ours) - expected) + sum(n - 1 for n in per_slot.values() if n > 1)
    problems = []
    if pending:
        problems.append(f"{len(pending)} still accepted after {drain_timeout} s")
    if wrong := {i for i in stored - forgotten if final[i].get("status") != "submitted"}:
        problems.append(f"at the exchange but not submitted: {sorted(wrong)[:5]}")
    ledger = Ledger(fault, accepted=len(accepted), stored=len(stored),
                    dead_lettered=len(dead), stored_twice=stored_twice,
                    resent=int(store.stats().get("duplicates", 0)), drain_s=drain_s,
                    problems=problems, dead_ids=dead,
                    notes={"forgotten by the promoted replica": len(forgotten),
                           "of them at the exchange anyway": len(forgotten & stored),
                           "submitter": outcomes})
    ledger.forgotten = forgotten  # type: ignore[attr-defined]
    return ledger
