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

Status machine (``TRANSITIONS``; ``next_steps`` narrows it by the verification)::

    pending_callback 待回访 ─callback─▶ called_back 已回访 (verification recorded:
                                                 属实 true | 部分属实 partly | 不属实 untrue)
    called_back, 属实/部分属实 ─rectify─▶ rectifying 整改中 (deadline: N working days)
                                        ─rectified─▶ rectified 已整改 → text the evaluator
    called_back, 不属实 ─close─▶ unfounded 不属实·办结 (finding required)
    called_back, 不属实 ─request (supervisor A, finding required)─▶ exclusion_requested
    exclusion_requested ─approve (supervisor B ≠ A)─▶ mistaken 误评 | malicious 恶意差评
    exclusion_requested ─reject (supervisor B ≠ A, why)─▶ called_back

Every step is a compare-and-set in one Lua script (``_STEP_LUA``): it applies only if
the case is still in the status the supervisor saw and its guards hold *in Redis*
(the verification result a step needs; for an approval or a rejection, a decider
other than the requester), writes the step's fields, appends the log entry (who,
when, from, to, the note, the step, the verification, and ``via``: where the
decision came from, e.g. the console user's address or ``cli user@host``), and keeps
the open index (closed cases leave it; a rectifying case is scored by its
rectification deadline). Only the approval moves the evaluation's counts (the fields
it was counted under, kept on the case as ``counted``: a follow-up is counted under
``f|<grade>`` only) to the excluded column, and in the same script appends the
correction for the core store to ``ratings.corrections.CORRECTIONS`` (the exchange
learns of the exclusion exactly once; see that module).

A rating is excluded only after a callback verified it as 不属实 and two different
supervisors agreed; the request, the approval or rejection and the correction's
fate are all in the append-only log. ``move`` keeps the console's call shape: it maps
(from, to) onto these steps (to 误评/恶意差评 from 已回访 is the request; from
exclusion_requested the approval).

Overdue: a pending case past its callback deadline, a rectifying case past its
rectification deadline (``overdue_kind``; ``counts`` counts both).

After 已整改 the caller texts the evaluator (``console`` sends it through the SMS
carrier interface); ``mark_feedback`` records the outcome on the case. The phone
number is a value in the case hash (needed for that text), never a key, and is
shown only masked.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone

from ratings import corrections, keys, results
from ratings.grades import Grade
from ratings.model import CHINA, Evaluation, mask_phone
from ratings.workdays import WorkCalendar

PENDING = "pending_callback"
CALLED_BACK = "called_back"
RECTIFYING = "rectifying"
RECTIFIED = "rectified"
UNFOUNDED = "unfounded"
EXCLUSION_REQUESTED = "exclusion_requested"
MISTAKEN = "mistaken"
MALICIOUS = "malicious"

LABELS = {PENDING: "待回访", CALLED_BACK: "已回访", RECTIFYING: "整改中", RECTIFIED: "已整改",
          UNFOUNDED: "不属实·办结", EXCLUSION_REQUESTED: "剔除待审批",
          MISTAKEN: "误评", MALICIOUS: "恶意差评"}
EXCLUDING = (MISTAKEN, MALICIOUS)
CLOSED = (RECTIFIED, UNFOUNDED, MISTAKEN, MALICIOUS)
OPEN = (PENDING, CALLED_BACK, RECTIFYING, EXCLUSION_REQUESTED)
TRANSITIONS: dict[str, tuple[str, ...]] = {
    PENDING: (CALLED_BACK,),
    CALLED_BACK: (RECTIFYING, UNFOUNDED, *EXCLUDING),
    RECTIFYING: (RECTIFIED,),
    EXCLUSION_REQUESTED: (*EXCLUDING, CALLED_BACK),
    **{s: () for s in CLOSED},
}

# The verification result recorded with the callback (art. 15 回访核实).
TRUE, PARTLY, UNTRUE = "true", "partly", "untrue"
VERIFICATION = {TRUE: "属实", PARTLY: "部分属实", UNTRUE: "不属实"}
FOUNDED = (TRUE, PARTLY)  # to be rectified within a deadline (限期整改)


