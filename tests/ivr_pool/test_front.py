"""Kamailio in front of real workers: SIPp calls spread, fail over, survive a kill."""

from __future__ import annotations

import asyncio
import json
import os
import signal

import pytest

from tests.ivr.sipp import call_summaries, run_sipp, wait_summaries
from tests.ivr_pool.harness import (
    LONG_GOODBYE,
    active_calls,
    calls_by_outcome,
    pool_config,
    proxied_scenario,
    run_sipp_calls,
)


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


async def test_fifth_concurrent_call_fails_over_to_the_next_worker(start_pool, start_front,
                                                                   sipp_dir, redis_url):
    """A hunt group (dispatcher by priority): worker 1 takes 4 calls, pjsua answers the
    5th with 486, Kamailio's failure_route sends it to worker 2."""
    config = pool_config(2)
    await start_pool(config)
    front = start_front(config, algorithm=8)
    scenario = proxied_scenario([("pause", 4000), ("key", "1"), ("wait_bye", 20000)], sipp_dir)
    result = await asyncio.to_thread(run_sipp_calls, scenario, front.port, sipp_dir,
                                     calls=5, rate=20, limit=5)
    assert result.returncode == 0, result.output + front.log()[-2000:]
    first, second = config.workers()
    assert calls_by_outcome(first.metrics_port, first.name).get("rated") == 4
    assert calls_by_outcome(second.metrics_port, second.name).get("rated") == 1
    assert "SIP/2.0 486" not in result.messages  # the caller never saw the busy worker


@pytest.mark.slow
async def test_worker_killed_mid_call_keeps_its_rating_and_the_pool_serving(
        start_pool, start_front, sipp_dir, redis_url):
    import redis

    config = pool_config(2, flow=LONG_GOODBYE)
    pool = await start_pool(config)
    front = start_front(config)
    client = redis.Redis.from_url(redis_url)
    first_dir = sipp_dir / "killed"
    first_dir.mkdir()
    scenario = proxied_scenario([("pause", 300), ("key", "1"), ("wait_bye", 5000)], first_dir)
    killed_call = asyncio.create_task(asyncio.to_thread(
        run_sipp, scenario, front.port, first_dir, timeout_s=20))
    try:
        # the rating is accepted (outbox entry), the goodbye prompt is playing: kill -9
        deadline = asyncio.get_running_loop().time() + 20
        while not client.xlen("{hcp}:outbox"):
            assert asyncio.get_running_loop().time() < deadline, "no rating accepted"
            await asyncio.sleep(0.02)
        busy = [s for s in config.workers()
                if active_calls(s.metrics_port, s.name) == 1]
        assert len(busy) == 1
        victim = busy[0]
        os.kill(pool.pids()[victim.name], signal.SIGKILL)
        second_dir = sipp_dir / "after"
        second_dir.mkdir()
        after = proxied_scenario([("pause", 300), ("key", "2"), ("wait_bye", 20000)],
                                 second_dir)
        result = await asyncio.to_thread(run_sipp_calls, after, front.port, second_dir,
                                         calls=4, rate=2, limit=4)
        assert result.returncode == 0, result.output + front.log()[-2000:]
    finally:
        await killed_call  # its BYE never comes: SIPp times out on it
    ratings = [json.loads(f[b"ev"]) for _id, f in client.xrange("{hcp}:outbox")]
    assert len(ratings) == 5  # the killed call's rating and the 4 after it
    summaries = [s for s in call_summaries(client) if s["outcome"] == "rated"]
    assert len(summaries) == 4  # the killed call never wrote its summary
    client.close()
    status = {w["worker"]: w for w in pool.status()}
    assert status[victim.name]["restarts"] == 1
    sample = pool.registry.get_sample_value("hcp_ivr_worker_restarts_total",
                                            {"worker": victim.name})
    assert sample == 1.0


async def test_least_load_fills_every_worker_and_frees_slots_on_bye(start_pool, start_front,
                                                                    sipp_dir):
    """The default (dispatcher algorithm 10) counts calls per worker against maxload=4:
    9 concurrent calls on 2 workers → 4 + 4 rated, the 9th refused by the front with 503;
    after the BYEs the slots count as free again (8 more calls all rated)."""
    config = pool_config(2)
    await start_pool(config)
    front = start_front(config)
    first = sipp_dir / "first"
    first.mkdir()
    scenario = proxied_scenario([("pause", 3000), ("key", "1"), ("wait_bye", 20000)], first)
    result = await asyncio.to_thread(run_sipp_calls, scenario, front.port, first,
                                     calls=9, rate=30, limit=9)
    assert result.returncode != 0  # the 9th call failed
    assert "503 No IVR worker available" in result.messages, result.output
    rated = [calls_by_outcome(s.metrics_port, s.name).get("rated") for s in config.workers()]
    assert rated == [4, 4]
    again = sipp_dir / "again"
    again.mkdir()
    scenario = proxied_scenario([("pause", 500), ("key", "1"), ("wait_bye", 20000)], again)
    result = await asyncio.to_thread(run_sipp_calls, scenario, front.port, again,
                                     calls=8, rate=30, limit=8)
    assert result.returncode == 0, result.output + front.log()[-2000:]
    rated = [calls_by_outcome(s.metrics_port, s.name).get("rated") for s in config.workers()]
    assert rated == [8, 8]


async def test_malformed_requests_get_400_from_the_front(start_pool, start_front, sipp_dir,
                                                         redis_url):
    """Kamailio's sanity checks answer as the workers would (tests/ivr/
    test_malformed_requests.py), a 400 at once, and forward nothing; except where
    Kamailio cannot build a reply at all (no From, a Content-Length that is not a
    number: "failed to send 400 reply" in its log): those it drops, as in production."""
    import socket

    from tests.ivr.test_malformed_requests import BROKEN, answers, invite

    config = pool_config(1)
    await start_pool(config)
    front = start_front(config)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    try:
        for n, (name, broken) in enumerate(BROKEN.items()):
            call_id = f"front-malformed-{n}"
            udp.sendto(invite(front.port, udp.getsockname()[1], call_id, **broken),
                       ("127.0.0.1", front.port))
            got = await asyncio.to_thread(answers, udp, call_id)
            unanswerable = name in ("Content-Length not a number", "no From")
            assert [g.split("\r\n", 1)[0].split(" ", 2)[1] for g in got] == (
                [] if unanswerable else ["400"]), (name, got, front.log()[-2000:])
    finally:
        udp.close()
    [worker] = config.workers()
    assert calls_by_outcome(worker.metrics_port, worker.name) == {}
