"""Bad-rating cases (seed art. 15): callback, verify, rectify, tell the evaluator.

Theory of operation
-------------------
Every accepted evaluation graded 不满意/非常不满意 (``Grade.is_bad``), a first
evaluation or a follow-up (追加评价, assessNumber 2: the citizen is still not satisfied,
which art. 15 answers with a callback just the same), opens one case, in the same
atomic step that counts it (``ratings.results.record_accepted``). A case is a hash
``results.case(id)`` (id = the evaluation id) plus an append-only log ``results.case_log(id)`` of
status changes (who, when, note). Its callback deadline is N working days
(China local time; default 2, ``CaseSettings.working_days``) after acceptance:
weekends, public holidays and 调休 working weekends as ``ratings.workdays`` knows
them (chinese-calendar, plus the operator's override file).

Status machine (``TRANSITIONS``)::

    pending_callback 待回访 → called_back 已回访 → rectifying 整改中 → rectified 已整改
    any open status → mistaken 误评 | malicious 恶意差评   (note required: why)

``move`` is a compare-and-set in one Lua script: it applies only if the case is
still in the status the supervisor saw, appends the log entry, closes the case
in the open index when it ends, and for 误评/恶意差评 moves the evaluation's
counts (the fields it was counted under, kept on the case as ``counted``: a follow-up
is counted under ``f|<grade>`` only) to the excluded column of the results (the
rating is excluded and the decision recorded, art. 15). After 已整改 the caller texts the evaluator
(``console`` sends it through the SMS carrier interface); ``mark_feedback``
records the outcome on the case. The phone number is a value in the case hash
(needed for that text), never a key, and is shown only masked.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone

from ratings import keys, results
from ratings.grades import Grade
from ratings.model import CHINA, Evaluation, mask_phone
from ratings.workdays import WorkCalendar

PENDING = "pending_callback"
CALLED_BACK = "called_back"
RECTIFYING = "rectifying"
RECTIFIED = "rectified"
MISTAKEN = "mistaken"
MALICIOUS = "malicious"

LABELS = {PENDING: "待回访", CALLED_BACK: "已回访", RECTIFYING: "整改中", RECTIFIED: "已整改",
          MISTAKEN: "误评", MALICIOUS: "恶意差评"}
EXCLUDING = (MISTAKEN, MALICIOUS)
CLOSED = (RECTIFIED, MISTAKEN, MALICIOUS)
_FORWARD = {PENDING: CALLED_BACK, CALLED_BACK: RECTIFYING, RECTIFYING: RECTIFIED}
TRANSITIONS: dict[str, tuple[str, ...]] = {
    s: ((_FORWARD[s],) if s in _FORWARD else ()) + EXCLUDING for s in (PENDING, CALLED_BACK,
                                                                        RECTIFYING)}
TRANSITIONS.update({s: () for s in CLOSED})


class CaseError(ValueError):
    """A transition that is not allowed; ``code``: not_found, bad_transition, stale,
    note_required."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class CaseSettings:
    working_days: int = 2  # callback deadline (seed art. 15 leaves it to the province)
    calendar: WorkCalendar = field(default_factory=WorkCalendar)


SETTINGS = CaseSettings()


def configure(settings: CaseSettings) -> None:
    """Set the deadline rule for cases opened from now on (the console calls this)."""
    global SETTINGS
    SETTINGS = settings


def add_working_days(start: datetime, n: int) -> datetime:
    """``n`` working days after ``start`` (China local) by the configured calendar."""
    return SETTINGS.calendar.add_working_days(start, n)


def new_case(ev: Evaluation, now: datetime, settings: CaseSettings | None = None
             ) -> tuple[dict, dict]:
    """The case hash fields and its first log entry for a bad evaluation."""
    settings = settings or SETTINGS
    # counted from the evaluation (a backlog that reaches us late is late already),
    # never from a time in the future
    deadline = settings.calendar.add_working_days(min(ev.assessed_at, now),
                                                  settings.working_days)
    record = {
        "id": ev.id, "status": PENDING, "grade": ev.grade.id, "channel": ev.channel.value,
        "target_kind": ev.target.kind.value, "target": ev.target.id,
        "task": results.task_of(ev), "staff": results.staff_of(ev),
        "reasons": json.dumps(list(ev.reasons), ensure_ascii=False),
        "comment": ev.comment, "voice": ev.voice_comment or "",
        "phone": ev.phone or "", "phone_masked": mask_phone(ev.phone),
        "assessed_at": ev.assessed_at.isoformat(), "created_at": now.isoformat(),
        "deadline": deadline.isoformat(), "day": results.local_day(ev),
        "flow_id": ev.flow_id or "", "flow_version": ev.flow_version or "",
        "assess_number": str(ev.assess_number),
        "counted": json.dumps(results.count_fields(ev), ensure_ascii=False),
    }
    entry = {"at": now.isoformat(), "by": "system", "from": "", "to": PENDING,
             "note": "差评自动立案 case opened"}
    return record, entry


_MOVE_LUA = """
-- KEYS[1] case, KEYS[2] log, KEYS[3] open zset, KEYS[4] day hash
-- ARGV[1] expected status, ARGV[2] new status, ARGV[3] log entry json, ARGV[4] closes (0/1)
-- ARGV[5] excludes (0/1), ARGV[6] case id, ARGV[7] ttl, ARGV[8..] count fields to move
local current = redis.call('HGET', KEYS[1], 'status')
if not current then return {'not_found', ''} end
if current ~= ARGV[1] then return {'stale', current} end
redis.call('HSET', KEYS[1], 'status', ARGV[2], 'updated_at', cjson.decode(ARGV[3])['at'])
redis.call('RPUSH', KEYS[2], ARGV[3])
redis.call('EXPIRE', KEYS[2], ARGV[7])
if ARGV[4] == '1' then
  redis.call('ZREM', KEYS[3], ARGV[6])
  redis.call('HSET', KEYS[1], 'closed_at', cjson.decode(ARGV[3])['at'])
end
if ARGV[5] == '1' then
  for i = 8, #ARGV - 1 do redis.call('HINCRBY', KEYS[4], ARGV[i], -1) end
  redis.call('HINCRBY', KEYS[4], ARGV[#ARGV], 1)
  local by = cjson.decode(ARGV[3])
  redis.call('HSET', KEYS[1], 'excluded_by', by['by'], 'excluded_why', by['note'])
end
return {'ok', ARGV[2]}
"""


