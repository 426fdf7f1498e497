"""Issue 12 part 4: the sending window is named by what it does, and a window the
gateway could not run with is refused by ``hcp serve --check-config`` as by ``hcp serve``."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, time, timezone
from pathlib import Path

import pytest

from sms.quiet_hours import QuietHours, parse_send_window, parse_timezone

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("raw, canonical", [
    ("08:00-21:00", "08:00-21:00"), ("8:00-21:30", "08:00-21:30"),
    (" 07:30 – 22:00 ", "07:30-22:00"), ("00:00-24:00", "00:00-24:00"),
])
def test_a_window_is_read(raw, canonical):
    assert parse_send_window(raw) == canonical


@pytest.mark.parametrize("raw", [
    "21:00-08:00",  # the old "quiet from 21:00 to 08:00" reading: inverted
    "08:00-08:00", "",  # empty
    "25:99-26:00", "08:00-25:99", "08:60-21:00", "24:00-24:00", "08:00", "8-21", 800,
])
def test_an_empty_inverted_or_impossible_window_is_refused(raw):
    with pytest.raises(ValueError):
        parse_send_window(raw)


def test_the_window_means_sending_hours():
    window = QuietHours.from_window("08:00-21:00")
    at = lambda h: datetime(2026, 11, 27, h, 0, tzinfo=timezone.utc).timestamp()  # noqa: E731
    assert window.allows(at(2))  # 10:00 in Shanghai
    assert not window.allows(at(14))  # 22:00 in Shanghai
    always = QuietHours.from_window("00:00-24:00")
    assert (always.start, always.end) == (time(0), time(0)) and always.allows(at(19))
    with pytest.raises(ValueError):
        parse_timezone("Mars/Olympus")


def _check_config(tmp_path, **env):
    clean = {k: v for k, v in os.environ.items() if not k.startswith("HCP_")}
    return subprocess.run([sys.executable, "-m", "gateway.cli", "serve", "--check-config"],
                          cwd=tmp_path, env={**clean, "PYTHONPATH": str(ROOT), **env},
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("env", [
    {"HCP_SMS_SEND_WINDOW": "25:99-26:00"}, {"HCP_SMS_SEND_WINDOW": "21:00-08:00"},
    {"HCP_SMS_TIMEZONE": "Mars/Olympus"}, {"HCP_SMS_CARRIER": "pigeon"},
])
def test_check_config_refuses_what_serve_could_not_run(tmp_path, env):
    proc = _check_config(tmp_path, **env)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert "sms." in proc.stderr


def test_check_config_shows_the_window(tmp_path):
    proc = _check_config(tmp_path, HCP_SMS_SEND_WINDOW="07:30-22:00")
    assert proc.returncode == 0, proc.stderr
    assert '"sms.send_window": "07:30-22:00"' in proc.stdout
