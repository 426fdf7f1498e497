"""Every Redis key name and TTL of the SMS channel, in one place.

Same hash tag as ratings.keys (``{hcp}``) so the Lua scripts that move several
keys together stay in one Redis Cluster slot. Phone numbers enter keys only as
``ratings.keys.phone_ref`` (an HMAC); the number itself is a value in the
reminder record, because the dispatcher must text it.

  DUE                 zset: reminder id -> epoch second it is due (or its claim lease ends)
  reminder(rid)       hash: the compact pending record (see sms.reminders.FIELDS)
  codes(ref)          hash: reply code -> reminder id for one number; field "_seq" allocates
  OPTOUT              set of phone refs that sent TD/退订 (kept for good: no TTL, on purpose)
  daily(ref, day)     counter of reminders sent to one number on one local day
  message(mid)        hash: one sent MT: reminder id, carrier, per-segment receipt state
  carrier_id(c, cid)  string: carrier's message id -> our message id (receipt matching)
  early_receipt(c, cid) string: a receipt that arrived before its message was recorded
  conversation(rid)   string: the flow session (JSON) while it waits for the next reply
  reply_limit(ref, h) counter of automatic answers to one number in one hour
  WAITS               zset: reminder id -> when its waiting conversation times out
  conversation_lock(ref) short lock: one number's replies handled by one process at a time
  CALLBACK_NONCE_PREFIX + hash  string: a signed provider callback's nonce, kept while its
                      timestamp is inside the window (replay guard, adapters.sms_http)
  elsewhere(item)     string: the item was rated on a channel that reports straight to the
                      province (sms.rated); kept ELSEWHERE_TTL_S
  FLAGGED             stream: replies that report pressure (seed art. 4) for supervisors;
                      capped at FLAGGED_MAXLEN entries and expired FLAGGED_TTL_S after the last
"""

from __future__ import annotations

from ratings.keys import TAG, phone_ref  # noqa: F401  (re-exported for the SMS modules)

PREFIX = f"{TAG}:sms"
DUE = f"{PREFIX}:due"
DEFAULTS = f"{PREFIX}:default"  # zset: reminder id -> when 7 days without rating end (policy)
OPTOUT = f"{PREFIX}:optout"
WAITS = f"{PREFIX}:waits"
FLAGGED = f"{PREFIX}:flagged"
FLAGGED_MAXLEN = 10000
FLAGGED_TTL_S = 90 * 24 * 3600
CONVERSATION_LOCK_S = 30  # a lock outlives no crashed holder by more than this

# A record outlives its due time by the reply window, so a late reply with its
# code still finds the item; codes(ref) is refreshed to the same horizon.
REPLY_WINDOW_S = 15 * 24 * 3600
DAILY_TTL_S = 2 * 24 * 3600
MESSAGE_TTL_S = 30 * 24 * 3600
CARRIER_ID_TTL_S = 7 * 24 * 3600
EARLY_RECEIPT_TTL_S = 24 * 3600


def reminder(rid: str) -> str:
    return f"{PREFIX}:r:{rid}"


def codes(ref: str) -> str:
    return f"{PREFIX}:codes:{ref}"


def daily(ref: str, day: str) -> str:
    return f"{PREFIX}:day:{ref}:{day}"


def message(mid: str) -> str:
    return f"{PREFIX}:msg:{mid}"


def carrier_id(carrier: str, cid: str) -> str:
    return f"{PREFIX}:cid:{carrier}:{cid}"


def conversation(rid: str) -> str:
    return f"{PREFIX}:conv:{rid}"


def reply_limit(ref: str, hour: int) -> str:
    return f"{PREFIX}:ar:{ref}:{hour}"


def early_receipt(carrier: str, cid: str) -> str:
    return f"{PREFIX}:early:{carrier}:{cid}"


def conversation_lock(ref: str) -> str:
    return f"{PREFIX}:lock:{ref}"


ELSEWHERE_TTL_S = 60 * 24 * 3600  # beyond any reminder or reply window of an item


def elsewhere(item_id: str) -> str:
    return f"{PREFIX}:elsewhere:{item_id}"

CALLBACK_NONCE_PREFIX = f"{PREFIX}:cb-nonce:"
