"""Results aggregation for the supervisor console (seed art. 15, 19); funnels re-exported.

Theory of operation
-------------------
Results. The submitter calls ``record_accepted(redis, ev)`` once it has read an
evaluation from the outbox, *before* it talks to the store (the outbox entries
are XDELed when submitted, so a second consumer group on the outbox would miss
them). One Lua script, atomically:

* ``HSETNX`` the evaluation id into the guard hash ``seen(day)``; if it was there the
  evaluation was counted already (a re-delivery after a crash) and nothing else happens;
* ``HINCRBY`` the day hash ``day(YYYY-MM-DD)`` (China local day of the
  evaluation) on ``c|<channel>|<grade>`` and ``t|<task>|<grade>`` for a rating of the
  service, ``s|<staff>|<grade>`` for a rating of a staff member (``count_fields``);
* for a bad grade (``Grade.is_bad``), first evaluation or follow-up (追加评价) alike,
  writes the case hash and indexes it (``ratings.cases`` owns the case itself).

Handed the submitter's ``BatchedScripts`` (ratings.closing), an evaluation that opens
no case takes a lean script of the same guard and counts whose calls of one batch
are one EVALSHA (a few arguments per evaluation instead of ~20).

So every accepted evaluation is counted exactly once, however often the entry
is delivered. Excluding a case (误评/恶意差评) moves its counts from the grade
fields to ``x|<grade>`` in the same script that changes the case status.

Funnel. The flows' statistics stream and its aggregator are ``ratings.funnel``
(its names are re-exported here: the console reads both through this module).

Keys (all ``{hcp}``-tagged, all with a TTL, none with a phone number) are in
the ``# -- keys`` section below (the funnel's in ``ratings.funnel``); console
sessions live in ``console.keys``.
"""

from __future__ import annotations

import json
import logging
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone

import redis.exceptions

from ratings import keys
from ratings.funnel import (  # noqa: F401 - re-exported
    FUNNEL_FLOWS,
    FUNNEL_GROUP,
    FUNNEL_KINDS,
    STATS,
    FunnelAggregator,
    flow_versions,
    funnel,
    funnel_versions,
    load_funnel,
)
from ratings.grades import Grade
from ratings.model import CHINA, Evaluation, TargetKind

log = logging.getLogger(__name__)

REDIS_DOWN = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError)

# -- keys ---------------------------------------------------------------------
TAG = keys.TAG
RESULTS_TTL_S = keys.RESULTS_TTL_S
SEEN_TTL_S = keys.RECORD_TTL_S  # longer than any re-delivery of an outbox entry
CASES = f"{TAG}:cases"  # zset case id -> created epoch
CASES_OPEN = f"{TAG}:cases:open"  # zset case id -> deadline epoch (not yet closed)
CASE_TTL_S = keys.DEDUPE_TTL_S  # case records are kept as long as dedupe keys


def seen(d: str) -> str:
    """hash: evaluation id -> 1 for the evaluations of one (China) day already counted.
    One hash per day, not a key per evaluation: a field costs far less memory."""
    return f"{TAG}:res:seen:{d}"


def day(d: date | str) -> str:
    return f"{TAG}:res:d:{d if isinstance(d, str) else d.isoformat()}"


def case(case_id: str) -> str:
    return f"{TAG}:case:{case_id}"


def case_log(case_id: str) -> str:
    return f"{TAG}:case:{case_id}:log"


# -- results --------------------------------------------------------------------
NONE = "-"  # field part when an evaluation has no task code or staff id

def local_day(ev: Evaluation) -> str:
    return ev.assessed_at.astimezone(CHINA).date().isoformat()


def task_of(ev: Evaluation) -> str:
    return ev.context.get("task_code") or ev.context.get("service") or NONE


def staff_of(ev: Evaluation) -> str:
    return ev.target.staff_id or ev.context.get("agent") or NONE


