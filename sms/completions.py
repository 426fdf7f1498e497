"""Completion events: ``POST /v1/completions`` tells the gateway an item (办件) was done.

The body is validated into a ``Completion`` (a bad one: HTTP 400 {error, field, message},
and handed to ``Reminders.schedule``, which is idempotent: re-posting the same
completion answers 200 with the reminder already scheduled, a new one 201.

    {"item_id": "44010020261127000123", "service_code": "11440100MB2C…",
     "service_name": "居住证签注", "department": "广州市公安局",
     "phone": "13800138000", "completed_at": "2026-11-27T09:30:00+08:00",
     "batch_id": null, "theme_id": null, "linked_items": []}

The lead wires ``add_completion_routes(app, reminders)`` into the gateway app.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from functools import partial

from aiohttp import web

from ratings.model import InvalidEvaluation, check_identifier, normalise_phone

MAX_ID = 64
# readable UTF-8 in JSON answers, not \uXXXX escapes (aiohttp's default json.dumps)
_dumps = partial(json.dumps, ensure_ascii=False)


@dataclass(frozen=True)
class Completion:
    item_id: str
    service_code: str
    service_name: str
    department: str
    phone: str  # E.164
    completed_at: datetime
    batch_id: str | None = None
    theme_id: str | None = None
    linked_items: tuple[str, ...] = ()
    dept_code: str | None = None  # the department's code for the store record (deptCode)
    call_id: str | None = None  # an SMS invitation after an unrated call (sms.invitations)

    @property
    def reminder_id(self) -> str:
        """One reminder per batch or theme (rated once, seed art. 14), else per item;
        an invitation is one per call (its reply rates the call, target kind call)."""
        if self.call_id:
            return f"c:{self.call_id}"
        if self.batch_id:
            return f"b:{self.batch_id}"
        if self.theme_id:
            return f"t:{self.theme_id}"
        return f"i:{self.item_id}"

    @property
    def target_id(self) -> str:
        return self.call_id or self.batch_id or self.theme_id or self.item_id

    @property
    def items(self) -> tuple[str, ...]:
        if not (self.batch_id or self.theme_id):
            return (self.item_id,)
        return tuple(dict.fromkeys((self.item_id, *self.linked_items)))


def _text(data: dict, name: str, required: bool = True, limit: int = MAX_ID) -> str | None:
    value = data.get(name)
    if value is None or value == "":
        if required:
            raise InvalidEvaluation(name, "required")
        return None
    if not isinstance(value, str):
        raise InvalidEvaluation(name, "must be a string")
    value = value.strip()
    if not value or len(value) > limit:
        raise InvalidEvaluation(name, f"1 to {limit} characters")
    check_identifier(name, value)  # no control characters, line separators, surrogates
    return value


def parse_completion(data: object) -> Completion:
    if not isinstance(data, dict):
        raise InvalidEvaluation("body", "a JSON object")
    raw_time = _text(data, "completed_at")
    try:
        completed_at = datetime.fromisoformat(raw_time)
    except ValueError as exc:
        raise InvalidEvaluation("completed_at", "ISO 8601 date-time") from exc
    if completed_at.tzinfo is None:
        raise InvalidEvaluation("completed_at", "needs a time zone offset")
    phone = data.get("phone")
    if not isinstance(phone, str):
        raise InvalidEvaluation("phone", "required")
    linked = data.get("linked_items")
    linked = [] if linked is None else linked  # null is absent; {} or "" is not a list
    if not isinstance(linked, list) or not all(isinstance(x, str) and x for x in linked):
        raise InvalidEvaluation("linked_items", "a list of item ids")
    for item in linked:
        check_identifier("linked_items", item.strip())
    batch_id = _text(data, "batch_id", required=False)
    theme_id = _text(data, "theme_id", required=False)
    if batch_id and theme_id:
        raise InvalidEvaluation("theme_id", "an item is in a batch or a theme, not both")
    if linked and not (batch_id or theme_id):
        raise InvalidEvaluation("linked_items", "only with batch_id or theme_id")
    return Completion(
        item_id=_text(data, "item_id"),
        service_code=_text(data, "service_code"),
        service_name=_text(data, "service_name", limit=100),
        department=_text(data, "department", limit=100),
        phone=normalise_phone(phone),
        completed_at=completed_at,
        batch_id=batch_id,
        theme_id=theme_id,
        linked_items=tuple(s.strip() for s in linked),
        dept_code=_text(data, "dept_code", required=False),
    )


def add_completion_routes(app: web.Application, reminders) -> None:
    """``POST /v1/completions``; ``reminders`` is an ``sms.reminders.Reminders``."""

    async def post_completion(request: web.Request) -> web.Response:
        try:
            data = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            return web.json_response({"error": "invalid_json", "field": "body",
                                      "message": "body is not JSON"}, status=400, dumps=_dumps)
        try:
            completion = parse_completion(data)
        except InvalidEvaluation as exc:
            return web.json_response({"error": "invalid", "field": exc.field,
                                      "message": exc.message}, status=400, dumps=_dumps)
        scheduled = await reminders.schedule(completion)
        return web.json_response(scheduled.to_dict(), status=201 if scheduled.created else 200,
                                 dumps=_dumps)

    app.router.add_post("/v1/completions", post_completion)
