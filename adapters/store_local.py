"""The embedded core store: an SQLite file in the data directory.

So that a fresh install runs on its own and a pilot can run without the
provincial system. The idempotency key is the PRIMARY KEY: ``INSERT OR IGNORE``
stores a record once and answers DUPLICATE ever after (also when the same key
comes twice in one batch), which is exactly the contract of the HTTP store.
Like the exchange it keeps one record per (projectNo, assessNumber): a record with
a new key whose slot another key holds is not stored and answers StoreConflict
(dead letter, with the key that holds the slot), never DUPLICATE.

A correction (``StoreRecord.kind == "correction"``: a rating excluded as 误评/恶意差评,
seed art. 15) goes to the ``corrections`` table, one per corrected slot, in the same
batch transaction: refused (RejectedByStore) if no rating is stored in that slot, a
repeat of its key is DUPLICATE, another key for a corrected slot a StoreConflict.

Theory of operation (group commit):
  ``submit`` puts (record, future) on a pending list and awaits the future. One
  committer task per event loop takes everything pending (up to ``max_batch``),
  hands the batch to one dedicated worker thread (one connection, never shared
  across threads) that runs ``BEGIN IMMEDIATE``, one INSERT per record, ``COMMIT``,
  and only after the commit answers every caller of the batch. While a batch is
  being committed the next one gathers, so under load the cost of a commit and
  of a thread hand-off is shared by the submitter's whole in-flight window; when
  idle a lone record is committed at once (no timer, no added latency).
  A failed batch rolls back and every caller in it gets TransientStoreError; the
  submitter retries, and the UNIQUE key keeps a retried record single.

Durability: WAL journal with ``synchronous=FULL``: the WAL is fsynced at every
commit, so an acknowledged record survives a process crash *and* a power loss /
OS crash (given a disk that honours fsync). NORMAL would survive a process crash
but could lose the last commits on power loss; with group commit the fsync is
paid once per batch, so FULL costs little here and we keep it. The outbox entry
is acked only after the store answered, so anything not committed is retried.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

from ratings.records import RecordOptions
from ratings.store import (
    CORRECTION,
    RejectedByStore,
    StoreConflict,
    StoreOutcome,
    StoreRecord,
    TransientStoreError,
    conflict_reason,
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    idempotency_key TEXT PRIMARY KEY,
    project_no      TEXT,
    payload         TEXT NOT NULL,
    stored_at       TEXT NOT NULL
)
"""
# Added after the first release: a file from before gets the column, filled from the
# payload (its rows may hold the old staff/item collisions: the index is not UNIQUE,
# the slot check in _insert_batch keeps new records apart).
MIGRATE = (
    "ALTER TABLE records ADD COLUMN assess_number INTEGER",
    "UPDATE records SET assess_number = json_extract(payload, '$.assessNumber')"
    " WHERE assess_number IS NULL",
)
CORRECTIONS = """
CREATE TABLE IF NOT EXISTS corrections (
    idempotency_key TEXT PRIMARY KEY,
    project_no      TEXT NOT NULL,
    assess_number   INTEGER,
    payload         TEXT NOT NULL,
    stored_at       TEXT NOT NULL,
    UNIQUE (project_no, assess_number)
)
"""
NO_ORIGINAL_WORDING = "更正失败：原评价不存在"
SLOT_INDEX = ("CREATE INDEX IF NOT EXISTS records_slot ON records (project_no, assess_number)")
SLOT_HOLDER = ("SELECT idempotency_key FROM records WHERE project_no = ? AND assess_number = ?"
               " LIMIT 1")
SYNCHRONOUS = "FULL"  # see the module docstring
INSERT = ("INSERT OR IGNORE INTO records"
          " (idempotency_key, project_no, assess_number, payload, stored_at)"
          " VALUES (?, ?, ?, ?, ?)")
SLOT_WORDING = "评价信息重复提交：该办件编号的本次评价已存在"


