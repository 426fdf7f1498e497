"""HttpCoreStore against the loopback store; LocalCoreStore on a temp SQLite file."""

from __future__ import annotations

import pytest

from adapters.store_http import HttpCoreStore
from adapters.store_local import LocalCoreStore
from ratings.store import RejectedByStore, StoreOutcome, StoreRecord, TransientStoreError
from tests.submitter.conftest import Running, enqueue, fast_submitter, make_ev, outbox_empty
from tests.submitter.conftest import wait_for
from tests.support.corestore import DEFAULT_SECRET

RECORD = StoreRecord("ev1:P1", {"projectNo": "P1", "satisfaction": 4, "assessNumber": 1,
                                "assessTime": "2026-03-01 10:30:05", "pf": 6})


async def test_http_outcomes(store, http_store):
    assert await http_store.submit(RECORD) is StoreOutcome.STORED
    assert await http_store.submit(RECORD) is StoreOutcome.DUPLICATE
    store.fail_next(1, status=502)
    with pytest.raises(TransientStoreError, match="502"):
        await http_store.submit(RECORD)
    store.reset_next(1)
    with pytest.raises(TransientStoreError):
        await http_store.submit(RECORD)
    store.reject_next(1, reason="areaCode unknown", status=400)
    with pytest.raises(RejectedByStore) as info:
        await http_store.submit(RECORD)
    assert info.value.reason == "areaCode unknown" and info.value.status == 400
    store.reject_next(1, reason="record already exists", status=400)
    assert await http_store.submit(RECORD) is StoreOutcome.DUPLICATE
    store.fail_next(1, status=429)
    with pytest.raises(TransientStoreError, match="429"):
        await http_store.submit(RECORD)


async def test_http_timeout_is_transient(store):
    client = HttpCoreStore(store.url, DEFAULT_SECRET, timeout=0.2)
    store.slow_next(1, seconds=3, after_store=False)
    try:
        with pytest.raises(TransientStoreError, match="Timeout"):
            await client.submit(RECORD)
    finally:
        await client.close()


async def test_http_connection_refused_is_transient():
    from adapters.redis_server import free_port

    client = HttpCoreStore(f"http://127.0.0.1:{free_port()}/v1/evaluations", b"k", timeout=1)
    try:
        with pytest.raises(TransientStoreError):
            await client.submit(RECORD)
    finally:
        await client.close()


async def test_local_store_is_idempotent_and_durable(tmp_path):
    path = tmp_path / "store" / "core.sqlite3"
    local = LocalCoreStore(path)
    assert await local.submit(RECORD) is StoreOutcome.STORED
    assert await local.submit(RECORD) is StoreOutcome.DUPLICATE
    await local.close()
    reopened = LocalCoreStore(path)
    assert await reopened.submit(RECORD) is StoreOutcome.DUPLICATE
    assert await reopened.count() == 1
    assert await reopened.get("ev1:P1") == RECORD.payload
    await reopened.ping()
    await reopened.close()


async def test_submitter_drains_into_the_local_store(aredis, tmp_path):
    local = LocalCoreStore(tmp_path / "core.sqlite3")
    evs = [make_ev(f"P{i}") for i in range(30)]
    for ev in evs:
        await enqueue(aredis, ev)
    try:
        async with Running(fast_submitter(aredis, local)):
            await wait_for(lambda: outbox_empty(aredis))
        assert await local.count() == 30
        assert (await local.get(f"{evs[3].id}:P3"))["projectNo"] == "P3"
    finally:
        await local.close()
