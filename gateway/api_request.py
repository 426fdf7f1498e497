"""``POST /v1/evaluations`` body → ``Evaluation``, or a ``RequestError`` naming the field.

Kept apart from the HTTP handlers so the rules of the wire form are in one
place and testable without a server. The body is strict: unknown fields are
refused (a typo must not silently drop a comment). Grades are the ``Grade``
ids; the phone number goes through ``normalise_phone``; the model's own
``InvalidEvaluation`` checks (reasons for a bad grade, batch items …) pass
through with their field name.

Reasons are codes of the configured list (``known_reasons``, default
``flows.reasons.REASON_CODES``; a Chinese label is taken as its code): a blank or
unknown reason is a 400 naming ``reasons``, so a bad grade reaches the exchange
with a real reason code or the caller's own non-blank comment, never with noise.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Any

from flows.reasons import REASON_CODES, reason_code
from gateway.json_body import JsonRefused, decode_json_body
from ratings.grades import Grade, UnknownGrade
from ratings.model import (
    Channel,
    Evaluation,
    InvalidEvaluation,
    Target,
    TargetKind,
    normalise_phone,
    utcnow,
)

TOP_FIELDS = {
    "target", "grade", "channel", "phone", "reasons", "comment", "assess_number",
    "assessed_at", "flow_id", "flow_version", "source_id", "context",
}
TARGET_FIELDS = {"kind", "id", "items", "staff_id"}
MAX_REASONS = 20
MAX_ITEMS = 500
MAX_TEXT = 200  # ids, reason codes, context values


class RequestError(ValueError):
    """A request refused before anything is written; maps to a 4xx JSON body."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.field = field
        self.message = message

    def body(self) -> dict[str, Any]:
        return {"error": self.code, "field": self.field, "message": self.message}


def _missing(field: str) -> RequestError:
    return RequestError(400, "missing_field", f"{field} is required", field)


def _invalid(field: str, message: str) -> RequestError:
    return RequestError(400, "invalid_field", message, field)


def _string(data: dict, key: str, field: str, required: bool = False,
            limit: int = MAX_TEXT) -> str | None:
    value = data.get(key)
    if value is None or value == "":
        if required:
            raise _missing(field)
        return None
    if not isinstance(value, str):
        raise _invalid(field, f"{field} must be a string")
    if len(value) > limit:
        raise _invalid(field, f"{field} is longer than {limit} characters")
    return value


def _string_list(data: dict, key: str, field: str, limit: int) -> tuple[str, ...]:
    value = data.get(key)
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise _invalid(field, f"{field} must be a list of non-empty strings")
    if len(value) > limit:
        raise _invalid(field, f"{field} has more than {limit} entries")
    if any(len(v) > MAX_TEXT for v in value):
        raise _invalid(field, f"an entry of {field} is longer than {MAX_TEXT} characters")
    return tuple(value)


def _unknown_fields(data: dict, allowed: set[str], prefix: str = "") -> None:
    for key in data:
        if key not in allowed:
            raise RequestError(400, "unknown_field", f"unknown field {prefix}{key}",
                               f"{prefix}{key}")


def _reasons(data: dict, known: tuple[str, ...]) -> tuple[str, ...]:
    value = data.get("reasons")
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _invalid("reasons", "reasons must be a list of reason codes")
    if len(value) > MAX_REASONS:
        raise _invalid("reasons", f"reasons has more than {MAX_REASONS} entries")
    codes = []
    for raw in value:
        if not raw.strip():
            raise _invalid("reasons", "a reason code is blank")
        code = raw.strip() if raw.strip() in known else reason_code(raw[:MAX_TEXT])
        if code not in known:
            raise _invalid("reasons", f"unknown reason code {raw[:40]!r}; one of "
                           f"{', '.join(known)}")
        codes.append(code)
    if len(set(codes)) != len(codes):
        raise _invalid("reasons", "reasons repeat")
    return tuple(codes)


def _target(data: dict) -> Target:
    raw = data.get("target")
    if raw is None:
        raise _missing("target")
    if not isinstance(raw, dict):
        raise _invalid("target", "target must be an object")
    _unknown_fields(raw, TARGET_FIELDS, "target.")
    kind_text = _string(raw, "kind", "target.kind", required=True)
    try:
        kind = TargetKind(kind_text)
    except ValueError:
        kinds = ", ".join(k.value for k in TargetKind)
        raise _invalid("target.kind", f"target.kind must be one of {kinds}") from None
    return Target(
        kind=kind,
        id=_string(raw, "id", "target.id", required=True),
        items=_string_list(raw, "items", "target.items", MAX_ITEMS),
        staff_id=_string(raw, "staff_id", "target.staff_id"),
    )


