"""JSON log lines, and the last-line-of-defence phone mask (seed art. 4)."""

from __future__ import annotations

import io
import json
import logging
import sys
import threading
import warnings

import pytest

from gateway.config import load
from gateway.logs import MASK, JsonFormatter, mask_phones, setup_logging
from gateway.secrets_store import secret_locations
from gateway.secrets_store import with_secrets


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
    saved = (list(root.handlers), root.level, sys.excepthook, threading.excepthook)
    setup_logging("DEBUG", stream)
    yield stream
    for h in list(root.handlers):
        root.removeHandler(h)
    for h in saved[0]:
        root.addHandler(h)
    root.setLevel(saved[1])
    sys.excepthook, threading.excepthook = saved[2], saved[3]
    logging.captureWarnings(False)


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


def test_warnings_and_uncaught_exceptions_become_json_lines(captured):
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        logging.captureWarnings(True)  # catch_warnings restored showwarning: as at start
        warnings.warn("old API, caller 13812345678", DeprecationWarning, stacklevel=1)
    try:
        raise RuntimeError("boom for 13987654321")
    except RuntimeError:
        sys.excepthook(*sys.exc_info())
    thread = threading.Thread(target=lambda: 1 / 0, name="t-crash")
    thread.start()
    thread.join()
    warned, uncaught, in_thread = lines(captured)
    assert warned["logger"] == "py.warnings" and "DeprecationWarning" in warned["event"]
    assert MASK in warned["event"]
    assert uncaught["event"] == "process.uncaught" and uncaught["level"] == "CRITICAL"
    assert "RuntimeError" in uncaught["exception"] and MASK in uncaught["exception"]
    assert in_thread["event"] == "process.uncaught" and in_thread["thread_name"] == "t-crash"
    assert "ZeroDivisionError" in in_thread["exception"]
    assert "13812345678" not in captured.getvalue()


def test_secret_locations_name_files_never_values(tmp_path):
    config = with_secrets(load(env={"HCP_DATA_DIR": str(tmp_path / "data")}, cwd=tmp_path))
    where = secret_locations(config)
    token_file = tmp_path / "data" / "secrets" / "api_token"
    assert where["api_token_file"] == str(token_file) and where["api_token_from"] == "file"
    assert where["console_password_file"] == str(tmp_path / "data" / "secrets" / "console_admin")
    assert where["console_password_from"] == "file" and where["console_user"] == "admin"
    assert token_file.read_text().strip() not in json.dumps(where)

    configured = load(env={"HCP_DATA_DIR": str(tmp_path / "data"),
                           "HCP_HTTP_TOKENS": "configured-token-0123456789",
                           "HCP_CONSOLE_ENABLED": "0"}, cwd=tmp_path)
    where = secret_locations(configured)
    assert where["api_token_file"] is None and where["api_token_from"] == "http.tokens"
    assert where["console_password_file"] is None
    assert where["console_password_from"] == "console disabled"
    assert "configured-token" not in json.dumps(where)


def test_a_worker_line_relayed_by_the_pool_is_the_same_line_plus_its_worker(captured):
    """ivr.pool.relay_line reads what JsonFormatter writes: the two stay in step."""
    from ivr.pool import relay_line

    worker_stream = io.StringIO()
    handler = logging.StreamHandler(worker_stream)
    handler.setFormatter(JsonFormatter())
    record = logging.LogRecord("hcp.sip", logging.WARNING, __file__, 1, "INVITE x refused",
                               None, None)
    record.calls = [1, 2]
    try:
        raise ValueError("no")
    except ValueError:
        record.exc_info = sys.exc_info()
    handler.emit(record)
    worker_line = worker_stream.getvalue()

    relay_line("29000", worker_line)
    relay_line("29000", "Fatal Python error: Segmentation fault, caller +8613812345678\n")
    relayed, free_text = lines(captured)
    assert relayed == {**json.loads(worker_line), "worker": "29000"}
    assert free_text["event"] == "ivr.worker.output" and free_text["level"] == "WARNING"
    assert free_text["worker"] == "29000" and MASK in free_text["line"]
    assert "Segmentation fault" in free_text["line"]


def test_a_relayed_line_below_the_gateway_level_is_dropped(captured):
    from ivr.pool import relay_line

    logging.getLogger().setLevel(logging.INFO)
    relay_line("1", json.dumps({"ts": "2026-01-01T00:00:00.000+00:00", "level": "DEBUG",
                                "logger": "hcp.pjsip", "event": "RX 512 bytes"}))
    assert captured.getvalue() == ""
