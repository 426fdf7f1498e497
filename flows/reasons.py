"""Reason codes for a bad grade, on the national indicator wording.

The exchange refuses 不满意/非常不满意 without reason codes (``evalDetail``) or a
comment, so flows ask for one. Codes are stable English ids; the Chinese label
is the national wording. Keypad/reply numbers of a reason menu are defined by
each flow's own menu, not here.
"""

from __future__ import annotations

REASONS: dict[str, str] = {
    "efficiency": "办事效率",
    "attitude": "服务态度",
    "unresolved": "问题未解决",
    "process": "流程繁琐",
    "other": "其他",
}

REASON_CODES: tuple[str, ...] = tuple(REASONS)


def reason_code(value: str) -> str | None:
    """A reason code from a code or its Chinese label; None if neither."""
    value = value.strip()
    if value in REASONS:
        return value
    for code, label in REASONS.items():
        if label == value:
            return code
    return None
