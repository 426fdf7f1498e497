"""Structured logs: one JSON object per line, and no phone numbers in any of them.

Code logs an event name plus fields: ``log.info("http.listening", extra={"port": p})``
becomes ``{"ts": ..., "level": "INFO", "logger": ..., "event": "http.listening",
"port": p}``. Seed art. 4 forbids evaluator data in logs; callers log ids and
``mask_phone`` output only, and ``PhoneMaskFilter`` is the last line of defence:
it rewrites anything that looks like a phone number, in the message, in extra
fields and in tracebacks, before a handler formats the record.

One format for every process: ``hcp serve`` and each ``hcp ivr worker`` call
``setup_logging``, which also routes what would otherwise reach stderr as free
text into the same handler: ``warnings`` (logger ``py.warnings``) and uncaught
exceptions of the main thread and of other threads (``process.uncaught``).
PJSIP's own log goes through a pjsua2 LogWriter into logger ``hcp.pjsip``
(adapters/sip_pjsua2.py). The pool reads each worker's stderr and re-emits its
lines through the gateway's logging (ivr/pool.py ``relay_line``, which reads the
fields this formatter writes); what is not such a line (a faulthandler dump)
becomes an ``ivr.worker.output`` event. So every line of the gateway's stderr
parses as JSON with ``ts``, ``level``, ``logger`` and ``event``.

"""

from __future__ import annotations

import json
import logging
import sys
import threading
from datetime import datetime, timezone
from typing import Any

# The pattern lives beside mask_phone: adapters mask a peer's error text with it too.
from ratings.model import PHONE_MASK as MASK  # noqa: F401 - part of this module's API
from ratings.model import mask_phones_in_text as mask_phones

# Attributes every LogRecord has; anything else came in through ``extra``.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


def _mask_value(value: Any) -> Any:
    if isinstance(value, str):
        return mask_phones(value)
    if isinstance(value, dict):
        return {k: _mask_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_mask_value(v) for v in value]
    return value


class PhoneMaskFilter(logging.Filter):
    """Masks phone-like text in a record's message, extra fields and exception."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = mask_phones(record.getMessage())
        record.args = None
        for key, value in list(vars(record).items()):
            if key not in _STANDARD:
                setattr(record, key, _mask_value(value))
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_phones(record.exc_text)
            record.exc_info = None  # formatted and masked; do not format again
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, timezone.utc)
            .isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "event": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in entry:
                entry[key] = value
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False, default=str)


def setup_logging(level: str = "INFO", stream=None) -> logging.Handler:
    """Route the root logger to one JSON-lines handler with the phone mask, and
    warnings and uncaught exceptions through it (see the module's docstring)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(PhoneMaskFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # aiohttp's access log repeats what the API's own metrics and logs say.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    logging.captureWarnings(True)  # warnings.warn -> logger "py.warnings", not stderr
    sys.excepthook = _log_uncaught
    threading.excepthook = _log_uncaught_in_thread
    return handler


_uncaught = logging.getLogger("process")


def _log_uncaught(exc_type, exc, tb) -> None:
    if issubclass(exc_type, KeyboardInterrupt):  # Ctrl-C before a handler: no traceback
        _uncaught.warning("process.interrupted")
        return
    _uncaught.critical("process.uncaught", exc_info=(exc_type, exc, tb))


def _log_uncaught_in_thread(args: threading.ExceptHookArgs) -> None:
    if args.exc_type is SystemExit:
        return
    _uncaught.error("process.uncaught", exc_info=(args.exc_type, args.exc_value,
                                                  args.exc_traceback),
                    extra={"thread_name": args.thread.name if args.thread else None})

