"""SMS test fixtures: a controllable clock and a stand-in intake."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

SECRET = b"test-phone-secret"
PHONE = "+8613800138000"


class Clock:
    """Epoch seconds that move only when the test says so."""

    def __init__(self, start: datetime):
        self.t = start.timestamp()

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


class RatedItems:
    """The one method of ratings.intake.Intake the dispatcher uses."""

    def __init__(self):
        self.rated: set[str] = set()

    async def is_evaluated(self, item_id: str) -> bool:
        return item_id in self.rated


@pytest.fixture
def clock():
    # 10:00 in Shanghai: inside the default sending window.
    return Clock(datetime(2026, 11, 27, 2, 0, tzinfo=timezone.utc))


@pytest.fixture
def intake():
    return RatedItems()
