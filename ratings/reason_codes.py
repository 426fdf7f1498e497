"""Reason ids → the exchange's ``evalDetail`` codes: one configurable table.

The flows, the SMS grammar and the API speak stable English reason ids
(``flows.reasons.REASONS``); the provincial exchange wants its own codes, and those
differ by province. So the mapping is data: ``ratings/reason_codes.toml`` is
the shipped default, ``core.reason_codes`` names another file of the same shape::

    [reasons]
    efficiency = "01"
    ...

``load_table`` validates it whole before the gateway starts (``ReasonTableError``
names the file and the entry): every key a known reason id, every known reason
present, codes non-blank strings of letters/digits, no code used twice (the exchange
could not tell two reasons apart). ``ratings.records`` maps through the table when
it builds a record; an id the table does not know (an old outbox entry) goes out
as it is, so the exchange's answer decides, never a silent drop.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from flows.reasons import REASONS

DEFAULT_TABLE = Path(__file__).with_name("reason_codes.toml")
_CODE = re.compile(r"[A-Za-z0-9_.-]{1,16}")


class ReasonTableError(ValueError):
    """A reason-code table that cannot be used; ``entry`` names the culprit."""

    def __init__(self, path: Path, entry: str, message: str):
        super().__init__(f"{path}: {entry}: {message}")
        self.path = path
        self.entry = entry


def parse_table(raw: dict, path: Path) -> dict[str, str]:
    table = raw.get("reasons")
    if not isinstance(table, dict):
        raise ReasonTableError(path, "[reasons]", "the table needs a [reasons] section")
    seen: dict[str, str] = {}
    for reason, code in table.items():
        if reason not in REASONS:
            raise ReasonTableError(path, reason, f"unknown reason id (known: "
                                                 f"{', '.join(REASONS)})")
        if not isinstance(code, str) or not _CODE.fullmatch(code):
            raise ReasonTableError(path, reason, f"code {code!r}: 1-16 letters or digits")
        if code in seen:
            raise ReasonTableError(path, reason, f"duplicate code {code!r} "
                                                 f"(also {seen[code]})")
        seen[code] = reason
    missing = [r for r in REASONS if r not in table]
    if missing:
        raise ReasonTableError(path, missing[0], "reason without a code")
    return dict(table)


def load_table(path: str | Path | None = None) -> dict[str, str]:
    """The validated table of ``path`` (the shipped default when None)."""
    path = Path(path) if path else DEFAULT_TABLE
    try:
        with path.open("rb") as fh:
            raw = tomllib.load(fh)
    except OSError as exc:
        raise ReasonTableError(path, "file", f"cannot read: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ReasonTableError(path, "file", f"not valid TOML: {exc}") from exc
    return parse_table(raw, path)


def eval_detail(reasons, table: dict[str, str]) -> str:
    """The ``evalDetail`` of a record: each reason's code, comma-joined, in order."""
    return ",".join(table.get(r, r) for r in reasons)
