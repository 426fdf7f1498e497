"""The value types of settings: raw (TOML value or environment string) -> typed value.

Each parser takes what a TOML file or an ``HCP_*`` variable holds (a variable is
always a string) and returns the typed value or raises ``ValueError`` with a
message an operator can act on; ``gateway.config`` adds which setting and where
it came from. Other modules declare their settings with ``parsers.<type>``.
"""

from __future__ import annotations

import ipaddress
import re
import urllib.parse
from datetime import timedelta
from types import SimpleNamespace
from typing import Any, Callable

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def _port(raw: Any) -> int:
    port = _int(raw)
    if not 0 <= port <= 65535:
        raise ValueError("a TCP port is 0..65535 (0 picks a free one)")
    return port


def _int(raw: Any) -> int:
    if isinstance(raw, bool):
        raise ValueError("expected an integer")
    if isinstance(raw, int):
        return raw
    if isinstance(raw, str) and re.fullmatch(r"\s*-?\d+\s*", raw):
        return int(raw)
    raise ValueError(f"expected an integer, got {raw!r}")


def _positive_int(raw: Any) -> int:
    value = _int(raw)
    if value <= 0:
        raise ValueError("must be greater than 0")
    return value


def _positive_float(raw: Any) -> float:
    if isinstance(raw, bool):
        raise ValueError("expected a number")
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise ValueError(f"expected a number, got {raw!r}") from None
    if value <= 0:
        raise ValueError("must be greater than 0")
    return value


_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([dhms])")
_DURATION = re.compile(r"^\s*(?:\d+(?:\.\d+)?|(?:\d+(?:\.\d+)?\s*[dhms]\s*)+)\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _duration(raw: Any) -> timedelta:
    """``900``, ``"15m"``, ``"48h"``, ``"15d"``, ``"1h30m"``; a bare number is seconds."""
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):
        raw = str(raw)
    match = _DURATION.match(raw) if isinstance(raw, str) else None
    if not match:
        raise ValueError(f"expected a duration such as 900, 15m, 48h, 1h30m or 15d, "
                         f"got {raw!r}")
    parts = _DURATION_PART.findall(raw)
    seconds = sum(float(n) * _UNIT_SECONDS[unit] for n, unit in parts) if parts \
        else float(raw)
    if seconds <= 0:
        raise ValueError("must be longer than 0")
    return timedelta(seconds=seconds)


def format_duration(value: timedelta) -> str:
    """A duration as people write it, and as ``_duration`` reads it back: ``15d``,
    ``24h``, ``90s``, ``1h30m``. Days only from 3 whole days (48 hours stay ``48h``);
    under two minutes, seconds (``90s``, not ``1m30s``)."""
    total = value.total_seconds()
    if total != int(total):
        return f"{total:g}s"
    total = int(total)
    if total >= 3 * 86400 and total % 86400 == 0:
        return f"{total // 86400}d"
    if total < 120 and total % 60:
        return f"{total}s"
    hours, rest = divmod(total, 3600)
    minutes, seconds = divmod(rest, 60)
    text = "".join(f"{n}{unit}" for n, unit in ((hours, "h"), (minutes, "m"), (seconds, "s"))
                   if n)
    return text or "0s"


def _text(raw: Any) -> str:
    if not isinstance(raw, str):
        raise ValueError(f"expected a string, got {raw!r}")
    return raw


def _optional_url(*schemes: str) -> Callable[[Any], str | None]:
    def parse(raw: Any) -> str | None:
        text = _text(raw).strip()
        if not text:
            return None
        scheme = text.split("://", 1)[0] if "://" in text else ""
        if scheme not in schemes:
            raise ValueError(f"expected a {'/'.join(schemes)} URL, got {redact_url(text)!r}")
        return text
    return parse


def _store_url(raw: Any) -> str | None:
    """The core store's URL: https, or http only to this machine (loopback). Ratings
    carry evaluator data (seed art. 4): never in clear text over a network."""
    text = _optional_url("http", "https")(raw)
    if text is None or text.startswith("https://"):
        return text
    host = urllib.parse.urlsplit(text).hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ValueError(f"http:// only to a loopback address (127.0.0.1, ::1, localhost), "
                         f"got {redact_url(text)!r}: use https:// to reach another host")
    return text


def redact_url(url: str) -> str:
    return re.sub(r"//[^@/]*@", "//***@", url)


def _secret(raw: Any) -> str | None:
    text = _text(raw)
    if not text:
        return None
    if len(text) < 16:
        raise ValueError("a secret needs at least 16 characters")
    return text


def _tokens(raw: Any) -> tuple[str, ...]:
    """A TOML list of strings, or a comma-separated environment string."""
    items = raw.split(",") if isinstance(raw, str) else raw
    if not isinstance(items, list | tuple) or not all(isinstance(t, str) for t in items):
        raise ValueError("expected a list of token strings")
    tokens = tuple(t.strip() for t in items if t.strip())
    for token in tokens:
        if len(token) < 16 or not re.fullmatch(r"[\x21-\x7e]+", token):
            raise ValueError("each token needs at least 16 printable characters, no spaces")
    return tokens


def _bool(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"expected true or false, got {raw!r}")


def _pf_code(raw: Any) -> int:
    code = _int(raw)
    if not 0 <= code <= 99:
        raise ValueError("a pf channel code is a small integer such as 6 or 7")
    return code


def _log_level(raw: Any) -> str:
    level = _text(raw).upper()
    if level not in LOG_LEVELS:
        raise ValueError(f"expected one of {', '.join(LOG_LEVELS)}")
    return level


def _region(raw: Any) -> str:
    region = _text(raw).upper()
    if not re.fullmatch(r"[A-Z]{2}", region):
        raise ValueError("expected a two-letter region code such as CN")
    return region


parsers = SimpleNamespace(
    text=_text, int=_int, positive_int=_positive_int, positive_float=_positive_float,
    port=_port, duration=_duration, secret=_secret, bool=_bool, log_level=_log_level,
    optional_url=_optional_url, store_url=_store_url, tokens=_tokens, region=_region,
    pf_code=_pf_code)
