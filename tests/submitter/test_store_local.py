"""LocalCoreStore's group commit on a real SQLite file: many concurrent submits share
commits, each caller hears its own outcome only after the commit, duplicates (also
inside one batch) answer DUPLICATE, a locked file fails the batch as transient."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from adapters.store_local import LocalCoreStore
from ratings.store import StoreOutcome, StoreRecord, TransientStoreError


def record(i: int | str) -> StoreRecord:
    return StoreRecord(f"ev{i}:P{i}", {"projectNo": f"P{i}", "satisfaction": 4,
                                       "assessNumber": 1, "pf": 6})


def rows_on_disk(path) -> dict[str, int]:
    """Read through a separate connection: what is committed, not what is cached."""
    conn = sqlite3.connect(path)
    try:
        return dict(conn.execute(
            "SELECT idempotency_key, COUNT(*) FROM records GROUP BY idempotency_key"))
    finally:
        conn.close()


async def test_concurrent_submits_share_commits_and_are_on_disk_when_answered(tmp_path):
    path = tmp_path / "core.sqlite3"
    store = LocalCoreStore(path)
    seen_on_disk: list[bool] = []

    async def submit(i):
        outcome = await store.submit(record(i))
        seen_on_disk.append(f"ev{i}:P{i}" in rows_on_disk(path))
        return outcome

    try:
        outcomes = await asyncio.gather(*(submit(i) for i in range(300)))
        assert outcomes == [StoreOutcome.STORED] * 300
        assert all(seen_on_disk)  # answered only after the commit
        assert store.committed_records == 300
        assert store.commits < 300  # grouped: the first commit runs while others queue
    finally:
        await store.close()
    assert rows_on_disk(path) == {f"ev{i}:P{i}": 1 for i in range(300)}


async def test_duplicates_inside_one_batch_and_across_reopen(tmp_path):
    path = tmp_path / "core.sqlite3"
    store = LocalCoreStore(path)
    try:
        outcomes = await asyncio.gather(*(store.submit(record(i % 5)) for i in range(20)))
        assert outcomes.count(StoreOutcome.STORED) == 5
        assert outcomes.count(StoreOutcome.DUPLICATE) == 15
        for i in range(5):  # the first submit of each key is the one stored
            assert outcomes[i] is StoreOutcome.STORED
    finally:
        await store.close()
    reopened = LocalCoreStore(path)
    try:
        assert await reopened.submit(record(3)) is StoreOutcome.DUPLICATE
        assert await reopened.count() == 5
    finally:
        await reopened.close()


async def test_a_locked_file_fails_the_whole_batch_as_transient(tmp_path):
    path = tmp_path / "core.sqlite3"
    store = LocalCoreStore(path, busy_timeout=0.2)
    await store.submit(record("first"))  # creates the file and table
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another writer holds the lock
    try:
        answers = await asyncio.gather(*(store.submit(record(i)) for i in range(10)),
                                       return_exceptions=True)
        assert all(isinstance(a, TransientStoreError) for a in answers), answers
        other.execute("ROLLBACK")
        # the retry (as the submitter would do it) stores them, once each
        assert await asyncio.gather(*(store.submit(record(i)) for i in range(10))) \
            == [StoreOutcome.STORED] * 10
        assert await store.count() == 11
    finally:
        other.close()
        await store.close()


async def test_close_answers_every_waiting_caller(tmp_path):
    store = LocalCoreStore(tmp_path / "core.sqlite3")
    tasks = [asyncio.create_task(store.submit(record(i))) for i in range(100)]
    await asyncio.sleep(0)  # all queued, first batch on the worker thread
    await store.close()
    assert [t.result() for t in tasks] == [StoreOutcome.STORED] * 100


@pytest.mark.parametrize("max_batch", [1, 7])
async def test_small_batches_still_store_everything(tmp_path, max_batch):
    store = LocalCoreStore(tmp_path / "core.sqlite3", max_batch=max_batch)
    try:
        outcomes = await asyncio.gather(*(store.submit(record(i)) for i in range(40)))
        assert outcomes == [StoreOutcome.STORED] * 40
        assert store.commits >= 40 // max_batch
    finally:
        await store.close()
