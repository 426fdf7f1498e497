"""Quiet hours: when a reminder may go out, in the evaluator's local time. Pure.

A reminder due outside the allowed window is deferred to the next opening, not
dropped. The window is [start, end) local time, e.g. 08:00–21:00 Asia/Shanghai;
start == end means no quiet hours.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class QuietHours:
    start: time = time(8, 0)
    end: time = time(21, 0)
    tz: str = "Asia/Shanghai"

    def _local(self, epoch: float) -> datetime:
        return datetime.fromtimestamp(epoch, timezone.utc).astimezone(ZoneInfo(self.tz))

    def allows(self, epoch: float) -> bool:
        if self.start == self.end:  # no quiet hours at all
            return True
        now = self._local(epoch).time()
        return self.start <= now < self.end

    def next_allowed(self, epoch: float) -> float:
        """``epoch`` itself when allowed, else the next window opening."""
        if self.allows(epoch):
            return epoch
        local = self._local(epoch)
        opening = local.replace(hour=self.start.hour, minute=self.start.minute,
                                second=0, microsecond=0)
        if opening <= local:
            opening += timedelta(days=1)
        return opening.timestamp()

    def day(self, epoch: float) -> str:
        """Local calendar day, the unit of the per-number daily cap."""
        return self._local(epoch).strftime("%Y%m%d")

    def next_day_opening(self, epoch: float) -> float:
        local = self._local(epoch) + timedelta(days=1)
        opening = local.replace(hour=self.start.hour, minute=self.start.minute,
                                second=0, microsecond=0)
        return opening.timestamp()
