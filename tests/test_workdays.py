"""Callback deadlines in working days: holidays, 调休 weekends, overrides (issue 10, 11)."""

from __future__ import annotations

import logging
from datetime import datetime

import pytest

from ratings import cases
from ratings.model import CHINA
from ratings.workdays import CalendarFileError, WorkCalendar


def at(day: str) -> datetime:
    return datetime.fromisoformat(f"{day}T10:00:00").replace(tzinfo=CHINA)


def test_the_national_day_week_is_skipped_and_its_worked_saturday_counted():
    calendar = WorkCalendar()
    # accepted the day before the 2026 National Day holiday (1–7 October)
    assert calendar.add_working_days(at("2026-09-30"), 2).date().isoformat() == "2026-10-09"
    # Saturday 10 October 2026 is worked (调休)
    assert calendar.add_working_days(at("2026-10-09"), 1).date().isoformat() == "2026-10-10"
    # an ordinary weekend
    assert calendar.add_working_days(at("2026-11-27"), 1).date().isoformat() == "2026-11-30"


def test_a_year_the_package_does_not_know_falls_back_to_weekdays_and_says_so(caplog):
    calendar = WorkCalendar()
    caplog.set_level(logging.WARNING, logger="ratings.workdays")
    # Friday 31 December 2027 + 1 → Monday 3 January 2028 (Mon–Fri, no holiday data)
    assert calendar.add_working_days(at("2027-12-31"), 1).date().isoformat() == "2028-01-03"
    calendar.add_working_days(at("2027-12-29"), 4)  # 2027 and 2028 again
    warnings = [r for r in caplog.records if r.getMessage() == "workdays.no_calendar_data"]
    assert sorted(r.year for r in warnings) == [2027, 2028]  # once per year it guessed


def test_the_override_file_wins(tmp_path):
    path = tmp_path / "workdays.toml"
    path.write_text('workdays = ["2026-10-03"]\nholidays = [2026-11-30]\n')
    calendar = WorkCalendar.from_file(path)
    assert calendar.is_workday(at("2026-10-03").date())  # a holiday worked locally
    assert not calendar.is_workday(at("2026-11-30").date())  # a local day off (TOML date)
    assert calendar.add_working_days(at("2026-11-27"), 1).date().isoformat() == "2026-12-01"


@pytest.mark.parametrize("text, why", [
    ('workdays = ["2026-13-01"]', "is not a date"),
    ('holiday = ["2026-10-01"]', "unknown key"),
    ('workdays = ["2026-10-01"]\nholidays = ["2026-10-01"]', "both a workday and a holiday"),
    ("workdays = [", "Invalid value"),
])
def test_a_bad_override_file_is_refused_with_the_reason(tmp_path, text, why):
    path = tmp_path / "workdays.toml"
    path.write_text(text)
    with pytest.raises(CalendarFileError, match=why):
        WorkCalendar.from_file(path)


def test_a_case_deadline_uses_the_configured_calendar(tmp_path):
    path = tmp_path / "workdays.toml"
    path.write_text('holidays = ["2026-12-01"]\n')
    before = cases.SETTINGS
    try:
        cases.configure(cases.CaseSettings(2, WorkCalendar.from_file(path)))
        # Friday + 2 working days: Monday 30 November, then Wednesday (Tuesday is off)
        assert cases.add_working_days(at("2026-11-27"), 2).date().isoformat() == "2026-12-02"
    finally:
        cases.configure(before)


def test_a_bad_override_file_stops_the_gateway_at_start(tmp_path):
    from gateway.config import ConfigError, load

    path = tmp_path / "workdays.toml"
    path.write_text('holidays = ["31/12/2026"]\n')
    with pytest.raises(ConfigError, match="console.workday_overrides.*not a date"):
        load(env={"HCP_CONSOLE_WORKDAY_OVERRIDES": str(path)}, cwd=tmp_path)
    with pytest.raises(ConfigError, match="console.workday_overrides"):
        load(env={"HCP_CONSOLE_WORKDAY_OVERRIDES": str(tmp_path / "missing.toml")},
             cwd=tmp_path)