def count_fields(ev: Evaluation) -> list[str]:
    """The day-hash fields one evaluation is counted under. A rating of a staff member
    (seed art. 10) counts for that person only, and a rating of the service (item,
    batch, theme, call) for the channel and task only: the agent who took a call is not
    charged with the caller's 问题未解决 about the item, and a staff rating does not
    move the service's figures (issue 10 point 7)."""
    g = ev.grade.id
    if ev.assess_number == 2:  # 追加评价: counted apart, the item was counted once already
        return [f"f|{g}"]
    if ev.target.kind is TargetKind.STAFF:
        return [f"s|{staff_of(ev)}|{g}"]
    return [f"c|{ev.channel.value}|{g}", f"t|{task_of(ev)}|{g}"]


_RECORD_LUA = """
-- KEYS[1] seen guards of the day (field = evaluation id), KEYS[2] day hash,
-- KEYS[3] case hash, KEYS[4] cases zset, KEYS[5] open cases zset, KEYS[6] case log
-- ARGV[1] seen ttl, ARGV[2] day ttl, ARGV[3] case json ('' = no case),
-- ARGV[4] evaluation (= case) id, ARGV[5] created epoch, ARGV[6] deadline epoch, ARGV[7] case ttl,
-- ARGV[8] first history entry, ARGV[9..] count fields
if redis.call('HSETNX', KEYS[1], ARGV[4], '1') == 0 then return 0 end
redis.call('EXPIRE', KEYS[1], ARGV[1])
for i = 9, #ARGV do redis.call('HINCRBY', KEYS[2], ARGV[i], 1) end
redis.call('EXPIRE', KEYS[2], ARGV[2])
if ARGV[3] ~= '' then
  local fields = cjson.decode(ARGV[3])
  for k, v in pairs(fields) do redis.call('HSET', KEYS[3], k, v) end
  redis.call('EXPIRE', KEYS[3], ARGV[7])
  redis.call('ZADD', KEYS[4], ARGV[5], ARGV[4])
  redis.call('ZADD', KEYS[5], ARGV[6], ARGV[4])
  redis.call('EXPIRE', KEYS[4], ARGV[7])  -- indexes live as long as their newest case
  redis.call('EXPIRE', KEYS[5], ARGV[7])
  redis.call('RPUSH', KEYS[6], ARGV[8])
  redis.call('EXPIRE', KEYS[6], ARGV[7])
end
return 1
"""


# The same counting, for evaluations that open no case (most of them), in the
# ``ratings.closing.merge_calls`` layout: the submitter's batcher folds the calls of
# a batch into one EVALSHA. Per call: KEYS seen guards, day hash; ARGV evaluation id,
# count fields. One 0/1 per call, as _RECORD_LUA answers.
_COUNT_MERGED_LUA = """
local out, i = {}, 1
while i <= #ARGV do
  local seen, counts = KEYS[tonumber(ARGV[i + 1])], KEYS[tonumber(ARGV[i + 2])]
  local nargs = tonumber(ARGV[i + 3])
  local id = ARGV[i + 4]
  if redis.call('HSETNX', seen, id, '1') == 1 then
    redis.call('EXPIRE', seen, %(seen_ttl)d)
    for j = i + 5, i + 3 + nargs do redis.call('HINCRBY', counts, ARGV[j], 1) end
    redis.call('EXPIRE', counts, %(day_ttl)d)
    out[#out + 1] = 1
  else
    out[#out + 1] = 0
  end
  i = i + 4 + nargs
end
return out
""" % {"seen_ttl": SEEN_TTL_S, "day_ttl": RESULTS_TTL_S}


async def record_accepted(redis, ev: Evaluation, now: datetime | None = None) -> bool:
    """Count ``ev`` (and open its case if bad) exactly once; False if counted before.

    Redis being away raises (the submitter waits and retries); any other failure is
    logged and swallowed: the console's figures must never hold up a submission.
    """
    try:
        return await _record_accepted(redis, ev, now)
    except REDIS_DOWN:
        raise
    except Exception:  # noqa: BLE001 - see the docstring
        log.exception("results: evaluation %s not counted", ev.id)
        return False