class CaseError(ValueError):
    """A step that is not allowed; ``code``: not_found, bad_transition, stale,
    note_required, verification_required, bad_verification, same_supervisor."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class CaseSettings:
    working_days: int = 2  # callback deadline (seed art. 15 leaves it to the province)
    calendar: WorkCalendar = field(default_factory=WorkCalendar)
    rectify_working_days: int = 10  # default rectification deadline (限期整改)


SETTINGS = CaseSettings()


def configure(settings: CaseSettings) -> None:
    """Set the deadline rules for cases opened from now on (the console calls this)."""
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


def next_steps(rec: dict) -> list[str]:
    """The statuses ``rec`` may move to now (``TRANSITIONS`` narrowed by its verification
    and, for an exclusion awaiting approval, by the kind requested)."""
    status, verification = rec.get("status"), rec.get("verification", "")
    if status == CALLED_BACK:
        if verification in FOUNDED:
            return [RECTIFYING]
        if verification == UNTRUE:
            return [UNFOUNDED, *EXCLUDING]
        return []  # the verification result first (``verify``)
    if status == EXCLUSION_REQUESTED:
        kind = rec.get("exclusion_kind", "")
        return [k for k in EXCLUDING if k == kind] + [CALLED_BACK]
    return list(TRANSITIONS.get(status, ()))


_STEP_LUA = """
-- KEYS[1] case, KEYS[2] log, KEYS[3] open zset, KEYS[4] day hash, KEYS[5] corrections
-- ARGV[1] expected status, ARGV[2] new status, ARGV[3] log entry json, ARGV[4] closes (0/1)
-- ARGV[5] excludes (0/1), ARGV[6] case id, ARGV[7] ttl, ARGV[8] fields json (HSET),
-- ARGV[9] guards json [[code, field, op ('in'|'ne'), values...]], ARGV[10] open score
-- ('' = keep), ARGV[11] correction entry json ('' = none), ARGV[12..] count fields
local current = redis.call('HGET', KEYS[1], 'status')
if not current then return {'not_found', ''} end
if current ~= ARGV[1] then return {'stale', current} end
for _, g in ipairs(cjson.decode(ARGV[9])) do
  local v = redis.call('HGET', KEYS[1], g[2]) or ''
  local ok = (g[3] == 'ne')
  for i = 4, #g do
    if g[3] == 'in' and v == g[i] then ok = true end
    if g[3] == 'ne' and v == g[i] then ok = false end
  end
  if not ok then return {'guard', g[1]} end
end
local entry = cjson.decode(ARGV[3])
redis.call('HSET', KEYS[1], 'status', ARGV[2], 'updated_at', entry['at'])
for k, v in pairs(cjson.decode(ARGV[8])) do redis.call('HSET', KEYS[1], k, v) end
redis.call('RPUSH', KEYS[2], ARGV[3])
redis.call('EXPIRE', KEYS[2], ARGV[7])
if ARGV[4] == '1' then
  redis.call('ZREM', KEYS[3], ARGV[6])
  redis.call('HSET', KEYS[1], 'closed_at', entry['at'])
elseif ARGV[10] ~= '' then
  redis.call('ZADD', KEYS[3], 'XX', ARGV[10], ARGV[6])
