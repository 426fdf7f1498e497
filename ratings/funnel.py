"""Flow funnels for the supervisor console: how far callers get through each node.

Theory of operation
-------------------
The IVR worker and the SMS channel XADD ``flows.events.StatEvent`` JSON to
``STATS``. ``FunnelAggregator`` reads it in consumer group ``FUNNEL_GROUP`` and
applies a batch with one script that, per entry, XACKs it and — only if the
XACK removed it from the pending list — HINCRBYs ``funnel(flow, version)``
field ``<node>|<kind>``. Counting and acknowledging are one atomic step, so a
crash or a second gateway claiming the same entry can never count it twice.
Entries a dead consumer held are XAUTOCLAIMed after ``claim_idle_ms``.

Keys: ``{hcp}``-tagged, with the console statistics' TTL, no phone number.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import Counter, defaultdict
from datetime import datetime, timezone

from ratings import keys
from ratings.tasks import stop_task

log = logging.getLogger("ratings.results")  # the console statistics' one logger

STATS = f"{keys.TAG}:flows:stats"  # written by ivr.worker and the SMS conversation
FUNNEL_GROUP = "console-funnel"
FUNNEL_FLOWS = f"{keys.TAG}:funnel:flows"  # zset flow id -> last seen epoch
RESULTS_TTL_S = keys.RESULTS_TTL_S


def funnel(flow_id: str, version: str) -> str:
    return f"{keys.TAG}:funnel:{flow_id}:{version}"


def funnel_versions(flow_id: str) -> str:
    """zset version -> epoch the version was first seen in statistics."""
    return f"{keys.TAG}:funnel:v:{flow_id}"


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
        await stop_task(self._task)
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
