"""Fixtures of the submitter tests: evaluations, outbox entries, a running submitter."""

from __future__ import annotations

import asyncio
import contextlib
import json
from datetime import datetime, timedelta, timezone

import pytest

from adapters.store_http import HttpCoreStore
from ratings import keys
from ratings.grades import Grade
from ratings.model import Channel, Evaluation, Target, TargetKind
from ratings.submitter import Submitter
from tests.support.corestore import DEFAULT_SECRET

ASSESSED = datetime(2026, 3, 1, 2, 30, 5, tzinfo=timezone.utc)  # 10:30:05 in Shanghai


def make_ev(item: str = "P1", kind: TargetKind = TargetKind.ITEM, items: tuple = (),
            grade: Grade = Grade.SATISFIED, channel: Channel = Channel.HOTLINE,
            **kw) -> Evaluation:
    staff = kw.pop("staff_id", "S7" if kind is TargetKind.STAFF else None)
    kw.setdefault("assessed_at", ASSESSED)
    if grade.needs_reason and "reasons" not in kw:
        kw["reasons"] = ("R01",)
    return Evaluation(target=Target(kind, item, tuple(items), staff), channel=channel,
                      grade=grade, **kw)


async def enqueue(r, ev: Evaluation, covers: list[str] | None = None) -> str:
    """What the intake writes: the status hash and the outbox entry (keys.py contract)."""
    covers_json = json.dumps(covers if covers is not None else list(ev.target.record_items()))
    await keys.ensure_outbox_group(r)
    await r.hset(keys.evaluation(ev.id), mapping={
        "id": ev.id, "status": "accepted", "attempts": 0, "last_error": "",
        "accepted_at": ASSESSED.isoformat(), "submitted_at": "", "ev": ev.to_json(),
        "covers": covers_json})
    entry = await r.xadd(keys.OUTBOX, {"id": ev.id, "ev": ev.to_json(), "covers": covers_json})
    return entry.decode() if isinstance(entry, bytes) else entry


async def status(r, ev_id: str) -> dict:
    raw = await r.hgetall(keys.evaluation(ev_id))
    return {k.decode(): v.decode() for k, v in raw.items()}


async def wait_for(predicate, timeout: float = 20.0, every: float = 0.02):
    """Poll until predicate() (sync or async) is true; fail the test after timeout."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached before the deadline")
        await asyncio.sleep(every)


async def outbox_empty(r) -> bool:
    pending = await r.xpending(keys.OUTBOX, keys.OUTBOX_GROUP)
    return await r.xlen(keys.OUTBOX) == 0 and pending["pending"] == 0


@pytest.fixture
async def http_store(store):
    client = HttpCoreStore(store.url, DEFAULT_SECRET, timeout=2.0, concurrency=16)
    yield client
    await client.close()


class Running:
    """A submitter running as a task; stopped (and awaited) on exit."""

    def __init__(self, submitter: Submitter):
        self.submitter = submitter
        self.task: asyncio.Task | None = None

    async def __aenter__(self) -> Submitter:
        self.task = asyncio.create_task(self.submitter.run())
        return self.submitter

    async def __aexit__(self, *exc) -> None:
        await self.submitter.stop(timeout=5)
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(self.task, 10)


def fast_submitter(r, store, consumer: str = "c1", **kw) -> Submitter:
    kw.setdefault("concurrency", 16)
    kw.setdefault("claim_idle", timedelta(seconds=30))
    kw.setdefault("block", timedelta(milliseconds=100))
    kw.setdefault("retry_initial", 0.01)
    kw.setdefault("retry_max_wait", 0.2)
    return Submitter(r, store, consumer, **kw)
