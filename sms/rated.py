"""Has an item been rated anywhere we can know of? (issue 10 point 10)

An item can be rated on a channel that reports straight to the province (the
government-service hall's pad, the 粤省事 app): the exchange has the rating, we do not,
and the 24-hour reminder would ask the citizen a second time. Two ways to learn it:

* ``POST /v1/items/rated-elsewhere`` (authenticated like every /v1 route), from the
  system that saw the rating::

      {"item_id": "44010020261127000123", "channel": "pad", "rated_at": "…+08:00"}

  records a marker (``sms.keys.elsewhere``, kept as long as any reminder could still
  be due) and cancels the item's pending reminder. 201 the first time, 200 when the
  item was already known as rated elsewhere. The marker also covers an item whose
  completion arrives later, and a batch or theme whose items are all rated.
* ``sms.ask_store_before_sending``: before a reminder goes out, the core store is
  asked whether it holds the item's first rating (``stored(projectNo, 1)``, the
  exchange's record query). Off by default: it costs a store request per reminder,
  and only a store with a query can answer. A store that cannot answer now does not
  hold the reminder back (a second request to rate is the lesser harm than none).

``RatedCheck`` is the intake as the SMS channel sees it: ``is_evaluated`` also counts
ratings given elsewhere; everything else (``accept``, ``is_call_rated``…) is the
intake's own. The dispatcher, the conversations and the default-rating policy use it,
so none of them texts, takes a reply for, or default-rates an item rated elsewhere.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone
from functools import partial

from aiohttp import web

from ratings.model import InvalidEvaluation, check_identifier
from sms import keys

log = logging.getLogger(__name__)

CHANNEL_MAX = 32
# readable UTF-8 in JSON answers, not \uXXXX escapes (aiohttp's default json.dumps)
_dumps = partial(json.dumps, ensure_ascii=False)


class RatedCheck:
    def __init__(self, intake, redis, store=None):
        self.intake = intake  # ratings through this gateway (ratings.intake.Intake API)
        self.redis = redis
        self.store = store  # with ``stored(project_no, assess_number)``, or None: not asked

    async def is_evaluated(self, item_id: str) -> bool:
        if await self.intake.is_evaluated(item_id):
            return True
        if await self.redis.exists(keys.elsewhere(item_id)):
            return True
        return self.store is not None and await self._store_holds(item_id)

    def __getattr__(self, name: str):
        return getattr(self.intake, name)  # accept, is_call_rated…: the intake's own

    async def mark(self, item_id: str, channel: str, rated_at: datetime) -> bool:
        """Record that ``item_id`` was rated elsewhere; True the first time."""
        value = json.dumps({"channel": channel, "rated_at": rated_at.isoformat()})
        return bool(await self.redis.set(keys.elsewhere(item_id), value, nx=True,
                                         ex=keys.ELSEWHERE_TTL_S))

    async def _store_holds(self, item_id: str) -> bool:
        try:
            _key, record = await self.store.stored(item_id, 1)
        except Exception as exc:  # the store cannot answer now: send the reminder
            log.warning("sms.store_query_failed", extra={"error": type(exc).__name__})
            return False
        if record is not None:  # remembered: the next reminder for it asks nobody
            await self.mark(item_id, "core_store", datetime.now(timezone.utc))
        return record is not None


def parse_rated_elsewhere(data: object) -> tuple[str, str, datetime]:
    """(item id, channel, rated at) from the request body; InvalidEvaluation if bad."""
    if not isinstance(data, dict):
        raise InvalidEvaluation("body", "expected a JSON object")
    unknown = set(data) - {"item_id", "channel", "rated_at"}
    if unknown:
        raise InvalidEvaluation(sorted(unknown)[0], "unknown field")
    item_id = data.get("item_id")
    check_identifier("item_id", item_id)
    channel = data.get("channel")
    if not isinstance(channel, str) or not channel.strip() or len(channel) > CHANNEL_MAX:
        raise InvalidEvaluation("channel", f"required: where the item was rated "
                                           f"(at most {CHANNEL_MAX} characters)")
    check_identifier("channel", channel)
    raw = data.get("rated_at")
    if raw is None:
        rated_at = datetime.now(timezone.utc)
    else:
        try:
            rated_at = datetime.fromisoformat(raw) if isinstance(raw, str) else None
        except ValueError:
            rated_at = None
        if rated_at is None or rated_at.tzinfo is None:
            raise InvalidEvaluation("rated_at", "an ISO 8601 time with its offset")
    return item_id, channel.strip(), rated_at


def add_rated_elsewhere_routes(app: web.Application, check: RatedCheck, reminders) -> None:
    """``POST /v1/items/rated-elsewhere``; ``reminders`` is an ``sms.reminders.Reminders``."""

    async def post_rated_elsewhere(request: web.Request) -> web.Response:
        try:
            item_id, channel, rated_at = parse_rated_elsewhere(await request.json())
        except ValueError as exc:  # InvalidEvaluation, or a body that is not JSON
            field = getattr(exc, "field", "body")
            message = getattr(exc, "message", "body is not JSON")
            return web.json_response({"error": "invalid", "field": field, "message": message},
                                     status=400, dumps=_dumps)
        first = await check.mark(item_id, channel, rated_at)
        cancelled = await reminders.cancel(f"i:{item_id}")
        log.info("sms.rated_elsewhere", extra={"item_id": item_id, "channel": channel,
                                               "reminder_cancelled": cancelled})
        return web.json_response({"item_id": item_id, "recorded": first,
                                  "reminder_cancelled": cancelled}, status=201 if first else 200,
                                 dumps=_dumps)

    app.router.add_post("/v1/items/rated-elsewhere", post_rated_elsewhere)
