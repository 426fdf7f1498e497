"""Issue 11, part 2, through the front: an INVITE flood at Kamailio before two workers.

200 INVITE/s for 10 s at the front: it sheds what is beyond its INVITE rate with a
stateless 503 (ratelimit) before any worker sees it, spreads the rest; every INVITE
gets a final answer, no worker dies or restarts, and the next normal call is answered
and rated at once. bench/ivr/flood_bench.py runs 50, 100, 200 and 400 INVITE/s.
"""

from __future__ import annotations

import asyncio

import pytest

from tests.ivr.flood import next_rated_call, run_flood
from tests.ivr_pool.harness import pool_config

# One xdist worker runs every "realtime" module in turn (scripts/test: --dist loadgroup):
# the SIP floods and call storms must not overlap the tests that time what a caller hears.
pytestmark = pytest.mark.xdist_group("realtime")

RATE, SECONDS = 200, 10


@pytest.mark.slow  # ~60 s
@pytest.mark.timeout(300)
async def test_the_front_sheds_an_invite_flood_before_the_workers(start_pool, start_front,
                                                                  sipp_dir, redis_url):
    config = pool_config(2)
    pool = await start_pool(config)
    front = start_front(config)
    flood = await asyncio.to_thread(run_flood, front.port, RATE, SECONDS, sipp_dir / "flood")
    print("through Kamailio:", flood.summary())
    after = await asyncio.to_thread(next_rated_call, front.port, sipp_dir / "next",
                                    flood.ended_at, redis_url, proxied=True)
    print(after)
    assert [w["restarts"] for w in pool.status()] == [0, 0], pool.status()
    assert all(w["alive"] for w in pool.status())
    assert flood.invites == RATE * SECONDS, flood.output
    assert flood.unanswered == 0, flood.summary()
    assert flood.finals[503] > 0, flood.summary()  # shed by the front's rate limit
    assert set(flood.finals) <= {200, 486, 503}, flood.summary()
    assert after.rated, after
    assert after.answered_s < 1.0 and after.rated_s < 1.5, after


@pytest.mark.slow  # ~20 s
@pytest.mark.timeout(300)
async def test_pike_drops_a_flooding_untrusted_source_and_trusted_calls_go_on(
        start_pool, start_front, sipp_dir, redis_url):
    config = pool_config(1)
    pool = await start_pool(config)
    front = start_front(config, pike_density=100)  # trusted: 127.0.0.1/32 (the default)
    flood = await asyncio.to_thread(run_flood, front.port, 200, 3, sipp_dir / "untrusted",
                                    source_ip="127.0.0.2", recv_timeout_s=3)
    print("untrusted source through Kamailio:", flood.summary())
    after = await asyncio.to_thread(next_rated_call, front.port, sipp_dir / "next",
                                    flood.ended_at, redis_url, proxied=True)
    assert flood.unanswered > flood.invites // 2, flood.summary()  # dropped, no reply
    assert "PIKE" in front.log() or "pike" in front.log(), front.log()[-2000:]
    assert after.rated and after.answered_s < 1.0, after
    assert [w["restarts"] for w in pool.status()] == [0]
