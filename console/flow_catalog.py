"""The flows the console knows: the shipped files, plus every version it has seen.

At start the console stores each shipped flow's YAML text under
``console.keys.flowdef(id, version)``, so as the files change across releases
the old versions stay available for the readable diff. Versions that appear
only in statistics (a worker running another build) are listed too, marked
"definition not kept" when no text is stored.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from console import keys
from flows.loader import load_flow, load_text, shipped_paths
from flows.model import Flow
from ratings import results


@dataclass
class FlowVersion:
    version: str
    first_seen: float | None
    shipped: bool
    in_stats: bool
    kept: bool


def shipped() -> dict[str, tuple[Flow, str]]:
    """id -> (flow, YAML text) of the shipped files."""
    out = {}
    for path in shipped_paths():
        flow = load_flow(path)
        out[flow.id] = (flow, path.read_text(encoding="utf-8"))
    return out


async def remember_shipped(redis) -> None:
    now = int(time.time())
    for flow_id, (flow, text) in shipped().items():
        async with redis.pipeline(transaction=True) as pipe:
            pipe.set(keys.flowdef(flow_id, flow.version), text, ex=keys.FLOWDEF_TTL_S)
            pipe.zadd(keys.flowdefs(flow_id), {flow.version: now}, nx=True)
            pipe.expire(keys.flowdefs(flow_id), keys.FLOWDEF_TTL_S)
            await pipe.execute()


async def versions(redis, flow_id: str) -> list[FlowVersion]:
    current = shipped().get(flow_id)
    kept = {v: s for v, s in await _zrange(redis, keys.flowdefs(flow_id))}
    seen = {v: s for v, s in await results.flow_versions(redis, flow_id)}
    out = []
    for v in set(kept) | set(seen) | ({current[0].version} if current else set()):
        first = min([x for x in (kept.get(v), seen.get(v)) if x is not None], default=None)
        out.append(FlowVersion(v, first, bool(current and current[0].version == v), v in seen,
                               v in kept))
    return sorted(out, key=lambda fv: (fv.first_seen or 1e12, fv.version))


async def load_version(redis, flow_id: str, version: str) -> Flow | None:
    current = shipped().get(flow_id)
    if current and current[0].version == version:
        return current[0]
    text = await redis.get(keys.flowdef(flow_id, version))
    if text is None:
        return None
    flow = load_text(text.decode(), f"{flow_id}@{version}")
    return flow


async def _zrange(redis, key):
    rows = await redis.zrange(key, 0, -1, withscores=True)
    return [(v.decode(), s) for v, s in rows]
