"""The sending window: when a reminder may go out, in the evaluator's local time. Pure.

A reminder due outside the window is deferred to the next opening, not dropped. The
window is [start, end) local time, e.g. 08:00–21:00 Asia/Shanghai. The setting names
what it does — ``sms.send_window = "08:00-21:00"`` (HCP_SMS_SEND_WINDOW), the hours
reminders are *sent* — because the old pair quiet_start/quiet_end read as "quiet from
21:00 to 08:00" and an operator who wrote it so got a window that never opened
(issue 12). ``parse_send_window`` refuses an empty or inverted window and any time
that is no clock time (25:99), so ``hcp serve --check-config`` refuses what
``hcp serve`` could not run. "00:00-24:00" sends at any hour (inside the class:
start == end).
"""

from __future__ import annotations

from dataclasses import dataclass
import re
from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_WINDOW = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*[-–~至到]\s*(\d{1,2}):(\d{2})\s*$")


def parse_send_window(raw) -> str:
    """``"08:00-21:00"`` → the same, canonical; ValueError for anything that is not an
    opening and a later closing on one day."""
    match = _WINDOW.match(str(raw)) if isinstance(raw, str) else None
    if match is None:
        raise ValueError(f"expected the hours reminders may be sent, as HH:MM-HH:MM "
                         f"(e.g. 08:00-21:00), got {raw!r}")
    (h1, m1), (h2, m2) = ((int(a), int(b)) for a, b in (match.group(1, 2), match.group(3, 4)))
    for hours, minutes in ((h1, m1), (h2, m2)):
        if minutes > 59 or hours > 24 or (hours == 24 and minutes):
            raise ValueError(f"{hours:02d}:{minutes:02d} is not a time of day (in {raw!r})")
    if h1 == 24:
        raise ValueError(f"the window cannot open at 24:00 (in {raw!r})")
    if (h1, m1) >= (h2, m2):
        raise ValueError(f"the window {raw!r} is empty or inverted: it is when reminders "
                         "are sent (e.g. 08:00-21:00), opening before closing on one day; "
                         "00:00-24:00 sends at any hour")
    return f"{h1:02d}:{m1:02d}-{h2:02d}:{m2:02d}"


def parse_timezone(raw) -> str:
    """An IANA zone name that this machine knows (Asia/Shanghai)."""
    try:
        ZoneInfo(str(raw))
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {raw!r} (e.g. Asia/Shanghai)") from exc
    return str(raw)


@dataclass(frozen=True)
class QuietHours:
    start: time = time(8, 0)
    end: time = time(21, 0)
    tz: str = "Asia/Shanghai"

    @classmethod
    def from_window(cls, window: str, tz: str = "Asia/Shanghai") -> QuietHours:
        """From the ``sms.send_window`` setting ("08:00-21:00"); "00:00-24:00" = always."""
        opening, closing = parse_send_window(window).split("-")
        start = time(*map(int, opening.split(":")))
        end = time(0, 0) if closing == "24:00" else time(*map(int, closing.split(":")))
        return cls(start, end, parse_timezone(tz))

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
