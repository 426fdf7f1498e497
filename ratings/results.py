"""Results and funnel aggregation for the supervisor console (seed art. 15, 19).

Theory of operation
-------------------
Results. The submitter calls ``record_accepted(redis, ev)`` once it has read an
evaluation from the outbox, *before* it talks to the store (the outbox entries
are XDELed when submitted, so a second consumer group on the outbox would miss
them). One Lua script, atomically:

* ``HSETNX`` the evaluation id into the guard hash ``seen(day)``; if it was there the
  evaluation was counted already (a re-delivery after a crash) and nothing else happens;
* ``HINCRBY`` the day hash ``day(YYYY-MM-DD)`` (China local day of the
  evaluation) on ``c|<channel>|<grade>``, ``t|<task>|<grade>``, ``s|<staff>|<grade>``;
* for a bad grade (``Grade.is_bad``) writes the case hash and indexes it
  (``ratings.cases`` owns the case itself).

So every accepted evaluation is counted exactly once, however often the entry
is delivered. Excluding a case (误评/恶意差评) moves its counts from the grade
fields to ``x|<grade>`` in the same script that changes the case status.

Funnel. The IVR worker (and later SMS) XADDs ``flows.events.StatEvent`` JSON to
``STATS``. ``FunnelAggregator`` reads it in consumer group ``FUNNEL_GROUP`` and
applies a batch with one script that, per entry, XACKs it and — only if the
XACK removed it from the pending list — HINCRBYs ``funnel(flow, version)``
field ``<node>|<kind>``. Counting and acknowledging are one atomic step, so a
crash or a second gateway claiming the same entry can never count it twice.

Keys (all ``{hcp}``-tagged, all with a TTL, none with a phone number) are in
the ``# -- keys`` section below; console sessions live in ``console.keys``.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone

import redis.exceptions

from ratings import keys
from ratings.grades import Grade
from ratings.model import CHINA, Evaluation

log = logging.getLogger(__name__)

REDIS_DOWN = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError)

# -- keys ---------------------------------------------------------------------
TAG = keys.TAG
RESULTS_TTL_S = 400 * 24 * 3600  # a year of history and a margin
SEEN_TTL_S = keys.RECORD_TTL_S  # longer than any re-delivery of an outbox entry
STATS = f"{TAG}:flows:stats"  # written by ivr.worker (and sms later)
FUNNEL_GROUP = "console-funnel"
FUNNEL_FLOWS = f"{TAG}:funnel:flows"  # zset flow id -> last seen epoch
CASES = f"{TAG}:cases"  # zset case id -> created epoch
CASES_OPEN = f"{TAG}:cases:open"  # zset case id -> deadline epoch (not yet closed)
CASE_TTL_S = keys.DEDUPE_TTL_S  # case records are kept as long as dedupe keys


def seen(d: str) -> str:
    """hash: evaluation id -> 1 for the evaluations of one (China) day already counted.
    One hash per day, not a key per evaluation: a field costs far less memory."""
    return f"{TAG}:res:seen:{d}"


def day(d: date | str) -> str:
    return f"{TAG}:res:d:{d if isinstance(d, str) else d.isoformat()}"


def funnel(flow_id: str, version: str) -> str:
    return f"{TAG}:funnel:{flow_id}:{version}"


def funnel_versions(flow_id: str) -> str:
    """zset version -> epoch the version was first seen in statistics."""
    return f"{TAG}:funnel:v:{flow_id}"


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
    g = ev.grade.id
    if ev.assess_number == 2:  # 追加评价: counted apart, the item was counted once already
        return [f"f|{g}"]
    return [f"c|{ev.channel.value}|{g}", f"t|{task_of(ev)}|{g}", f"s|{staff_of(ev)}|{g}"]


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

    now = now or datetime.now(timezone.utc)
    fields = count_fields(ev)
    case_json, created, deadline, first = "", 0, 0, ""
    if ev.grade.is_bad and ev.assess_number == 1:
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


def _script(redis, attr: str, text: str):
    """One registered Script per client (register_script is cheap, but not free)."""
    cached = getattr(redis, attr, None)
    if cached is None:
        cached = redis.register_script(text)
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


# -- funnel -----------------------------------------------------------------------
FUNNEL_KINDS = ("entered", "digit", "invalid", "no_input", "timeout", "hangup", "completed")

_FUNNEL_LUA = """
-- KEYS[1] stats stream, KEYS[2] flows zset, KEYS[3..] funnel hashes and version zsets
-- ARGV[1] group, ARGV[2] ttl, ARGV[3] now epoch; then per entry 5 values:
-- entry id, funnel key index, field, versions key index, version
local counted = 0
for i = 4, #ARGV, 5 do
  if redis.call('XACK', KEYS[1], ARGV[1], ARGV[i]) == 1 then
    local hk = KEYS[tonumber(ARGV[i + 1])]
    if ARGV[i + 2] ~= '' then
      redis.call('HINCRBY', hk, ARGV[i + 2], 1)
      redis.call('EXPIRE', hk, ARGV[2])
      local vk = KEYS[tonumber(ARGV[i + 3])]
      redis.call('ZADD', vk, 'NX', ARGV[3], ARGV[i + 4])
      redis.call('EXPIRE', vk, ARGV[2])
    end
    counted = counted + 1
  end
