"""The intake: accept or refuse an evaluation, dedupe + outbox in one atomic step.

Theory of operation
-------------------
Every channel hands an ``Evaluation`` to ``Intake.accept``. One Lua script
(``ratings/lua/accept.lua``, run with EVALSHA: one round trip) checks the rules
of seed art. 14 and, only if they all pass, writes in the same step:

* the dedupe keys (``keys.item/batch/theme/staff/call``: id of the holding evaluation),
* the first record (``keys.first``: acceptance time and covered ids, for follow-ups),
* the status hash (``keys.evaluation``) the submitter and the API read,
* the outbox entry (``keys.OUTBOX``: id, ev JSON, covers) the submitter drains.

Redis runs a script atomically, so no reader ever sees a dedupe key without its
outbox entry or the reverse; a refusal writes nothing. All keys carry the
``{hcp}`` hash tag (one Cluster slot) and a TTL; none holds a phone number.

The rules
---------
* item: one first evaluation per item, any channel.
* staff: one per (visit/call id, staff id); independent of the item's rating.
* call: one per hotline call (its own key); independent of the item's rating, so a
  call about a ticket leaves the item's one evaluation and its reminder alone.
* batch: claims the batch and every item. If any item is already rated the whole
  batch is refused (nothing claimed): all-or-nothing is simple and never produces
  a second record for an item.
* theme: claims the theme and every linked item not yet rated; items already rated
  on their own are skipped and not in ``covers``. An item rated after its theme is
  refused (the theme already covers it). A theme whose items are all rated already
  is refused (it would apply to nothing).
* follow-up (assess_number 2): names the same target as a first evaluation; the
  target's key leads to the evaluation holding it. One follow-up per first
  evaluation, within ``follow_up_window`` of that evaluation's acceptance. It
  covers the item named (item target), the first's covered items (batch/theme
  target) or the visit (staff). So a follow-up on one item of a rated batch uses
  up that batch evaluation's follow-up.
* replay: the same evaluation id accepted again is answered "accepted" and writes
  nothing, so a caller may retry after a timeout.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from ratings import keys
from ratings.model import Evaluation, TargetKind, utcnow

ACCEPT_LUA = (Path(__file__).parent / "lua" / "accept.lua").read_text(encoding="utf-8")

# One polite sentence per outcome, for a channel to say or send.
MESSAGES = {
    None: "感谢您的评价，我们已收到。",
    "already_evaluated": "您已评价过，每次服务只能评价一次，感谢您的参与。",
    "follow_up_window_closed": "追加评价的期限已过，感谢您的关注。",
    "follow_up_already_given": "您已追加评价过，每次评价只能追加一次，感谢您的参与。",
    "no_first_evaluation": "尚未找到您的首次评价，暂不能追加评价，请先进行评价。",
}


@dataclass(frozen=True)
class IntakeResult:
    accepted: bool
    evaluation_id: str  # the new evaluation's id, or the one already holding the key
    reason: str | None  # None if accepted; else a key of MESSAGES
    message: str  # one polite sentence (zh) a channel can say or send


STATUS_FIELDS = ("id", "status", "attempts", "last_error", "accepted_at", "submitted_at",
                 "covers")


def target_key(ev: Evaluation) -> str:
    t = ev.target
    if t.kind is TargetKind.ITEM:
        return keys.item(t.id)
    if t.kind is TargetKind.BATCH:
        return keys.batch(t.id)
    if t.kind is TargetKind.THEME:
        return keys.theme(t.id)
    if t.kind is TargetKind.CALL:
        return keys.call(t.id)
    return keys.staff(t.id, t.staff_id or "")


class Intake:
    def __init__(self, redis, phone_secret: bytes,
                 follow_up_window: timedelta = timedelta(days=15), clock=utcnow):
        self.redis = redis
        self.phone_secret = phone_secret  # for keys.phone_ref, should a rule key by phone
        self.follow_up_window = follow_up_window
        self.clock = clock
        self._accept = redis.register_script(ACCEPT_LUA)

    def plan(self, ev: Evaluation) -> tuple[list[str], list]:
        """KEYS and ARGV of the accept script for ``ev`` (public for the benchmark)."""
        t = ev.target
        now = self.clock()
        item_ids: tuple[str, ...] = ()
        if ev.assess_number == 2:
            mode = "follow"
            covers = "" if t.kind in (TargetKind.BATCH, TargetKind.THEME) else \
                json.dumps([t.id], ensure_ascii=False)
        elif t.kind in (TargetKind.BATCH, TargetKind.THEME):
            mode = t.kind.value
            item_ids = t.items
            covers = json.dumps(list(t.items), ensure_ascii=False)  # theme: set by the script
        else:
            mode = "single"
            covers = json.dumps([t.id], ensure_ascii=False)
        script_keys = [keys.evaluation(ev.id), keys.OUTBOX, keys.first(ev.id), target_key(ev)]
        script_keys += [keys.item(i) for i in item_ids]
        args = [ev.id, ev.to_json(), mode, int(now.timestamp() * 1000), now.isoformat(),
                int(self.follow_up_window.total_seconds() * 1000), keys.DEDUPE_TTL_S,
                keys.RECORD_TTL_S, keys.OUTBOX_GROUP, covers, keys.FIRST_PREFIX, *item_ids]
        return script_keys, args

    async def accept(self, ev: Evaluation) -> IntakeResult:
        script_keys, args = self.plan(ev)
        code, holder = await self._accept(keys=script_keys, args=args)
        code, holder = keys.decoded(code), keys.decoded(holder)
        if code in ("accepted", "replay"):
            return IntakeResult(True, ev.id, None, MESSAGES[None])
        return IntakeResult(False, holder or ev.id, code, MESSAGES[code])

    async def status(self, evaluation_id: str) -> dict | None:
        raw = await self.redis.hgetall(keys.evaluation(evaluation_id))
        if not raw:
            return None
        rec = {keys.decoded(k): keys.decoded(v) for k, v in raw.items()}
        ev = Evaluation.from_json(rec.pop("ev")) if rec.get("ev") else None
        # Fields the submitter may add (e.g. store_reason) pass through as strings.
        extra = {k: v for k, v in rec.items() if k not in STATUS_FIELDS}
        return {
            **extra,
            "id": rec.get("id", evaluation_id),
            "status": rec.get("status"),
            "attempts": int(rec.get("attempts") or 0),
            "last_error": rec.get("last_error") or None,
            "accepted_at": rec.get("accepted_at") or None,
            "submitted_at": rec.get("submitted_at") or None,
            "covers": json.loads(rec["covers"]) if rec.get("covers") else [],
            "evaluation": ev.to_dict() if ev else None,
        }

    async def is_evaluated(self, item_id: str) -> bool:
        """True once any first evaluation (item, batch or theme) covers the item."""
        return bool(await self.redis.exists(keys.item(item_id)))

    async def is_call_rated(self, call_id: str) -> bool:
        """True once the hotline call (target kind call) has its first evaluation."""
        return bool(await self.redis.exists(keys.call(call_id)))
