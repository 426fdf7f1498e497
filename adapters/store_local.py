"""The embedded core store: an SQLite file in the data directory.

So that a fresh install runs on its own and a pilot can run without the
provincial system. The idempotency key is the PRIMARY KEY: ``INSERT OR IGNORE``
stores a record once and answers DUPLICATE ever after, which is exactly the
contract of the HTTP store.

SQLite is blocking, so every statement runs on one dedicated worker thread (one
connection, never shared across threads). WAL mode with synchronous=NORMAL keeps
a commit cheap and survives a process crash (an OS crash may lose the last
commits; the outbox entry is acked only after the commit, so it is retried).
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

from ratings.records import RecordOptions
from ratings.store import StoreOutcome, StoreRecord, TransientStoreError

SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    idempotency_key TEXT PRIMARY KEY,
    project_no      TEXT,
    payload         TEXT NOT NULL,
    stored_at       TEXT NOT NULL
)
"""


class LocalCoreStore:
    def __init__(self, path: str | Path, record_options: RecordOptions | None = None):
        self.path = Path(path)
        self.record_options = record_options or RecordOptions()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="local-store")
        self._conn: sqlite3.Connection | None = None

    def _connect(self) -> sqlite3.Connection:
        if self._conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=5.0, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute(SCHEMA)
            self._conn = conn
        return self._conn

    def _insert(self, record: StoreRecord) -> bool:
        conn = self._connect()
        cursor = conn.execute(
            "INSERT OR IGNORE INTO records (idempotency_key, project_no, payload, stored_at)"
            " VALUES (?, ?, ?, ?)",
            (record.idempotency_key, str(record.payload.get("projectNo", "")),
             json.dumps(record.payload, ensure_ascii=False, sort_keys=True),
             datetime.now(timezone.utc).isoformat()))
        return cursor.rowcount == 1

    async def _run(self, fn, *args):
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, fn, *args)
        except sqlite3.OperationalError as exc:  # locked, disk full: may pass
            raise TransientStoreError(f"sqlite: {exc}") from exc

    async def submit(self, record: StoreRecord) -> StoreOutcome:
        stored = await self._run(self._insert, record)
        return StoreOutcome.STORED if stored else StoreOutcome.DUPLICATE

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

    async def count(self) -> int:
        return await self._run(self._count)

    async def get(self, idempotency_key: str) -> dict | None:
        return await self._run(self._get, idempotency_key)

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    async def close(self) -> None:
        await self._run(self._close)
        self._executor.shutdown(wait=True)
