"""Kamailio in front of real workers: SIPp calls spread, fail over, survive a kill."""

from __future__ import annotations

import asyncio

from tests.ivr.sipp import run_sipp, wait_summaries
from tests.ivr_pool.harness import calls_by_outcome, pool_config, proxied_scenario


async def test_calls_through_kamailio_reach_both_workers(start_pool, start_front, sipp_dir,
                                                         redis_url):
    import redis

    config = pool_config(2)
    pool = await start_pool(config)
    front = start_front(config)
    scenario = proxied_scenario([("pause", 300), ("key", "1"), ("wait_bye", 20000)], sipp_dir)
    result = await asyncio.to_thread(run_sipp, scenario, front.port, sipp_dir,
                                     calls=4)  # no ticket: each call rates its Call-ID
    assert result.returncode == 0, result.output + front.log()[-2000:]
    client = redis.Redis.from_url(redis_url)
    summaries = wait_summaries(client, 4)
    client.close()
    assert [s["outcome"] for s in summaries] == ["rated"] * 4
    per_worker = [calls_by_outcome(s.metrics_port, s.name).get("rated", 0)
                  for s in config.workers()]
    assert sum(per_worker) == 4
    assert all(n >= 1 for n in per_worker), per_worker  # round-robin used both
    assert [w["restarts"] for w in pool.status()] == [0, 0]