class LocalCoreStore:
    def __init__(self, path: str | Path, record_options: RecordOptions | None = None,
                 max_batch: int = 512, busy_timeout: float = 5.0):
        self.path = Path(path)
        self.record_options = record_options or RecordOptions()
        self.max_batch = max_batch
        self.busy_timeout = busy_timeout  # wait this long for another writer's lock
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="local-store")
        self._conn: sqlite3.Connection | None = None
        self._pending: list[tuple[StoreRecord, asyncio.Future]] = []
        self._wakeup: asyncio.Event | None = None
        self._committer: asyncio.Task | None = None
        self._busy = False  # a batch is on the worker thread
        # batches committed and records in them (bench and tests read these)
        self.commits = 0
        self.committed_records = 0

    # -- worker thread -----------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        if self._conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=self.busy_timeout, isolation_level=None,
                                   check_same_thread=False)  # only ever our one thread
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={SYNCHRONOUS}")
            conn.execute(SCHEMA)
            columns = {row[1] for row in conn.execute("PRAGMA table_info(records)")}
            if "assess_number" not in columns:
                for statement in MIGRATE:
                    conn.execute(statement)
            conn.execute(SLOT_INDEX)
            conn.execute(CORRECTIONS)
            self._conn = conn
        return self._conn

    def _insert_one(self, conn: sqlite3.Connection, r: StoreRecord, now: str):
        """STORED, DUPLICATE (this key is there) or a StoreConflict (its slot is taken)."""
        project, number = str(r.payload.get("projectNo", "")), r.payload.get("assessNumber")
        if r.kind == CORRECTION:
            return self._insert_correction(conn, r, project, number, now)
        holder = conn.execute(SLOT_HOLDER, (project, number)).fetchone()
        if holder is not None and holder[0] != r.idempotency_key:
            if conn.execute("SELECT 1 FROM records WHERE idempotency_key = ?",
                            (r.idempotency_key,)).fetchone():
                return StoreOutcome.DUPLICATE  # an old row of ours sharing a slot
            return StoreConflict(conflict_reason(r, SLOT_WORDING, True)
                                 + f" held by {holder[0]}", 409)
        new = conn.execute(INSERT, (
            r.idempotency_key, project, number,
            json.dumps(r.payload, ensure_ascii=False, sort_keys=True), now)).rowcount == 1
        return StoreOutcome.STORED if new else StoreOutcome.DUPLICATE

    def _insert_correction(self, conn: sqlite3.Connection, r: StoreRecord, project: str,
                           number, now: str):
        """A correction of the rating stored in (project, number): once per slot."""
        if conn.execute("SELECT 1 FROM corrections WHERE idempotency_key = ?",
                        (r.idempotency_key,)).fetchone():
            return StoreOutcome.DUPLICATE
        holder = conn.execute("SELECT idempotency_key FROM corrections WHERE project_no = ?"
                              " AND assess_number = ?", (project, number)).fetchone()
        if holder is not None:
            return StoreConflict(conflict_reason(r, SLOT_WORDING, True)
                                 + f" corrected by {holder[0]}", 409)
        if conn.execute(SLOT_HOLDER, (project, number)).fetchone() is None:
            return RejectedByStore(f"{NO_ORIGINAL_WORDING} (projectNo {project} "
                                   f"assessNumber {number})", 422)
        conn.execute("INSERT INTO corrections (idempotency_key, project_no, assess_number,"
                     " payload, stored_at) VALUES (?, ?, ?, ?, ?)",
                     (r.idempotency_key, project, number,
                      json.dumps(r.payload, ensure_ascii=False, sort_keys=True), now))
        return StoreOutcome.STORED

    def _insert_batch(self, records: list[StoreRecord]) -> list:
        """One transaction for the whole batch; an outcome (or conflict) per record."""
        conn = self._connect()
        now = datetime.now(timezone.utc).isoformat()
        conn.execute("BEGIN IMMEDIATE")
        try:
            stored = [self._insert_one(conn, r, now) for r in records]
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return stored

    async def _run(self, fn, *args):
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, fn, *args)
        except sqlite3.OperationalError as exc:  # locked, disk full: may pass
            raise TransientStoreError(f"sqlite: {exc}") from exc

    # -- group commit --------------------------------------------------------
    def _ensure_committer(self) -> None:
        loop = asyncio.get_running_loop()
        if self._committer is None or self._committer.done() \
                or self._committer.get_loop() is not loop:
            self._wakeup = asyncio.Event()
            self._committer = loop.create_task(self._commit_loop(), name="local-store-commit")

    async def _commit_loop(self) -> None:
        while True:
            if not self._pending:
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            batch = self._pending[:self.max_batch]
            del self._pending[:self.max_batch]
            self._busy = True
            try:
                stored = await self._run(self._insert_batch, [r for r, _ in batch])
            except asyncio.CancelledError:
                for _, fut in batch:
                    if not fut.done():
                        fut.set_exception(TransientStoreError("local store closing"))
                raise
            except Exception as exc:  # noqa: BLE001 - every caller of the batch hears it
                error = exc if isinstance(exc, TransientStoreError) \
                    else TransientStoreError(f"sqlite: {exc}")
                for _, fut in batch:
                    if not fut.done():
                        fut.set_exception(error)
                continue
            finally:
                self._busy = False
            self.commits += 1
            self.committed_records += len(batch)
            for (_, fut), outcome in zip(batch, stored, strict=True):
                if fut.done():  # a caller that gave up is simply not answered
                    continue
                if isinstance(outcome, RejectedByStore):  # a StoreConflict too
                    fut.set_exception(outcome)
                else:
                    fut.set_result(outcome)

    async def submit(self, record: StoreRecord) -> StoreOutcome:
        self._ensure_committer()
        fut = asyncio.get_running_loop().create_future()
        self._pending.append((record, fut))
        self._wakeup.set()
        return await fut

    async def ping(self) -> None:
        """Raises if the file cannot be opened or read (for /readyz)."""
        await self._run(lambda: self._connect().execute("SELECT 1").fetchone())

    # -- reading back (console, tests) ------------------------------------
    def _count(self) -> int:
        return self._connect().execute("SELECT COUNT(*) FROM records").fetchone()[0]

    def _get(self, key: str) -> dict | None:
        row = self._connect().execute(
            "SELECT payload FROM records WHERE idempotency_key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def _corrections(self) -> dict[str, dict]:
        rows = self._connect().execute(
            "SELECT idempotency_key, payload FROM corrections ORDER BY rowid").fetchall()
        return {key: json.loads(payload) for key, payload in rows}

    async def corrections(self) -> dict[str, dict]:
        """Every correction stored: idempotency key -> payload."""
        return await self._run(self._corrections)

    async def count(self) -> int:
        return await self._run(self._count)

    async def get(self, idempotency_key: str) -> dict | None:
        return await self._run(self._get, idempotency_key)

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    async def close(self) -> None:
        """Commits what is pending, then closes the file."""
        if self._committer is not None and not self._committer.done():
            while self._pending or self._busy:  # answer everyone already waiting
                await asyncio.sleep(0.001)
            self._committer.cancel()
            try:
                await self._committer
            except asyncio.CancelledError:
                pass
        self._committer = None
        await self._run(self._close)
        self._executor.shutdown(wait=True)


def read_records(path: str | Path, project_no: str | None = None,
                 evaluation_id: str | None = None, last: int = 20) -> tuple[list[dict], int]:
    """The ``last`` records stored (oldest first) and how many match in all, read-only
    and without the gateway (``hcp store records``, ``hcp evaluations show``).

    Each: ``idempotency_key``, ``evaluation_id``, ``project_no``, ``stored_at`` and the
    ``payload`` as stored. FileNotFoundError if no record was ever stored there."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(str(path))
    where, args = [], []
    if project_no is not None:
        where.append("project_no = ?")
        args.append(project_no)
    if evaluation_id is not None:  # keys are "<evaluation id>:<item>": a range of the PK
        where.append("idempotency_key >= ? AND idempotency_key < ?")
        args += [f"{evaluation_id}:", f"{evaluation_id};"]
    clause = f" WHERE {' AND '.join(where)}" if where else ""
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=5)
    try:
        total = conn.execute(f"SELECT COUNT(*) FROM records{clause}", args).fetchone()[0]
        rows = conn.execute(
            "SELECT idempotency_key, project_no, payload, stored_at FROM records"
            f"{clause} ORDER BY rowid DESC LIMIT ?", [*args, max(last, 0)]).fetchall()
    finally:
        conn.close()
    return [{"idempotency_key": key, "evaluation_id": key.partition(":")[0],
             "project_no": project, "stored_at": stored_at, "payload": json.loads(payload)}
            for key, project, payload, stored_at in reversed(rows)], total
