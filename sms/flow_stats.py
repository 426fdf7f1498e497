"""Flow statistics into the stream the console's funnel reads.

The flow engine leaves each step's ``StatEvent``s in ``session.stats``; every
channel appends them to one Redis stream, ``{hcp}:flows:stats``, one entry per
event with a single field ``stat`` = the event as compact JSON. The IVR worker
writes the same stream in the same format (ivr/worker.py ``_record_stats``);
this function is the channel-neutral writer, so the IVR can use it too.
Statistics are best effort: a Redis error is logged, never raised into a
conversation.
"""

from __future__ import annotations

import json
import logging

from ratings.results import STATS as STATS_STREAM  # the stream the funnel aggregator reads

log = logging.getLogger(__name__)

STREAM_MAXLEN = 1_000_000  # approximate trim, as the IVR does


def stat_json(stat) -> str:
    return json.dumps(stat.to_dict(), ensure_ascii=False, separators=(",", ":"))


async def record_flow_stats(redis, stats) -> int:
    """Append ``stats`` (StatEvents of one engine step) to the stream; how many."""
    if not stats:
        return 0
    try:
        async with redis.pipeline(transaction=False) as pipe:
            for stat in stats:
                pipe.xadd(STATS_STREAM, {"stat": stat_json(stat)}, maxlen=STREAM_MAXLEN,
                          approximate=True)
            await pipe.execute()
    except Exception:
        log.exception("flow statistics not recorded")
        return 0
    return len(stats)