def _grade(data: dict) -> Grade:
    text = _string(data, "grade", "grade", required=True)
    try:
        return Grade.from_id(text)
    except UnknownGrade as exc:
        raise RequestError(400, "unknown_grade", str(exc), "grade") from None


def _channel(data: dict, filed: frozenset[str] | None) -> Channel:
    """How the rating was collected: the exchange's pf comes from it (seed art. 12), so a
    channel the store has no pf for is refused here, not accepted and dead-lettered."""
    text = _string(data, "channel", "channel") or Channel.API.value
    try:
        channel = Channel(text)
    except ValueError:
        channels = ", ".join(c.value for c in Channel)
        raise _invalid("channel", f"channel must be one of {channels}") from None
    if filed is not None and channel.value not in filed:
        raise _invalid("channel", f"the core store has no pf code for channel "
                                  f"{channel.value!r}: say how the rating was collected "
                                  f"({', '.join(sorted(filed))}), or configure core.pf_api "
                                  f"($HCP_CORE_PF_API)")
    return channel


def _assess_number(data: dict) -> int:
    value = data.get("assess_number", 1)
    if isinstance(value, bool) or value not in (1, 2):
        raise _invalid("assess_number", "assess_number is 1 (first) or 2 (follow-up)")
    return value


def _assessed_at(data: dict, now: datetime) -> datetime:
    text = _string(data, "assessed_at", "assessed_at", limit=64)
    if text is None:
        return now
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise _invalid("assessed_at", "assessed_at must be an ISO 8601 time") from None
    if when.tzinfo is None:
        raise _invalid("assessed_at", "assessed_at needs a time zone offset")
    return when


def _context(data: dict) -> dict[str, str]:
    value = data.get("context")
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise _invalid("context", "context must be an object of strings")
    if len(value) > 50 or any(len(v) > MAX_TEXT or len(k) > 64 for k, v in value.items()):
        raise _invalid("context", "context is too large")
    return dict(value)


_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,200}$")
_ID_NAMESPACE = uuid.UUID("5b0d6c2e-8a51-4d0e-9a59-6f1f2d8f7c11")  # fixed: ids stay stable


def evaluation_id_for(idempotency_key: str) -> str:
    """The evaluation id a caller's ``Idempotency-Key`` stands for.

    The same key always gives the same id, and the intake answers an id it has
    accepted before as a replay ("accepted", nothing written): so a caller that
    retries a POST after a timeout gets its 201 again, not a 409.
    """
    if not _IDEMPOTENCY_KEY.match(idempotency_key):
        raise RequestError(400, "invalid_field",
                           "Idempotency-Key must be 1-200 printable ASCII characters",
                           "Idempotency-Key")
    return uuid.uuid5(_ID_NAMESPACE, idempotency_key).hex


def decode_json(body: bytes) -> dict:
    """The body as a JSON object (``gateway.json_body``: bounded depth, no lone
    surrogates); a ``RequestError`` with the reason otherwise."""
    try:
        data = decode_json_body(body)
    except JsonRefused as exc:
        raise RequestError(400, "invalid_json", exc.reason) from None
    if not isinstance(data, dict):
        raise RequestError(400, "invalid_json", "the body must be a JSON object")
    return data


def parse_evaluation(data: dict, region: str = "CN", now: datetime | None = None,
                     request_id: str | None = None,
                     known_reasons: tuple[str, ...] = REASON_CODES,
                     filed_channels: frozenset[str] | None = None) -> Evaluation:
    """The ``Evaluation`` a request body describes; ``RequestError`` if it is wrong.
    ``filed_channels``: the channels the core store has a pf code for (None: any)."""
    _unknown_fields(data, TOP_FIELDS)
    try:
        target = _target(data)
        phone_text = _string(data, "phone", "phone", limit=32)
        phone = normalise_phone(phone_text, region) if phone_text else None
        return Evaluation(
            target=target,
            channel=_channel(data, filed_channels),
            grade=_grade(data),
            assessed_at=_assessed_at(data, now or utcnow()),
            reasons=_reasons(data, tuple(known_reasons)),
            comment=_string(data, "comment", "comment", limit=2000) or "",
            phone=phone,
            assess_number=_assess_number(data),
            flow_id=_string(data, "flow_id", "flow_id"),
            flow_version=_string(data, "flow_version", "flow_version"),
            source_id=_string(data, "source_id", "source_id") or request_id,
            context=_context(data),
        )
    except InvalidEvaluation as exc:
        code = "invalid_phone" if exc.field == "phone" else "invalid_field"
        raise RequestError(400, code, exc.message, exc.field) from None
