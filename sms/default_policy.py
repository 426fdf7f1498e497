"""Optional policy: no evaluation within 7 days counts as 基本满意 (system default).

Guangdong's earlier trial rule (DESIGN.md). Off by default. When on,
``Reminders(default_after_s=...)`` also puts each reminder id in the DEFAULTS
sorted set at completed_at + 7 days, and ``DefaultRater.run_due`` claims the
due ones (the same lease script as the dispatcher) and, for every item still
unrated, hands the intake a 基本满意 marked ``context.system_default = "true"``
on the API channel (it is nobody's reply). The evaluation id is derived from
the reminder id, so a retry after a crash is a replay, never a second rating.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone

from ratings.grades import Grade
from ratings.model import Channel, Evaluation, Target, TargetKind
from sms import keys
from sms.reminders import Reminders

log = logging.getLogger(__name__)

DEFAULT_GRADE = Grade.BASICALLY_SATISFIED
KINDS = {"i": TargetKind.ITEM, "b": TargetKind.BATCH, "t": TargetKind.THEME}
_NAMESPACE = uuid.UUID("3f0c8a52-5b7e-4d0e-9a55-7c1d2f6b9e01")


@dataclass(frozen=True)
class DefaultRatingPolicy:
    enabled: bool = False
    after_s: float = 7 * 24 * 3600


class DefaultRater:
    def __init__(self, reminders: Reminders, intake, batch: int = 200):
        self.reminders = reminders
        self.intake = intake
        self.batch = batch
        self.outcomes: dict[str, int] = {}

    async def run_due(self) -> int:
        now = self.reminders.clock()
        ids = await self.reminders.claim(self.batch, schedule=keys.DEFAULTS)
        for rid in ids:
            outcome = await self._one(rid, now)
            self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1
            await self.reminders.redis.zrem(keys.DEFAULTS, rid)
        return len(ids)

    async def _one(self, rid: str, now: float) -> str:
        reminder = await self.reminders.get(rid)
        if reminder is None:
            return "gone"
        kind = KINDS[rid[0]]
        items = reminder.items if kind is not TargetKind.ITEM else ()
        if await self.intake.is_evaluated(reminder.target_id) or (
                items and all([await self.intake.is_evaluated(i) for i in items])):
            return "rated"
        evaluation = Evaluation(
            target=Target(kind, reminder.target_id, items), channel=Channel.API,
            grade=DEFAULT_GRADE, assessed_at=datetime.fromtimestamp(now, timezone.utc),
            source_id=f"system-default:{rid}",
            context={**reminder.context(), "system_default": "true"},
            id=uuid.uuid5(_NAMESPACE, rid).hex)
        result = await self.intake.accept(evaluation)
        if result.accepted:
            await self.reminders.cancel(rid)
            return "defaulted"
        return result.reason or "refused"
