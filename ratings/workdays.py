"""Working days in mainland China, for callback and rectification deadlines (issue 10).

A day is a working day when an override file says so, else when the
``chinese-calendar`` package says so (weekends, the State Council's public holidays
and the 调休 weekends that are worked instead), else — for a year the package has
no data for yet (the next year's plan is published late in the year) — when it is
Monday to Friday; that fallback is logged once per year, so an operator knows to
update the package or add the year's days to the override file.

Override file (TOML), for local rules and for a year the package does not know::

    workdays = ["2027-02-20"]   # a 调休 Saturday that is worked
    holidays = ["2027-02-15"]   # a day off that is not a weekend
"""

from __future__ import annotations

import logging
import tomllib
from datetime import date, datetime, timedelta
from pathlib import Path

import chinese_calendar

from ratings.model import CHINA

log = logging.getLogger(__name__)


class CalendarFileError(ValueError):
    """An override file that cannot be used; the message says where and why."""


class WorkCalendar:
    def __init__(self, overrides: dict[date, bool] | None = None):
        self.overrides = dict(overrides or {})
        self._guessed_years: set[int] = set()

    @classmethod
    def from_file(cls, path: str | Path | None) -> WorkCalendar:
        """The calendar with ``path``'s overrides (None or "": none)."""
        if not path:
            return cls()
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise CalendarFileError(f"{path}: {exc}") from None
        unknown = set(data) - {"workdays", "holidays"}
        if unknown:
            raise CalendarFileError(f"{path}: unknown key(s) {sorted(unknown)}; "
                                    "expected workdays and holidays")
        overrides: dict[date, bool] = {}
        for key, working in (("workdays", True), ("holidays", False)):
            for value in data.get(key, []):
                day = _day(value, path, key)
                if overrides.get(day, working) != working:
                    raise CalendarFileError(f"{path}: {day} is both a workday and a holiday")
                overrides[day] = working
        return cls(overrides)

    def is_workday(self, day: date) -> bool:
        if day in self.overrides:
            return self.overrides[day]
        try:
            return chinese_calendar.is_workday(day)
        except NotImplementedError:
            if day.year not in self._guessed_years:
                self._guessed_years.add(day.year)
                log.warning("workdays.no_calendar_data", extra={
                    "year": day.year, "rule": "Monday to Friday, plus the override file"})
            return day.weekday() < 5

    def add_working_days(self, start: datetime, n: int) -> datetime:
        """``n`` working days after ``start`` (China local), same time of day.
        Accepted on a day off, the count starts at the next working day."""
        local = start.astimezone(CHINA)
        added = 0
        while added < n:
            local += timedelta(days=1)
            if self.is_workday(local.date()):
                added += 1
        return local


def _day(value: object, path, key: str) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value  # TOML's own date literal
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise CalendarFileError(f"{path}: {key}: {value!r} is not a date (YYYY-MM-DD)") from None
