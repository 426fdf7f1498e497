"""``hcp serve`` with HCP_IVR_WORKERS: the pool is a component of the gateway process.

SIGTERM drains: the live call finishes and is rated, a new INVITE to a worker gets
503, the workers and the gateway exit 0. /v1/ivr/workers shows live calls per worker.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request

import redis

from ivr.sip_probe import sip_options_ping_blocking
from tests.ivr.sipp import REPO, SCENARIOS, run_sipp, wait_summaries
from tests.ivr_pool.harness import SHORT_FLOW, free_block, proxied_scenario

TOKEN = "pool-serve-test-token-0123456789"


def _workers(http_port: int) -> list[dict]:
    request = urllib.request.Request(f"http://127.0.0.1:{http_port}/v1/ivr/workers",
                                     headers={"Authorization": f"Bearer {TOKEN}"})
    return json.loads(urllib.request.urlopen(request, timeout=5).read())["workers"]


def test_serve_runs_the_pool_and_drains_it_on_sigterm(redis_url, tmp_path, sipp_dir):
    sip = free_block(2, 28000, 30000)
    http_port = free_block(1, 30000, 32000)
    env = dict(os.environ, PYTHONPATH=str(REPO), HCP_REDIS_URL=redis_url,
               HCP_DATA_DIR=str(tmp_path / "data"), HCP_HTTP_PORT=str(http_port),
               HCP_HTTP_TOKENS=TOKEN, HCP_IVR_WORKERS="2", HCP_IVR_SIP_PORT=str(sip),
               HCP_IVR_RTP_PORT=str(free_block(80, 10000, 20000)), HCP_IVR_RTP_RANGE="40",
               HCP_IVR_METRICS_PORT=str(free_block(2, 30000, 32000)),
               HCP_IVR_FLOW=SHORT_FLOW, HCP_IVR_DRAIN_S="30")
    log_path = tmp_path / "serve.log"
    with open(log_path, "w") as log:
        gateway = subprocess.Popen([sys.executable, "-m", "gateway.cli", "serve"], cwd=REPO,
                                   env=env, stdout=log, stderr=subprocess.STDOUT)
    client = redis.Redis.from_url(redis_url)
    try:
        deadline = time.monotonic() + 60
        while not all(sip_options_ping_blocking("127.0.0.1", p, 0.3) for p in (sip, sip + 1)):
            assert gateway.poll() is None and time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.2)
        while True:  # the HTTP API comes up after the pool
            try:
                workers = _workers(http_port)
                break
            except OSError:
                assert time.monotonic() < deadline, log_path.read_text()[-3000:]
                time.sleep(0.2)
        assert [w["sip_port"] for w in workers] == [sip, sip + 1]
        assert all(w["alive"] for w in workers)

        live_dir = sipp_dir / "live"
        live_dir.mkdir()
        scenario = proxied_scenario([("pause", 3000), ("key", "1"), ("wait_bye", 20000)],
                                    live_dir)
        results = {}
        thread = threading.Thread(target=lambda: results.update(
            live=run_sipp(scenario, sip, live_dir)))
        thread.start()
        while not any(w["active_calls"] for w in _workers(http_port)):
            assert time.monotonic() < deadline, log_path.read_text()[-3000:]
            time.sleep(0.1)
        assert [w["active_calls"] for w in _workers(http_port)] == [1, 0]
        gateway.send_signal(signal.SIGTERM)
        time.sleep(1.0)  # the workers got SIGTERM from the pool
        refused = run_sipp(SCENARIOS / "refused.xml", sip, sipp_dir, header_vars=False)
        assert "SIP/2.0 503" in refused.messages, refused.output
        thread.join(60)
        assert results["live"].returncode == 0, results["live"].output
        assert wait_summaries(client, 1)[0]["outcome"] == "rated"
        assert gateway.wait(40) == 0, log_path.read_text()[-3000:]
        assert not any(sip_options_ping_blocking("127.0.0.1", p, 0.3) for p in (sip, sip + 1))
    finally:
        if gateway.poll() is None:
            gateway.kill()
            gateway.wait()
        client.close()
