"""JSON log lines, and the last-line-of-defence phone mask (seed art. 4)."""

from __future__ import annotations

import io
import json
import logging

import pytest

from gateway.logs import MASK, mask_phones, setup_logging


@pytest.mark.parametrize("text", [
    "13812345678", "+8613812345678", "+86 138 1234 5678", "138-1234-5678",
    "86 13812345678", "020-12345678", "+44 20 7946 0958", "call 0755 88886666 now",
])
def test_phone_like_text_is_masked(text):
    masked = mask_phones(text)
    assert MASK in masked
    assert not any(run in masked for run in ("1234", "5678", "8888", "7946"))


@pytest.mark.parametrize("text", [
    "evaluation 3f2a9c1b8d7e4f60a1b2c3d4e5f60718 accepted",  # hex id with digit runs
    "2026-11-27T02:04:30.123+00:00", "port 8080", "took 12.5 ms", "item GD-2026-001",
])
def test_ids_times_and_small_numbers_survive(text):
    assert mask_phones(text) == text


@pytest.fixture
def captured():
    stream = io.StringIO()
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    setup_logging("DEBUG", stream)
    yield stream
    for h in list(root.handlers):
        root.removeHandler(h)
    for h in saved[0]:
        root.addHandler(h)
    root.setLevel(saved[1])


def lines(stream):
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_one_json_object_per_event_with_extra_fields(captured):
    logging.getLogger("t").info("api.accepted", extra={"evaluation_id": "ab12", "n": 3})
    [entry] = lines(captured)
    assert entry["event"] == "api.accepted" and entry["level"] == "INFO"
    assert entry["evaluation_id"] == "ab12" and entry["n"] == 3 and entry["logger"] == "t"
    assert entry["ts"].endswith("+00:00")


def test_no_phone_number_reaches_a_log_line(captured):
    log = logging.getLogger("t")
    log.warning("caller %s pressed 1", "13812345678", extra={"from": "+8613987654321",
                                                             "nested": {"p": "13700001111"}})
    try:
        raise ValueError("bad number 13611112222")
    except ValueError:
        log.exception("oops")
    text = captured.getvalue()
    for number in ("13812345678", "13987654321", "13700001111", "13611112222"):
        assert number not in text
    first, second = lines(captured)
    assert first["event"] == f"caller {MASK} pressed 1" and first["from"] == MASK
    assert first["nested"] == {"p": MASK}
    assert MASK in second["exception"] and "ValueError" in second["exception"]
