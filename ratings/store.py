"""The core rating store as the submitter sees it: one record in, one outcome out.

A ``CoreStore`` takes one ``StoreRecord`` (one item of one evaluation, already in
the store's own JSON shape) and either stores it, recognises it as a duplicate,
or raises. The two exceptions split failures by what the caller must do:

  TransientStoreError   try again later (connection error, timeout, 5xx, 429)
  RejectedByStore       never retry; dead-letter with ``reason`` (4xx other than 409)

The idempotency key travels with every record (HTTP ``Idempotency-Key`` header,
UNIQUE column in the local store), so a retried or re-claimed record is answered
DUPLICATE instead of being stored twice.

The signing helpers live here because both sides need the same bytes: the HTTP
adapter signs the exact body it sends, the loopback test store verifies it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from enum import Enum
from typing import Protocol

IDEMPOTENCY_HEADER = "Idempotency-Key"
SIGNATURE_HEADER = "X-HCP-Signature"  # value: "sha256=<hex HMAC-SHA256 of the body>"


@dataclass(frozen=True)
class StoreRecord:
    """One record for the store: one item of one evaluation."""

    idempotency_key: str  # "<evaluation id>:<item>" — stable across retries and claims
    payload: dict  # national-style JSON record (ratings.records)

    def body(self) -> bytes:
        """The canonical bytes sent and signed (compact, UTF-8, keys sorted)."""
        return json.dumps(self.payload, ensure_ascii=False, separators=(",", ":"),
                          sort_keys=True).encode()


class StoreOutcome(Enum):
    STORED = "stored"
    DUPLICATE = "duplicate"  # 409 / "already exists": the record is there, which is done


class TransientStoreError(Exception):
    """The store may accept the record later: retry with backoff."""


class RejectedByStore(Exception):
    """The store refused the record for good; ``reason`` is its own words."""

    def __init__(self, reason: str, status: int | None = None):
        super().__init__(f"rejected by store ({status}): {reason}" if status else reason)
        self.reason = reason
        self.status = status


class CoreStore(Protocol):
    async def submit(self, record: StoreRecord) -> StoreOutcome: ...

    async def close(self) -> None: ...


def sign(secret: bytes, body: bytes) -> str:
    """Header value of the HMAC-SHA256 signature over ``body``."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


class Signer:
    """``sign`` with the keyed HMAC state built once (a copy per body, not a key setup)."""

    def __init__(self, secret: bytes):
        self._keyed = hmac.new(secret, digestmod=hashlib.sha256)

    def __call__(self, body: bytes) -> str:
        mac = self._keyed.copy()
        mac.update(body)
        return "sha256=" + mac.hexdigest()


def signature_ok(secret: bytes, body: bytes, header: str | None) -> bool:
    return bool(header) and hmac.compare_digest(sign(secret, body), header)
