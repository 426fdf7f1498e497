"""Fixtures of the intake tests: a controllable clock and an Intake on the real Redis."""

from __future__ import annotations

import pytest

from ratings.intake import Intake
from tests.intake.helpers import WINDOW, Clock


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def intake(aredis, clock) -> Intake:
    return Intake(aredis, b"test-secret", follow_up_window=WINDOW, clock=clock)