def _record(raw) -> dict | None:
    if not raw:
        return None
    rec = {keys.decoded(k): keys.decoded(v) for k, v in raw.items()}
    rec["reasons"] = json.loads(rec.get("reasons") or "[]")
    rec["status_label"] = LABELS.get(rec["status"], rec["status"])
    rec["grade_label"] = Grade.from_id(rec["grade"]).name_zh
    rec["overdue"] = (rec["status"] in (PENDING,)
                      and datetime.fromisoformat(rec["deadline"]) < _now())
    rec["next"] = list(TRANSITIONS.get(rec["status"], ()))
    return rec


class Cases:
    def __init__(self, redis):
        self.redis = redis
        self._move = redis.register_script(_MOVE_LUA)

    async def get(self, case_id: str) -> dict | None:
        return _record(await self.redis.hgetall(results.case(case_id)))

    async def get_many(self, ids) -> list[dict]:
        """Cases by id in one round trip (expired ones left out)."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for cid in ids:
                pipe.hgetall(results.case(keys.decoded(cid)))
            raws = await pipe.execute()
        return [rec for rec in map(_record, raws) if rec is not None]

    async def history(self, case_id: str) -> list[dict]:
        return [json.loads(x) for x in await self.redis.lrange(results.case_log(case_id), 0, -1)]

    async def list(self, status: str | None = None, limit: int = 200, scan: int = 20_000
                   ) -> list[dict]:
        """``status`` "open": every open case, nearest deadline first; otherwise newest
        first, all or one status, at most ``limit`` (looking at the newest ``scan``)."""
        if status == "open":
            ids = await self.redis.zrange(results.CASES_OPEN, 0, -1)
            return (await self.get_many(ids))[:limit]
        out: list[dict] = []
        for start in range(0, scan, 500):
            ids = await self.redis.zrevrange(results.CASES, start, start + 499)
            if not ids:
                break
            out += [rec for rec in await self.get_many(ids)
                    if status in (None, "") or rec["status"] == status]
            if len(out) >= limit:
                break
        return out[:limit]

    async def counts(self) -> dict[str, int]:
        """Open cases by status, and how many are past their callback deadline."""
        out = {s: 0 for s in (PENDING, CALLED_BACK, RECTIFYING)}
        overdue = 0
        for rec in await self.list("open", limit=1_000_000):
            out[rec["status"]] = out.get(rec["status"], 0) + 1
            overdue += rec["overdue"]
        out["overdue"] = overdue
        return out

    async def move(self, case_id: str, expected: str, new: str, by: str, note: str = "",
                   now: datetime | None = None) -> dict:
        """Change status from ``expected`` to ``new``; raises CaseError."""
        if new not in TRANSITIONS.get(expected, ()):
            raise CaseError("bad_transition", f"{LABELS.get(expected, expected)} → "
                            f"{LABELS.get(new, new)} is not allowed")
        if new in EXCLUDING and not note.strip():
            raise CaseError("note_required", "误评/恶意差评 needs the reason for the decision")
        now = now or _now()
        rec = await self.get(case_id)
        if rec is None:
            raise CaseError("not_found", "no such case")
        entry = {"at": now.isoformat(), "by": by, "from": expected, "to": new,
                 "note": note.strip()[:1000]}
        grade = rec["grade"]
        counted = json.loads(rec.get("counted") or "null") or [  # cases from before
            f"c|{rec['channel']}|{grade}", f"t|{rec['task']}|{grade}", f"s|{rec['staff']}|{grade}"]
        fields = [*counted, f"x|{grade}"]
        code, current = await self._move(
            keys=[results.case(case_id), results.case_log(case_id), results.CASES_OPEN,
                  results.day(rec["day"])],
            args=[expected, new, json.dumps(entry, ensure_ascii=False),
                  "1" if new in CLOSED else "0", "1" if new in EXCLUDING else "0", case_id,
                  results.CASE_TTL_S, *fields])
        code, current = keys.decoded(code), keys.decoded(current)
        if code == "not_found":
            raise CaseError("not_found", "no such case")
        if code == "stale":
            raise CaseError("stale", f"the case is already {LABELS.get(current, current)}")
        return await self.get(case_id)

    async def mark_feedback(self, case_id: str, outcome: str, now: datetime | None = None
                            ) -> None:
        """Record what happened to the 已整改 text (sent / no_phone / failed: …)."""
        now = now or _now()
        await self.redis.hset(results.case(case_id), mapping={
            "feedback": outcome[:200], "feedback_at": now.isoformat()})


def feedback_text(rec: dict, note: str, signature: str = "【12345热线】") -> str:
    """The text to the evaluator once rectified; no steering, no request to re-rate."""
    when = datetime.fromisoformat(rec["assessed_at"]).astimezone(CHINA)
    body = (f"您好，您于{when.month}月{when.day}日反映的服务问题已整改完毕"
            + (f"：{note.strip()[:60]}" if note.strip() else "") + "。感谢您的监督。")
    return signature + body


def _now() -> datetime:
    return datetime.now(timezone.utc)
