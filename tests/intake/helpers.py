"""Shared helpers of the intake tests: a controllable clock, an evaluation builder."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from ratings.grades import Grade
from ratings.model import Channel, Evaluation, Target, TargetKind

T0 = datetime(2026, 11, 27, 10, 0, tzinfo=timezone.utc)
WINDOW = timedelta(days=15)


class Clock:
    """utcnow stand-in that moves only when told to."""

    def __init__(self, now: datetime = T0):
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


def make_ev(kind: str = "item", target_id: str = "P1", items: tuple[str, ...] = (),
            staff: str | None = None, assess: int = 1, channel: Channel = Channel.SMS,
            grade: Grade = Grade.SATISFIED, phone: str | None = None) -> Evaluation:
    return Evaluation(
        target=Target(TargetKind(kind), target_id, tuple(items), staff),
        channel=channel, grade=grade, assessed_at=T0, phone=phone, assess_number=assess)
