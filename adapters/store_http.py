"""The provincial core rating store over HTTP: one signed POST per record.

Theory of operation: one ``aiohttp.ClientSession`` per store, its connector sized
to the submitter's concurrency, so that many records are in flight on kept-alive
connections. Each POST carries the record's ``Idempotency-Key`` and an
HMAC-SHA256 signature over the exact body bytes. One call is one attempt; the
submitter owns retries. Answers map onto the outcomes of ``ratings.store``:

    2xx                                  STORED
    409, or a 4xx saying "already exists" DUPLICATE (the record is there)
    408, 425, 429, 5xx, connection error,
    timeout                              TransientStoreError (retry)
    any other 4xx                        RejectedByStore(reason) (dead letter)

``record_options`` (pf codes, mobile on/off) travel with the store because they
are part of one province's contract; the submitter builds records with them.
"""

from __future__ import annotations

import asyncio
import json

import aiohttp

from ratings.model import mask_phones_in_text
from ratings.records import DEFAULT_PF_CODES, RecordOptions
from ratings.store import (
    IDEMPOTENCY_HEADER,
    SIGNATURE_HEADER,
    RejectedByStore,
    StoreOutcome,
    StoreRecord,
    Signer,
    TransientStoreError,
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


class HttpCoreStore:
    def __init__(self, url: str, hmac_secret: bytes, timeout: float = 10.0,
                 pf_codes: dict[str, int] | None = None, include_mobile: bool = False,
                 concurrency: int = 64):
        self.url = url
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
            async with self._client().post(self.url, data=body, headers=headers) as answer:
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
            return StoreOutcome.DUPLICATE
        if status >= 500 or status in TRANSIENT_4XX:
            raise TransientStoreError(f"HTTP {status}: {reason}")
        raise RejectedByStore(reason, status)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
