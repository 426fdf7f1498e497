"""Fixtures of the case tests: the loopback exchange over HTTP, cases in each status."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from adapters.store_http import HttpCoreStore
from ratings import cases as C
from ratings import results
from ratings.cases import Cases
from ratings.grades import Grade
from ratings.model import Channel, Evaluation, Target, TargetKind
from tests.support.corestore import DEFAULT_SECRET

T0 = datetime(2026, 11, 27, 2, 0, tzinfo=timezone.utc)  # a Friday, 10:00 in China


def bad_ev(item: str = "GD-1", grade: Grade = Grade.VERY_DISSATISFIED, **kw) -> Evaluation:
    kw.setdefault("assessed_at", T0)
    kind = kw.pop("kind", TargetKind.ITEM)
    items = kw.pop("items", ())
    return Evaluation(target=Target(kind, item, tuple(items), kw.pop("staff_id", None)),
                      channel=kw.pop("channel", Channel.HOTLINE), grade=grade,
                      reasons=kw.pop("reasons", ("unresolved",)),
                      comment=kw.pop("comment", "问题没解决"), phone="+8613812345678",
                      context={"task_code": "T-1", "agent": "S-9", "pf": 6}, **kw)


async def opened(redis, ev: Evaluation | None = None) -> str:
    """A bad evaluation counted and its case opened (as the submitter does)."""
    ev = ev or bad_ev()
    assert await results.record_accepted(redis, ev, T0)
    return ev.id


async def called_back(cases: Cases, case_id: str, verification: str = C.UNTRUE) -> dict:
    return await cases.callback(case_id, "zhang", "回访：市民称按错键，实际满意",
                                verification, via="test")


async def totals(redis):
    day = T0.astimezone(results.CHINA).date()
    return await results.load_results(redis, day, day)


@pytest.fixture
async def http_store(store):
    client = HttpCoreStore(store.url, DEFAULT_SECRET, timeout=1.0, concurrency=8)
    yield client
    await client.close()
