"""Issue 11, part 2: traffic never kills a worker; beyond capacity every INVITE is refused.

* An INVITE without SDP from outside the ACL is refused with 403 and the worker
  lives (it aborted in ``pjsip_rx_data_free_cloned`` when the refusal was sent
  inside ``onIncomingCall``).
* 200 INVITE/s for 10 s at one worker (4 call slots): every INVITE gets a final
  answer (200, or pjsua's stateless 486 beyond the slots, or 503), the worker lives,
  and the next normal call is answered and rated at once; the same burst from an
  address outside the ACL gets 403 for every INVITE.
(tests/ivr_pool/test_front_flood.py: the same flood through the Kamailio front.)

bench/ivr/flood_bench.py runs the whole matrix (50, 100, 200, 400 INVITE/s).
"""

from __future__ import annotations

import time

import pytest

from tests.ivr.flood import next_rated_call, refused_status, run_flood
from tests.ivr_pool.harness import SHORT_FLOW

# One xdist worker runs every "realtime" module in turn (scripts/test: --dist loadgroup):
# the SIP floods and call storms must not overlap the tests that time what a caller hears.
pytestmark = pytest.mark.xdist_group("realtime")

RATE, SECONDS = 200, 10


def test_an_invite_without_sdp_refused_by_the_acl_does_not_kill_the_worker(start_worker):
    worker = start_worker("--no-prerender", "--flow", SHORT_FLOW)
    for _ in range(3):
        assert refused_status(worker.sip_port) == 403
    time.sleep(0.5)
    assert worker.proc.poll() is None, worker.log()[-3000:]
    assert "Assertion" not in worker.log()
    # refused by the admission gate (no call slot), not by pjsua's onIncomingCall
    assert "refused: not in the ACL (stateless)" in worker.log(), worker.log()[-2000:]


@pytest.mark.slow  # ~40 s
@pytest.mark.timeout(300)
def test_a_worker_survives_an_invite_flood_and_answers_every_invite(start_worker, sipp_dir,
                                                                    redis_url):
    worker = start_worker("--no-prerender", "--flow", SHORT_FLOW)
    flood = run_flood(worker.sip_port, RATE, SECONDS, sipp_dir / "flood")
    print(flood.summary())
    alive = worker.proc.poll() is None
    after = next_rated_call(worker.sip_port, sipp_dir / "next", flood.ended_at, redis_url)
    print(after)
    outsiders = run_flood(worker.sip_port, RATE, 3, sipp_dir / "acl", source_ip="127.0.0.2")
    print("outside the ACL:", outsiders.summary())
    log = worker.log()
    assert alive and worker.proc.poll() is None, log[-4000:]
    assert "Assertion" not in log and "Fatal Python error" not in log, log[-4000:]
    assert flood.invites == RATE * SECONDS, flood.output
    assert flood.unanswered == 0, flood.summary()
    assert set(flood.finals) <= {200, 486, 503}, flood.summary()
    assert outsiders.unanswered == 0 and set(outsiders.finals) == {403}, outsiders.summary()
    assert after.rated, after
    assert after.answered_s < 1.0 and after.rated_s < 1.5, after
