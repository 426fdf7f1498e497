"""Read-only SMS status for the console and callers: a reminder and its message.

``GET /v1/sms/reminders/{reminder_id}`` answers the reminder's state (pending,
sent, rated, optout, failed), due time, attempts, reply code, the number masked
(138****8000, seed art. 4) and, once sent, the message's delivery state per
segment (sent / delivered / failed / expired). ``GET /v1/sms/flagged`` lists the
newest replies that reported pressure to rate (seed art. 4: "窗口的人叫我回满意"):
never a grade, kept for supervisors, no phone number. The lead wires
``add_sms_status_routes(app, reminders, deliveries)`` into the gateway app
behind its authentication.
"""

from __future__ import annotations

import json
from functools import partial

from aiohttp import web

from ratings.model import mask_phone
from sms import keys
from sms.deliveries import Deliveries
from sms.reminders import MESSAGE, Reminders

# readable UTF-8 in JSON answers, not \uXXXX escapes (aiohttp's default json.dumps)
_dumps = partial(json.dumps, ensure_ascii=False)


async def reminder_status(reminders: Reminders, deliveries: Deliveries, rid: str) -> dict | None:
    reminder = await reminders.get(rid)
    if reminder is None:
        return None
    mid = await reminders.redis.hget(keys.reminder(rid), MESSAGE)
    return {"reminder_id": rid, "state": reminder.state, "target_id": reminder.target_id,
            "items": list(reminder.items) or [reminder.target_id], "code": reminder.code,
            "due_at": reminder.due_at, "attempts": reminder.attempts,
            "phone": mask_phone(reminder.phone),
            "message": await deliveries.status(mid.decode()) if mid else None}


def add_sms_status_routes(app: web.Application, reminders: Reminders,
                          deliveries: Deliveries) -> None:
    async def get_reminder(request: web.Request) -> web.Response:
        status = await reminder_status(reminders, deliveries, request.match_info["rid"])
        if status is None:
            return web.json_response({"error": "no such reminder"}, status=404, dumps=_dumps)
        return web.json_response(status, dumps=_dumps)

    async def get_flagged(request: web.Request) -> web.Response:
        return web.json_response({"flagged": await flagged_replies(reminders.redis)},
                                 dumps=_dumps)

    app.router.add_get("/v1/sms/reminders/{rid}", get_reminder)
    app.router.add_get("/v1/sms/flagged", get_flagged)


async def flagged_replies(redis, count: int = 100) -> list[dict]:
    """The newest flagged replies first (sms.conversation records them)."""
    entries = await redis.xrevrange(keys.FLAGGED, count=count)
    return [{"id": eid.decode(), **{k.decode(): v.decode() for k, v in fields.items()}}
            for eid, fields in entries]