end
if ARGV[5] == '1' then
  for i = 12, #ARGV - 1 do redis.call('HINCRBY', KEYS[4], ARGV[i], -1) end
  redis.call('HINCRBY', KEYS[4], ARGV[#ARGV], 1)
end
if ARGV[11] ~= '' then
  local c = cjson.decode(ARGV[11])
  redis.call('XADD', KEYS[5], '*', 'case', c['case'], 'at', c['at'], 'records', c['records'])
  redis.call('EXPIRE', KEYS[5], ARGV[7])
end
return {'ok', ARGV[2]}
"""

_GUARD_TEXT = {
    "verification_required": "this step needs another verification result (核实结果)",
    "same_supervisor": "the exclusion must be decided by a supervisor other than the "
                       "one who requested it",
}


def _record(raw) -> dict | None:
    if not raw:
        return None
    rec = {keys.decoded(k): keys.decoded(v) for k, v in raw.items()}
    rec["reasons"] = json.loads(rec.get("reasons") or "[]")
    rec["status_label"] = LABELS.get(rec["status"], rec["status"])
    rec["grade_label"] = Grade.from_id(rec["grade"]).name_zh
    rec["verification_label"] = VERIFICATION.get(rec.get("verification", ""), "")
    now = _now()
    kind = ""
    if rec["status"] == PENDING and datetime.fromisoformat(rec["deadline"]) < now:
        kind = "callback"
    elif (rec["status"] == RECTIFYING and rec.get("rectify_deadline")
          and datetime.fromisoformat(rec["rectify_deadline"]) < now):
        kind = "rectification"
    rec["overdue_kind"] = kind
    rec["overdue"] = bool(kind)
    rec["next"] = next_steps(rec)
    return rec


class Cases:
    def __init__(self, redis):
        self.redis = redis
        self._step = redis.register_script(_STEP_LUA)

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
        """Open cases by status; how many are past their callback deadline
        (``overdue_callback``), past their rectification deadline
        (``overdue_rectification``), and both (``overdue``)."""
        out = {s: 0 for s in OPEN}
        late = {"callback": 0, "rectification": 0}
        for rec in await self.list("open", limit=1_000_000):
            out[rec["status"]] = out.get(rec["status"], 0) + 1
            if rec["overdue_kind"]:
                late[rec["overdue_kind"]] += 1
        out["overdue_callback"] = late["callback"]
        out["overdue_rectification"] = late["rectification"]
        out["overdue"] = late["callback"] + late["rectification"]
        return out

    # -- the steps ------------------------------------------------------------
    async def move(self, case_id: str, expected: str, new: str, by: str, note: str = "",
                   now: datetime | None = None, *, verification: str | None = None,
                   via: str = "", working_days: int | None = None) -> dict:
        """The console's call: the step that takes the case from ``expected`` to ``new``
        (see the status machine); raises CaseError."""
        if new not in TRANSITIONS.get(expected, ()) and not (
                expected == new == CALLED_BACK and verification):
            raise CaseError("bad_transition", f"{LABELS.get(expected, expected)} → "
                            f"{LABELS.get(new, new)} is not allowed")
        common = {"by": by, "now": now, "via": via}
        if expected == PENDING:
            return await self.callback(case_id, finding=note, verification=verification,
                                       **common)
        if expected == CALLED_BACK:
            if new == CALLED_BACK:
                return await self.verify(case_id, verification or "", note, **common)
            if new == RECTIFYING:
                return await self.rectify(case_id, note=note, working_days=working_days,
                                          **common)
            if new == UNFOUNDED:
                return await self.close_unfounded(case_id, note, **common)
            return await self.request_exclusion(case_id, new, note, **common)
        if expected == RECTIFYING:
            return await self.rectified(case_id, note, **common)
        if new == CALLED_BACK:
            return await self.reject_exclusion(case_id, note, **common)
        return await self.approve_exclusion(case_id, new, note, **common)

    async def callback(self, case_id: str, by: str, finding: str = "",
                       verification: str | None = None, *, via: str = "",
                       now: datetime | None = None) -> dict:
        """待回访 → 已回访, with the verification result (属实/部分属实/不属实) and the
        finding when known (required with a result); ``verify`` records it later."""
        fields = {}
        if verification:
            fields = self._verification_fields(verification, finding, by, now)
        return await self._run(case_id, PENDING, CALLED_BACK, by, finding, now, via,
                               step="callback", fields=fields)

    async def verify(self, case_id: str, verification: str, finding: str, by: str, *,
                     via: str = "", now: datetime | None = None) -> dict:
        """Record (or correct) the verification result of a called-back case."""
        fields = self._verification_fields(verification, finding, by, now)
        return await self._run(case_id, CALLED_BACK, CALLED_BACK, by, finding, now, via,
                               step="verify", fields=fields)

    async def rectify(self, case_id: str, by: str, note: str = "",
                      working_days: int | None = None, *, via: str = "",
                      now: datetime | None = None) -> dict:
        """已回访 (属实/部分属实) → 整改中, due ``working_days`` working days from now
        (default ``CaseSettings.rectify_working_days``), by the work calendar."""
        now = now or _now()
        days = SETTINGS.rectify_working_days if working_days is None else working_days
        if not 1 <= days <= 250:
            raise CaseError("bad_deadline", "the rectification deadline is 1..250 working days")
        deadline = SETTINGS.calendar.add_working_days(now, days)
        return await self._run(
            case_id, CALLED_BACK, RECTIFYING, by, note, now, via, step="rectify",
            fields={"rectify_deadline": deadline.isoformat(), "rectify_days": str(days),
                    "rectify_by": by, "rectify_note": note.strip()[:1000]},
            guards=[["verification_required", "verification", "in", *FOUNDED]],
            score=int(deadline.timestamp()))

    async def rectified(self, case_id: str, note: str = "", by: str = "", *, via: str = "",
                        now: datetime | None = None) -> dict:
        """整改中 → 已整改; the caller then texts the evaluator (``mark_feedback``)."""
        now = now or _now()
        rec = await self._get_or_raise(case_id)
        late = bool(rec.get("rectify_deadline")) and \
            datetime.fromisoformat(rec["rectify_deadline"]) < now
        return await self._run(case_id, RECTIFYING, RECTIFIED, by, note, now, via,
                               step="rectified",
                               fields={"rectified_at": now.isoformat(),
                                       "rectify_result": note.strip()[:1000],
                                       "rectified_late": "1" if late else "0"})

    async def close_unfounded(self, case_id: str, note: str, by: str, *, via: str = "",
                              now: datetime | None = None) -> dict:
        """已回访 (不属实), not a mis-rating: closed without rectification; why required."""
        _need(note, "closing a case verified 不属实 needs the reason")
        return await self._run(case_id, CALLED_BACK, UNFOUNDED, by, note, now, via,
                               step="close_unfounded",
                               guards=[["verification_required", "verification", "in", UNTRUE]])

    async def request_exclusion(self, case_id: str, kind: str, finding: str, by: str, *,
                                via: str = "", now: datetime | None = None) -> dict:
        """已回访 (不属实) → 剔除待审批: ``by`` asks that the rating be excluded as ``kind``
        (mistaken|malicious); ``finding``: the verification finding, required."""
        if kind not in EXCLUDING:
            raise CaseError("bad_transition", f"{kind} is not 误评/恶意差评")
        _need(finding, "误评/恶意差评 needs the verification finding (why)")
        now = now or _now()
        return await self._run(
            case_id, CALLED_BACK, EXCLUSION_REQUESTED, by, finding, now, via,
            step="request_exclusion", extra={"kind": kind},
            fields={"exclusion_kind": kind, "exclusion_requested_by": by,
                    "exclusion_requested_at": now.isoformat(),
                    "exclusion_finding": finding.strip()[:1000], "exclusion_via": via[:200]},
            guards=[["verification_required", "verification", "in", UNTRUE]])

    async def approve_exclusion(self, case_id: str, kind: str | None = None, note: str = "",
                                by: str = "", *, via: str = "",
                                now: datetime | None = None) -> dict:
        """剔除待审批 → 误评/恶意差评 by a second supervisor (``by`` ≠ the requester):
        the counts move to the excluded column and the correction is queued for the
        core store, in one step."""
        if not by.strip():
            raise CaseError("note_required", "the approving supervisor's name is required")
        now = now or _now()
        rec = await self._get_or_raise(case_id)
        if rec["status"] != EXCLUSION_REQUESTED:
            raise CaseError("stale", f"the case is already {rec['status_label']}")
        kind = kind or rec.get("exclusion_kind", "")
        if kind != rec.get("exclusion_kind"):
            raise CaseError("bad_transition", f"the request was for "
                            f"{LABELS.get(rec.get('exclusion_kind', ''), '?')}, not "
                            f"{LABELS.get(kind, kind)}")
        if kind not in EXCLUDING:
            raise CaseError("bad_transition", f"{kind} is not 误评/恶意差评")
        finding = rec.get("exclusion_finding", "")
        records = await corrections.correction_records(self.redis, rec, kind, finding, now)
        entry = corrections.entry_for(case_id, records, now)
        grade = rec["grade"]
        counted = json.loads(rec.get("counted") or "null") or [  # cases from before
            f"c|{rec['channel']}|{grade}", f"t|{rec['task']}|{grade}", f"s|{rec['staff']}|{grade}"]
        return await self._run(
            case_id, EXCLUSION_REQUESTED, kind, by, note, now, via, step="approve_exclusion",
            extra={"kind": kind, "requested_by": rec.get("exclusion_requested_by", "")},
            fields={"excluded_by": by, "excluded_why": finding,
                    "excluded_at": now.isoformat(), "exclusion_approved_by": by,
                    "exclusion_note": note.strip()[:1000], "correction_status": "queued"},
            guards=[["same_supervisor", "exclusion_requested_by", "ne", by],
                    ["bad_transition", "exclusion_kind", "in", kind]],
            counts=[*counted, f"x|{grade}"], day=rec["day"], correction=entry)

    async def reject_exclusion(self, case_id: str, note: str, by: str, *, via: str = "",
                               now: datetime | None = None) -> dict:
        """剔除待审批 → 已回访 by a second supervisor, saying why; counts untouched."""
        _need(note, "a rejected exclusion needs the reason")
        now = now or _now()
        return await self._run(
            case_id, EXCLUSION_REQUESTED, CALLED_BACK, by, note, now, via,
            step="reject_exclusion",
            fields={"exclusion_kind": "", "exclusion_rejected_by": by,
                    "exclusion_rejected_at": now.isoformat(),
                    "exclusion_rejected_why": note.strip()[:1000]},
            guards=[["same_supervisor", "exclusion_requested_by", "ne", by]])

    async def mark_feedback(self, case_id: str, outcome: str, now: datetime | None = None
                            ) -> None:
        """Record what happened to the 已整改 text (sent / no_phone / failed: …)."""
        now = now or _now()
        await self.redis.hset(results.case(case_id), mapping={
            "feedback": outcome[:200], "feedback_at": now.isoformat()})

    # -- plumbing ---------------------------------------------------------------
    @staticmethod
    def _verification_fields(verification: str, finding: str, by: str,
                             now: datetime | None) -> dict:
        if verification not in VERIFICATION:
            raise CaseError("bad_verification", f"verification is one of "
                            f"{', '.join(VERIFICATION)} (属实/部分属实/不属实)")
        _need(finding, "the verification needs its finding written down")
        return {"verification": verification, "verification_note": finding.strip()[:1000],
                "verified_by": by, "verified_at": (now or _now()).isoformat()}

    async def _get_or_raise(self, case_id: str) -> dict:
        rec = await self.get(case_id)
        if rec is None:
            raise CaseError("not_found", "no such case")
        return rec

    async def _run(self, case_id: str, expected: str, new: str, by: str, note: str,
                   now: datetime | None, via: str, *, step: str, fields: dict | None = None,
                   guards: list | None = None, score: int | None = None,
                   counts: list[str] | None = None, day: str = "-",
                   correction: dict | None = None,
                   extra: dict | None = None) -> dict:
        """One compare-and-set step (``_STEP_LUA``); the case as it is after it."""
        if not by.strip():
            raise CaseError("note_required", "who takes the step is required")
        now = now or _now()
        entry = {"at": now.isoformat(), "by": by, "from": expected, "to": new,
                 "note": note.strip()[:1000], "step": step, "via": via[:200],
                 **({"verification": fields["verification"]}
                    if fields and "verification" in fields else {}), **(extra or {})}
        code, current = await self._step(
            keys=[results.case(case_id), results.case_log(case_id), results.CASES_OPEN,
                  results.day(day), corrections.CORRECTIONS],
            args=[expected, new, json.dumps(entry, ensure_ascii=False),
                  "1" if new in CLOSED else "0", "1" if counts else "0", case_id,
                  results.CASE_TTL_S, json.dumps(fields or {}, ensure_ascii=False),
                  json.dumps(guards or [], ensure_ascii=False),
                  "" if score is None else str(score),
                  json.dumps(correction, ensure_ascii=False) if correction else "",
                  *(counts or [])])
        code, current = keys.decoded(code), keys.decoded(current)
        if code == "not_found":
            raise CaseError("not_found", "no such case")
        if code == "stale":
            raise CaseError("stale", f"the case is already {LABELS.get(current, current)}")
        if code == "guard":
            raise CaseError(current, _GUARD_TEXT.get(current, f"{step} is not allowed now"))
        return await self.get(case_id)


def _need(text: str, why: str) -> None:
    if not (text or "").strip():
        raise CaseError("note_required", why)


def feedback_text(rec: dict, note: str, signature: str = "【12345热线】") -> str:
    """The text to the evaluator once rectified; no steering, no request to re-rate."""
    when = datetime.fromisoformat(rec["assessed_at"]).astimezone(CHINA)
    body = (f"您好，您于{when.month}月{when.day}日反映的服务问题已整改完毕"
            + (f"：{note.strip()[:60]}" if note.strip() else "") + "。感谢您的监督。")
    return signature + body


def _now() -> datetime:
    return datetime.now(timezone.utc)
