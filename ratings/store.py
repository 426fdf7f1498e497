"""The core rating store as the submitter sees it: one record in, one outcome out.

A ``CoreStore`` takes one ``StoreRecord`` (one item of one evaluation, already in
the store's own JSON shape) and either stores it, recognises it as a duplicate,
or raises. The two exceptions split failures by what the caller must do:

  TransientStoreError   try again later (connection error, timeout, 5xx, 429)
  RejectedByStore       never retry; dead-letter with ``reason`` (4xx, and conflicts)

The idempotency key travels with every record (HTTP ``Idempotency-Key`` header,
UNIQUE column in the local store), so a retried or re-claimed record is answered
DUPLICATE instead of being stored twice.

The duplicate rule is honest: the exchange refuses a repeated (projectNo,
assessNumber) whoever sent the first one, so a "duplicate" answer is DUPLICATE
(done) only when the record stored there is ours (``is_ours``: the same
idempotency key where the store tells it, else the same content). Anything else
is ``StoreConflict`` (a ``RejectedByStore``): the evaluation goes to the dead
letters with the store's words, never silently counted as stored.

A record has a ``kind``: ``"evaluation"`` (a rating) or ``"correction"`` (seed art.
15: a rating verified as 误评/恶意差评 and excluded by two supervisors, reported to
the exchange so that it does not count there either; built by ``ratings.corrections``).
A correction names the original record's slot (projectNo, assessNumber) and says why;
the exchange keeps one correction per slot, and the same duplicate rule applies to it
(``CORRECTION_IDENTITY_FIELDS``). Each store sends a correction where its contract
says (the HTTP store: ``correction_url``; the local store: its ``corrections`` table).

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
    payload: dict  # national-style JSON record (ratings.records, ratings.corrections)
    kind: str = "evaluation"  # EVALUATION | CORRECTION

    def body(self) -> bytes:
        """The canonical bytes sent and signed (compact, UTF-8, keys sorted)."""
        return json.dumps(self.payload, ensure_ascii=False, separators=(",", ":"),
                          sort_keys=True).encode()


EVALUATION = "evaluation"
CORRECTION = "correction"


class StoreOutcome(Enum):
    STORED = "stored"
    DUPLICATE = "duplicate"  # the store already holds this very record: done


class TransientStoreError(Exception):
    """The store may accept the record later: retry with backoff."""


class RejectedByStore(Exception):
    """The store refused the record for good; ``reason`` is its own words."""

    def __init__(self, reason: str, status: int | None = None):
        super().__init__(f"rejected by store ({status}): {reason}" if status else reason)
        self.reason = reason
        self.status = status


class StoreConflict(RejectedByStore):
    """A "duplicate" answer for a record that is not ours: another record holds its slot."""


# What makes two records the same rating: the slot, the grade, the time and the words.
IDENTITY_FIELDS = ("projectNo", "assessNumber", "satisfaction", "assessTime", "proManager",
                   "evalDetail", "writingEvaluation")
# What makes two corrections the same: the slot they correct, the type and the reason.
CORRECTION_IDENTITY_FIELDS = ("projectNo", "assessNumber", "correctionType", "reason")


def _norm(value) -> str:
    return "" if value is None else str(value).strip()


def is_ours(record: StoreRecord, stored_key: str | None, stored: dict | None) -> bool:
    """True when what the store holds in ``record``'s slot is this very record.

    ``stored_key``: the idempotency key the store kept with it, if it tells; then the
    key decides. Otherwise the content decides (``IDENTITY_FIELDS``, compared as text:
    a store may answer numbers as strings). Nothing stored is not ours."""
    if stored_key:
        return stored_key == record.idempotency_key
    if not isinstance(stored, dict):
        return False
    fields = CORRECTION_IDENTITY_FIELDS if record.kind == CORRECTION else IDENTITY_FIELDS
    return all(_norm(stored.get(f)) == _norm(record.payload.get(f)) for f in fields)


def conflict_reason(record: StoreRecord, store_words: str, found: bool) -> str:
    """The dead letter's reason for a duplicate answer that is not ours."""
    slot = (f"projectNo {record.payload.get('projectNo')} assessNumber "
            f"{record.payload.get('assessNumber')}")
    what = ("holds a different record" if found
            else "shows no record there, so it cannot be ours")
    return f"{store_words} — conflict: the store {what} ({slot})"


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
