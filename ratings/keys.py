"""Every Redis key name and TTL of the rating layer, in one place.

All keys share one hash tag, ``{hcp}``, so that the atomic intake step (dedupe
keys + outbox + status record) touches one Redis Cluster slot. No key holds a
phone number: numbers enter keys only as an HMAC (see ``phone_ref``).

Contract between intake and submitter:
  OUTBOX          stream; each entry has fields ``id`` (evaluation id),
                  ``ev`` (Evaluation JSON) and ``covers`` (JSON list of the
                  record ids this evaluation produces at the store: item ids for
                  item/batch/theme targets, the visit/call id for staff; for a
                  theme only the linked items not rated on their own). Consumer
                  group OUTBOX_GROUP, created (from id 0, MKSTREAM) by the intake
                  script on first use and by ``ensure_outbox_group``.
  evaluation(id)  hash: id, status (accepted|submitted|dead), attempts,
                  last_error, accepted_at, submitted_at (ISO 8601 UTC), ev (JSON),
                  covers (JSON). Written with RECORD_TTL_S at intake; the
                  submitter refreshes the TTL when it makes the record final.
  DEAD            stream of dead-lettered evaluations: id, reason.

Intake-only keys (ratings/intake.py, ratings/lua/accept.lua):
  item(id), batch(id), theme(id), staff(visit, staff), call(id)
                  string: id of the first evaluation that holds the target.
                  DEDUPE_TTL_S.
  first(ev_id)    hash: at (epoch ms of acceptance), covers (JSON), fu (id of
                  its follow-up, once given). DEDUPE_TTL_S.

Contract between the IVR workers and the SMS channel (the SMS invitation after an
unrated call; the workers are other processes and reach the gateway only here):
  INVITATIONS     stream; fields ``call`` (the call's own id, the target an
                  invitation reply rates), ``phone`` (E.164, a value, never a key)
                  and ``at`` (ISO 8601). Consumer group INVITATIONS_GROUP (the SMS
                  channel schedules the invitation, then acknowledges and deletes).
                  Capped at INVITATIONS_MAXLEN, expires INVITED_TTL_S after the last.
  invited(call)   string "1": the call's invitation was requested; written in the
                  same script as the stream entry (``SET NX``), so one call never
                  asks twice (a retry, two workers). INVITED_TTL_S.
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
# Console statistics (results day hashes, flow funnels): a year of history and a margin.
RESULTS_TTL_S = 400 * 24 * 3600


def evaluation(ev_id: str) -> str:
    return f"{TAG}:ev:{ev_id}"


def item(item_id: str) -> str:
    return f"{TAG}:done:item:{item_id}"


def batch(batch_id: str) -> str:
    return f"{TAG}:done:batch:{batch_id}"


def theme(theme_id: str) -> str:
    return f"{TAG}:done:theme:{theme_id}"


def staff(visit_id: str, staff_id: str) -> str:
    # Length prefix: ("a:b", "c") and ("a", "b:c") must not share a key.
    return f"{TAG}:done:staff:{len(visit_id)}:{visit_id}:{staff_id}"


def call(call_id: str) -> str:
    # A hotline call rated on its own (一次一评); never the item's key.
    return f"{TAG}:done:call:{call_id}"


INVITATIONS = f"{TAG}:invite:requests"
INVITATIONS_GROUP = "sms"
INVITATIONS_MAXLEN = 100_000
INVITED_TTL_S = 7 * 24 * 3600  # far longer than any retry of a call's end


def invited(call_id: str) -> str:
    return f"{TAG}:invite:call:{call_id}"


FIRST_PREFIX = f"{TAG}:first:"


def first(ev_id: str) -> str:
    return f"{FIRST_PREFIX}{ev_id}"


async def ensure_outbox_group(redis) -> None:
    """Create the outbox stream and its consumer group if absent (idempotent).

    From id 0, so entries added before the group existed are still delivered.
    """
    try:
        await redis.xgroup_create(OUTBOX, OUTBOX_GROUP, id="0", mkstream=True)
    except Exception as exc:  # redis.ResponseError; keys.py imports no client
        if "BUSYGROUP" not in str(exc):
            raise


def decoded(value):
    """A Redis reply value as text: bytes decoded (UTF-8), anything else as it is.

    The rating layer works with clients with and without ``decode_responses``."""
    return value.decode() if isinstance(value, bytes) else value


def phone_ref(secret: bytes, e164: str) -> str:
    """Keyed hash of a phone number: usable in keys, useless to a reader."""
    return hmac.new(secret, e164.encode(), hashlib.sha256).hexdigest()[:32]
