"""The provincial core rating store over HTTP: one signed POST per record.

Theory of operation: one ``aiohttp.ClientSession`` per store, its connector sized
to the submitter's concurrency, so that many records are in flight on kept-alive
connections. Each POST carries the record's ``Idempotency-Key`` and an
HMAC-SHA256 signature over the exact body bytes. One call is one attempt; the
submitter owns retries. Answers map onto the outcomes of ``ratings.store``:

    2xx                                  STORED
    409, or a 4xx saying 重复/已存在/"already exists":
      and the stored record is ours      DUPLICATE (the record is there)
      and it is not, or nothing is shown StoreConflict(reason) (dead letter)
    408, 425, 429, 5xx, connection error,
    timeout                              TransientStoreError (retry)
    any other 4xx                        RejectedByStore(reason) (dead letter)

A duplicate answer alone proves nothing: the exchange refuses a repeated
(projectNo, assessNumber) whoever sent the first record. So the store looks at
what is stored there: the record the duplicate answer itself carries (a JSON
``record`` or ``data`` object), else a signed ``GET <query_url>?projectNo=…&
assessNumber=…`` (HMAC over the query string as sent), whose 200 answer carries
``record`` (and ``idempotencyKey`` if the exchange keeps ours). ``ratings.store.
is_ours`` decides; a query that fails transiently makes the whole attempt transient.

A correction (``StoreRecord.kind == "correction"``, seed art. 15: a rating excluded as
误评/恶意差评) is POSTed the same way, signed, with its idempotency key, to
``correction_url`` (default: ``<url>/corrections``); the answers map the same, except
that a duplicate answer is judged by the correction it carries (``record`` and
``idempotencyKey``), the record query being about ratings only.

``record_options`` (pf codes, mobile on/off) travel with the store because they
are part of one province's contract; the submitter builds records with them.
"""

from __future__ import annotations

import asyncio
import json
from urllib.parse import urlencode

import aiohttp
from yarl import URL

from ratings.model import mask_phones_in_text
from ratings.records import DEFAULT_PF_CODES, RecordOptions
from ratings.store import (
    CORRECTION,
    IDEMPOTENCY_HEADER,
    SIGNATURE_HEADER,
    RejectedByStore,
    Signer,
    StoreConflict,
    StoreOutcome,
    StoreRecord,
    TransientStoreError,
    conflict_reason,
    is_ours,
)

TRANSIENT_4XX = frozenset({408, 425, 429})
ALREADY_EXISTS = ("already exists", "已存在", "重复")


def _reason(status: int, text: str) -> str:
    """The store's own words: the JSON error/message field, else the body start.

    Phone-like runs are masked: the reason is kept in Redis (dead letters), logged
    and shown on the console, and a store may echo the evaluator's mobile back.
    """
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    words = text.strip() or f"HTTP {status}"
    if isinstance(data, dict):
        words = next((str(data[n]) for n in ("error", "message", "msg", "reason")
                      if data.get(n)), words)
    return mask_phones_in_text(words)[:500]


def _carried_record(text: str) -> tuple[str | None, dict | None]:
    """(idempotency key, record) an answer carries in ``record`` or ``data``, if any."""
    try:
        data = json.loads(text)
    except ValueError:
        return None, None
    if not isinstance(data, dict):
        return None, None
    record = next((data[n] for n in ("record", "data") if isinstance(data.get(n), dict)), None)
    key = data.get("idempotencyKey")
    return (str(key) if key else None), record


class HttpCoreStore:
    def __init__(self, url: str, hmac_secret: bytes, timeout: float = 10.0,
                 pf_codes: dict[str, int] | None = None, include_mobile: bool = False,
                 concurrency: int = 64, query_url: str | None = None,
                 correction_url: str | None = None):
        self.url = url
        self.correction_url = correction_url or url.rstrip("/") + "/corrections"
        self.query_url = query_url or url  # where "what is stored under this slot" is asked
        self.hmac_secret = hmac_secret
        self._sign = Signer(hmac_secret)
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self.concurrency = concurrency
        self.record_options = RecordOptions(
            pf_codes=dict(pf_codes or DEFAULT_PF_CODES), include_mobile=include_mobile)
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        # created on first use: a session belongs to the running event loop
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self.concurrency,
                                             limit_per_host=self.concurrency)
            self._session = aiohttp.ClientSession(connector=connector, timeout=self.timeout)
        return self._session

    async def submit(self, record: StoreRecord) -> StoreOutcome:
        body = record.body()
        headers = {IDEMPOTENCY_HEADER: record.idempotency_key,
                   SIGNATURE_HEADER: self._sign(body),
                   "Content-Type": "application/json; charset=utf-8"}
        try:
            target = self.correction_url if record.kind == CORRECTION else self.url
            async with self._client().post(target, data=body, headers=headers) as answer:
                status = answer.status
                if 200 <= status < 300:
                    await answer.read()  # the body is not needed, only read to the end
                    return StoreOutcome.STORED
                text = await answer.text(errors="replace")  # the store's reason
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            raise TransientStoreError(f"{type(exc).__name__}: {exc}"[:300]) from exc
        reason = _reason(status, text)
        if status == 409 or (400 <= status < 500 and
                             any(word in reason for word in ALREADY_EXISTS)):
            return await self._duplicate(record, reason, text)
        if status >= 500 or status in TRANSIENT_4XX:
            raise TransientStoreError(f"HTTP {status}: {reason}")
        raise RejectedByStore(reason, status)

    async def _duplicate(self, record: StoreRecord, reason: str, text: str) -> StoreOutcome:
        """DUPLICATE if the record stored in ``record``'s slot is ours, else StoreConflict."""
        key, stored = _carried_record(text)
        if stored is None and record.kind != CORRECTION:
            key, stored = await self.stored(record.payload.get("projectNo", ""),
                                            record.payload.get("assessNumber", 1))
        if is_ours(record, key, stored):
            return StoreOutcome.DUPLICATE
        raise StoreConflict(mask_phones_in_text(
            conflict_reason(record, reason, stored is not None))[:500], 409)

    async def stored(self, project_no: str, assess_number: int
                     ) -> tuple[str | None, dict | None]:
        """(idempotency key if the exchange tells it, record) stored in the slot; (None,
        None) if nothing is there or the exchange has no query. TransientStoreError if
        the exchange cannot answer now."""
        query = urlencode({"projectNo": project_no, "assessNumber": assess_number})
        url = URL(f"{self.query_url}?{query}", encoded=True)
        headers = {SIGNATURE_HEADER: self._sign(query.encode())}
        try:
            async with self._client().get(url, headers=headers) as answer:
                status = answer.status
                text = await answer.text(errors="replace")
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            raise TransientStoreError(f"query: {type(exc).__name__}: {exc}"[:300]) from exc
        if status >= 500 or status in TRANSIENT_4XX:
            raise TransientStoreError(f"query: HTTP {status}: {_reason(status, text)}")
        if status != 200:
            return None, None
        return _carried_record(text)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
