"""The loopback core store itself: signature, idempotency, every fault it can play."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from ratings.store import IDEMPOTENCY_HEADER, SIGNATURE_HEADER, StoreRecord, sign
from tests.support.corestore import (
    DEFAULT_SECRET,
    DUPLICATE_WORDING,
    CoreStoreProcess,
    LoopbackCoreStore,
)

RECORD = {"projectNo": "P1", "satisfaction": 5, "assessTime": "2026-01-01 10:00:00",
          "assessNumber": 1, "pf": 6}


def headers(record: StoreRecord, secret: bytes = DEFAULT_SECRET) -> dict:
    return {IDEMPOTENCY_HEADER: record.idempotency_key,
            SIGNATURE_HEADER: sign(secret, record.body()),
            "Content-Type": "application/json"}


async def post(session, store, record, secret=DEFAULT_SECRET):
    async with session.post(store.url, data=record.body(), headers=headers(record, secret)) as r:
        return r.status, await r.json()


async def test_stores_once_then_409():
    rec = StoreRecord("ev1:P1", RECORD)
    async with LoopbackCoreStore() as store, aiohttp.ClientSession() as session:
        assert (await post(session, store, rec))[0] == 201
        status, body = await post(session, store, rec)
        assert status == 409 and body["error"] == DUPLICATE_WORDING and "重复" in body["error"]
        assert store.records == {"ev1:P1": RECORD}
        assert store.duplicates["ev1:P1"] == 1


async def test_one_record_per_project_and_assess_number():
    """The exchange refuses a repeated (projectNo, assessNumber) whoever sends it."""
    first, other = StoreRecord("ev1:P1", RECORD), StoreRecord("ev2:P1", dict(RECORD,
                                                                              satisfaction=4))
    follow_up = StoreRecord("ev3:P1", dict(RECORD, assessNumber=2))
    async with LoopbackCoreStore() as store, aiohttp.ClientSession() as session:
        assert (await post(session, store, first))[0] == 201
        status, body = await post(session, store, other)
        assert status == 409 and "重复" in body["error"]
        assert (await post(session, store, follow_up))[0] == 201
        assert sorted(store.records) == ["ev1:P1", "ev3:P1"]
        assert store.refused_repeats["ev2:P1"] == 1 and not store.duplicates


async def query(session, store, project_no, number=1, secret=DEFAULT_SECRET):
    qs = f"projectNo={project_no}&assessNumber={number}"
    async with session.get(f"{store.url}?{qs}",
                           headers={SIGNATURE_HEADER: sign(secret, qs.encode())}) as r:
        return r.status, await r.json()


async def test_query_answers_what_is_stored_in_a_slot():
    async with LoopbackCoreStore() as store, aiohttp.ClientSession() as session:
        assert (await query(session, store, "P1"))[0] == 404
        await post(session, store, StoreRecord("ev1:P1", RECORD))
        status, body = await query(session, store, "P1")
        assert status == 200 and body["record"] == RECORD and body["idempotencyKey"] == "ev1:P1"
        assert (await query(session, store, "P1", secret=b"wrong"))[0] == 401
        store.plant(dict(RECORD, projectNo="P2", satisfaction=1, evalDetail="x"))
        status, body = await query(session, store, "P2")
        assert status == 200 and "idempotencyKey" not in body  # not one of ours
        store.query_supported = False
        assert (await query(session, store, "P1"))[0] == 404


async def test_blank_comment_is_no_reason_for_a_bad_grade():
    rec = StoreRecord("ev1:P1", dict(RECORD, satisfaction=2, writingEvaluation="  "))
    async with LoopbackCoreStore() as store, aiohttp.ClientSession() as session:
        status, body = await post(session, store, rec)
        assert status == 422 and "writingEvaluation" in body["error"]


async def test_bad_signature_is_401_and_nothing_stored():
    rec = StoreRecord("ev1:P1", RECORD)
    async with LoopbackCoreStore() as store, aiohttp.ClientSession() as session:
        status, _ = await post(session, store, rec, secret=b"wrong")
        assert status == 401
        assert store.records == {}


async def test_bad_rating_without_reason_is_422():
    rec = StoreRecord("ev1:P1", dict(RECORD, satisfaction=1))
    async with LoopbackCoreStore() as store, aiohttp.ClientSession() as session:
        status, body = await post(session, store, rec)
        assert status == 422 and "evalDetail" in body["error"]


async def test_faults_are_served_in_order():
    rec = StoreRecord("ev1:P1", RECORD)
    async with LoopbackCoreStore() as store, aiohttp.ClientSession() as session:
        store.fail_next(1, status=502)
        store.conflict_next(1)
        store.reject_next(1, reason="taskCode unknown", status=400)
        assert (await post(session, store, rec))[0] == 502
        assert (await post(session, store, rec))[0] == 409
        assert await post(session, store, rec) == (400, {"error": "taskCode unknown"})
        assert store.records == {}
        assert (await post(session, store, rec))[0] == 201


async def test_reset_and_slow_after_store_keep_the_record():
    rec = StoreRecord("ev1:P1", RECORD)
    async with LoopbackCoreStore() as store, aiohttp.ClientSession() as session:
        store.reset_next(1, after_store=True)
        with pytest.raises(aiohttp.ClientError):
            await post(session, store, rec)
        assert "ev1:P1" in store.records
        store.slow_next(1, seconds=5)
        timeout = aiohttp.ClientTimeout(total=0.2)
        with pytest.raises(asyncio.TimeoutError):
            async with session.post(store.url, data=rec.body(), headers=headers(rec),
                                    timeout=timeout):
                pass
        assert store.duplicates["ev1:P1"] == 1


async def test_reset_before_store_stores_nothing():
    rec = StoreRecord("ev1:P1", RECORD)
    async with LoopbackCoreStore() as store, aiohttp.ClientSession() as session:
        store.reset_next(1)
        with pytest.raises(aiohttp.ClientError):
            await post(session, store, rec)
        assert store.records == {}


def test_store_in_another_process_is_driven_over_http():
    import urllib.error
    import urllib.request

    rec = StoreRecord("ev9:P9", RECORD)
    with CoreStoreProcess() as store:
        store.faults(fail_next={"n": 1, "status": 500})

        def send():
            req = urllib.request.Request(store.url, data=rec.body(), headers=headers(rec))
            try:
                with urllib.request.urlopen(req, timeout=10) as r:
                    return r.status
            except urllib.error.HTTPError as exc:
                return exc.code

        assert send() == 500
        assert send() == 201
        assert send() == 409
        assert store.stats() == {"stored": 1, "duplicates": 1, "refused_repeats": 0,
                                 "requests": 3, "faults_served": {"5xx": 1},
                                 "faults_pending": 0}
        assert store.records() == {"ev9:P9": RECORD}
        key = store.plant(dict(RECORD, projectNo="P8"))
        assert store.records()[key]["projectNo"] == "P8"