end
redis.call('EXPIRE', KEYS[2], ARGV[2])
return counted
"""


class FunnelAggregator:
    """Drains ``STATS`` into the funnel hashes (consumer group, count+XACK atomic)."""

    name = "funnel-aggregator"

    def __init__(self, redis, consumer: str, batch: int = 500, block_ms: int = 1000,
                 claim_idle_ms: int = 60_000):
        self.redis = redis
        self.consumer = consumer
        self.batch = batch
        self.block_ms = block_ms
        self.claim_idle_ms = claim_idle_ms
        self._script = redis.register_script(_FUNNEL_LUA)
        self._task: asyncio.Task | None = None
        self._stopping = False
        self.counted = 0

    async def ensure_group(self) -> None:
        try:
            await self.redis.xgroup_create(STATS, FUNNEL_GROUP, id="0", mkstream=True)
        except Exception as exc:  # redis.ResponseError
            if "BUSYGROUP" not in str(exc):
                raise

    async def apply(self, entries) -> int:
        """Count and acknowledge a batch of (entry id, fields); returns how many counted."""
        if not entries:
            return 0
        script_keys = [STATS, FUNNEL_FLOWS]
        index: dict[str, int] = {}
        args: list = [FUNNEL_GROUP, RESULTS_TTL_S, int(datetime.now(timezone.utc).timestamp())]
        flows_seen = set()
        for entry_id, fields in entries:
            stat = _parse_stat(fields)
            if stat is None:  # unreadable: acknowledge, count nothing
                args += [keys.decoded(entry_id), 3, "", 3, ""]
                continue
            flow_id, version, node, kind = stat
            flows_seen.add(flow_id)
            fk, vk = funnel(flow_id, version), funnel_versions(flow_id)
            for k in (fk, vk):
                if k not in index:
                    script_keys.append(k)
                    index[k] = len(script_keys)  # Lua is 1-based
            args += [keys.decoded(entry_id), index[fk], f"{node}|{kind}", index[vk], version]
        if len(script_keys) == 2:
            script_keys.append(funnel("-", "-"))  # index 3 must exist for skipped entries
        counted = int(await self._script(keys=script_keys, args=args))
        if flows_seen:
            now = int(datetime.now(timezone.utc).timestamp())
            await self.redis.zadd(FUNNEL_FLOWS, {f: now for f in flows_seen})
        self.counted += counted
        return counted

    async def run_once(self, block_ms: int | None = None) -> int:
        """Own pending entries first (a restart), then idle ones of dead consumers, then new."""
        answer = await self.redis.xreadgroup(FUNNEL_GROUP, self.consumer, {STATS: "0"},
                                             count=self.batch)
        entries = answer[0][1] if answer else []
        if not entries:
            claimed = await self.redis.xautoclaim(STATS, FUNNEL_GROUP, self.consumer,
                                                  self.claim_idle_ms, start_id="0-0",
                                                  count=self.batch)
            entries = [(i, f) for i, f in claimed[1] if f]
        if not entries:
            answer = await self.redis.xreadgroup(
                FUNNEL_GROUP, self.consumer, {STATS: ">"}, count=self.batch,
                block=self.block_ms if block_ms is None else block_ms)
            entries = answer[0][1] if answer else []
        return await self.apply(entries)

    async def drain(self) -> int:
        """Count everything now in the stream (tests, the demo)."""
        await self.ensure_group()
        total = 0
        while True:
            n = await self.run_once(block_ms=1)
            total += n
            if n == 0:
                pending = await self.redis.xpending(STATS, FUNNEL_GROUP)
                if not pending or not pending.get("pending"):
                    return total

    async def start(self) -> None:
        await self.ensure_group()
        self._stopping = False
        self._task = asyncio.create_task(self._loop(), name="funnel-aggregator")

    async def _loop(self) -> None:
        delay = 0.1
        # The flag, not only cancel(): redis-py may turn a cancelled blocking read into
        # a connection error, which the except below would otherwise swallow.
        while not self._stopping:
            try:
                await self.run_once()
                delay = 0.1
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis away: back off, keep going
                if "NOGROUP" in str(exc):
                    await self.ensure_group()
                    continue
                log.warning("funnel aggregator: %s; retrying", type(exc).__name__)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def stop(self) -> None:
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None


def _parse_stat(fields) -> tuple[str, str, str, str] | None:
    raw = fields.get(b"stat") if b"stat" in fields else fields.get("stat")
    try:
        data = json.loads(raw)
        return (str(data["flow_id"]), str(data["flow_version"]), str(data["node"]),
                str(data["kind"]))
    except (TypeError, ValueError, KeyError):
        return None


async def flow_versions(redis, flow_id: str) -> list[tuple[str, float]]:
    """Versions seen in statistics, oldest first: (version, first seen epoch)."""
    rows = await redis.zrange(funnel_versions(flow_id), 0, -1, withscores=True)
    return [(keys.decoded(v), float(s)) for v, s in rows]


async def load_funnel(redis, flow_id: str, version: str) -> dict[str, Counter]:
    """node -> kind -> count."""
    raw = await redis.hgetall(funnel(flow_id, version))
    out: dict[str, Counter] = defaultdict(Counter)
    for k, v in raw.items():
        node, _, kind = keys.decoded(k).rpartition("|")
        out[node][kind] += int(v)
    return out
