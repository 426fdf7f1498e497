"""Every Redis key name and TTL of the rating layer, in one place.

All keys share one hash tag, ``{hcp}``, so that the atomic intake step (dedupe
keys + outbox + status record) touches one Redis Cluster slot. No key holds a
phone number: numbers enter keys only as an HMAC (see ``phone_ref``).

Contract between intake and submitter:
  OUTBOX          stream; each entry has fields ``id`` (evaluation id) and
                  ``ev`` (Evaluation JSON). Consumer group OUTBOX_GROUP.
  evaluation(id)  hash: status (accepted|submitted|dead), attempts, last_error,
                  accepted_at, submitted_at, ev (JSON). TTL once final.
  DEAD            stream of dead-lettered evaluations: id, reason.
"""

from __future__ import annotations

import hashlib
import hmac

TAG = "{hcp}"

OUTBOX = f"{TAG}:outbox"
OUTBOX_GROUP = "submitters"
DEAD = f"{TAG}:dead"

# A dedupe key lives as long as an item can be re-rated by mistake; a final
# evaluation record long enough to answer GET /v1/evaluations/{id}.
DEDUPE_TTL_S = 3 * 365 * 24 * 3600
RECORD_TTL_S = 90 * 24 * 3600


def evaluation(ev_id: str) -> str:
    return f"{TAG}:ev:{ev_id}"


def phone_ref(secret: bytes, e164: str) -> str:
    """Keyed hash of a phone number: usable in keys, useless to a reader."""
    return hmac.new(secret, e164.encode(), hashlib.sha256).hexdigest()[:32]