async def _record_accepted(redis, ev: Evaluation, now: datetime | None) -> bool:
    from ratings import cases  # cases builds on these keys

    fields = count_fields(ev)
    merged = getattr(redis, "register_merged_script", None)
    if merged is not None and not ev.grade.is_bad:  # the submitter's batcher: no case
        d = local_day(ev)
        script = _script(redis, "_hcp_count_merged_script", _COUNT_MERGED_LUA, merged)
        return bool(await script(keys=[seen(d), day(d)], args=[ev.id, *fields]))
    now = now or datetime.now(timezone.utc)
    case_json, created, deadline, first = "", 0, 0, ""
    if ev.grade.is_bad:  # a bad follow-up (追加评价) too: art. 15 makes no exception
        record, first_entry = cases.new_case(ev, now)
        case_json = json.dumps(record, ensure_ascii=False)
        created = int(now.timestamp())
        deadline = int(datetime.fromisoformat(record["deadline"]).timestamp())
        first = json.dumps(first_entry, ensure_ascii=False)
    script = _script(redis, "_hcp_record_script", _RECORD_LUA)
    d = local_day(ev)
    done = await script(
        keys=[seen(d), day(d), case(ev.id), CASES, CASES_OPEN, case_log(ev.id)],
        args=[SEEN_TTL_S, RESULTS_TTL_S, case_json, ev.id, created, deadline, CASE_TTL_S,
              first, *fields])
    return bool(done)


def _script(redis, attr: str, text: str, register=None):
    """One registered Script per client (register_script is cheap, but not free)."""
    cached = getattr(redis, attr, None)
    if cached is None:
        cached = (register or redis.register_script)(text)
        try:
            setattr(redis, attr, cached)
        except AttributeError:  # a client that refuses attributes: no cache
            pass
    return cached


@dataclass
class Results:
    """Counts over a range of days, split every way the console shows them."""

    days: list[str]
    by_day: dict[str, Counter] = field(default_factory=dict)  # day -> grade -> n
    by_channel: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    by_task: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    by_staff: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    excluded: Counter = field(default_factory=Counter)  # grade -> n excluded (误评/恶意)
    follow_ups: Counter = field(default_factory=Counter)  # grade -> n 追加评价

    @property
    def total(self) -> Counter:
        out: Counter = Counter()
        for c in self.by_channel.values():
            out.update(c)
        return out

    def satisfaction(self) -> float | None:
        """Share of 非常满意+满意+基本满意 among counted grades (None if nothing)."""
        total = self.total
        n = sum(total.values())
        if not n:
            return None
        return sum(v for g, v in total.items() if not Grade.from_id(g).is_bad) / n

    def mean_score(self) -> float | None:
        total = self.total
        n = sum(total.values())
        if not n:
            return None
        return sum(Grade.from_id(g).score * v for g, v in total.items()) / n


def day_range(first: date, last: date) -> list[str]:
    days = []
    d = first
    while d <= last:
        days.append(d.isoformat())
        d += timedelta(days=1)
    return days


async def load_results(redis, first: date, last: date) -> Results:
    days = day_range(first, last)
    async with redis.pipeline(transaction=False) as pipe:
        for d in days:
            pipe.hgetall(day(d))
        hashes = await pipe.execute()
    out = Results(days)
    for d, raw in zip(days, hashes, strict=True):
        per_day: Counter = Counter()
        for k, v in raw.items():
            name = k.decode() if isinstance(k, bytes) else k
            n = int(v)
            kind, _, rest = name.partition("|")
            what, _, grade = rest.rpartition("|")
            if kind in ("x", "f"):
                (out.excluded if kind == "x" else out.follow_ups)[rest] += n
                continue
            if n == 0 or grade not in GRADE_IDS:
                continue
            if kind == "c":
                out.by_channel[what][grade] += n
                per_day[grade] += n
            elif kind == "t":
                out.by_task[what][grade] += n
            elif kind == "s":
                out.by_staff[what][grade] += n
        out.by_day[d] = per_day
    return out


GRADE_IDS = frozenset(g.id for g in Grade)
