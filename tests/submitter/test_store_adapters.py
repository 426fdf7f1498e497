"""HttpCoreStore against the loopback store; LocalCoreStore on a temp SQLite file."""

from __future__ import annotations

import pytest

from adapters.store_http import HttpCoreStore
from adapters.store_local import LocalCoreStore
from ratings.store import (
    RejectedByStore,
    StoreConflict,
    StoreOutcome,
    StoreRecord,
    TransientStoreError,
)
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


async def test_http_duplicate_is_done_only_when_the_stored_record_is_ours(store, http_store):
    foreign = dict(RECORD.payload, satisfaction=1, evalDetail="01")
    store.plant(foreign)  # another system's record holds (P1, 1)
    with pytest.raises(StoreConflict) as info:
        await http_store.submit(RECORD)
    assert "重复" in info.value.reason and "conflict" in info.value.reason
    assert "projectNo P1 assessNumber 1" in info.value.reason and info.value.status == 409
    assert store.queries == 1 and store.stored_at("P1") == foreign


async def test_http_duplicate_recognised_by_content_when_the_key_is_not_kept(store, http_store):
    store.plant(dict(RECORD.payload))  # same rating, no key of ours (e.g. an older sender)
    assert await http_store.submit(RECORD) is StoreOutcome.DUPLICATE


async def test_http_duplicate_without_a_query_is_a_conflict(store, http_store):
    assert await http_store.submit(RECORD) is StoreOutcome.STORED
    store.query_supported = False
    with pytest.raises(StoreConflict, match="cannot be ours"):
        await http_store.submit(RECORD)


async def test_http_duplicate_answer_without_the_record_is_checked_by_query(store, http_store):
    store.reject_next(1, reason="重复提交", status=409)  # carries no record: queried
    with pytest.raises(StoreConflict):
        await http_store.submit(RECORD)
    assert store.queries == 1


async def test_http_query_outage_is_transient(store, http_store):
    assert await http_store.submit(RECORD) is StoreOutcome.STORED
    await store.stop()  # the exchange goes away between the answer and the query
    with pytest.raises(TransientStoreError):
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


async def test_local_store_keeps_one_record_per_slot(tmp_path):
    local = LocalCoreStore(tmp_path / "core.sqlite3")
    other = StoreRecord("ev2:P1", dict(RECORD.payload, satisfaction=5))
    try:
        assert await local.submit(RECORD) is StoreOutcome.STORED
        with pytest.raises(StoreConflict, match="ev1:P1"):
            await local.submit(other)
        assert await local.submit(RECORD) is StoreOutcome.DUPLICATE
        follow = StoreRecord("ev3:P1", dict(RECORD.payload, assessNumber=2))
        assert await local.submit(follow) is StoreOutcome.STORED
        assert await local.count() == 2
    finally:
        await local.close()


async def test_local_store_file_from_before_the_slot_column(tmp_path):
    import json
    import sqlite3

    path = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE records (idempotency_key TEXT PRIMARY KEY, project_no TEXT,"
                 " payload TEXT NOT NULL, stored_at TEXT NOT NULL)")
    conn.execute("INSERT INTO records VALUES (?, ?, ?, ?)",
                 ("ev1:P1", "P1", json.dumps(RECORD.payload), "2026-01-01"))
    conn.commit()
    conn.close()
    local = LocalCoreStore(path)
    try:
        assert await local.submit(RECORD) is StoreOutcome.DUPLICATE
        with pytest.raises(StoreConflict):
            await local.submit(StoreRecord("ev2:P1", RECORD.payload))
    finally:
        await local.close()


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
