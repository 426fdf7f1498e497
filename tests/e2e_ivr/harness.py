"""The gateway as an operator runs it: ``hcp serve`` with one IVR worker, as scripts/run.

scripts/run installs the dependencies, exports ``HCP_IVR_WORKERS=1`` and execs
``.venv/bin/hcp serve`` with embedded defaults (private Redis and data in ./data).
``ServedGateway`` does the same minus the install step, on free ports (SIP, RTP,
metrics, HTTP) and a temporary data dir, with the core store pointed at the loopback
store of tests/support/corestore.py (its HMAC secret). No other ``HCP_*`` variable of
the calling environment leaks in.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from ivr.sip_probe import sip_options_ping_blocking
from tests.ivr.sipp import REPO
from tests.ivr_pool.harness import free_block
from tests.support.corestore import DEFAULT_SECRET, CoreStoreProcess
from tests.support.logged_process import LoggedProcess


def hcp_command() -> list[str]:
    """``.venv/bin/hcp`` as scripts/run execs it; the running interpreter's module else."""
    venv_hcp = REPO / os.environ.get("HCP_VENV", ".venv") / "bin" / "hcp"
    if venv_hcp.exists():
        return [str(venv_hcp)]
    return [sys.executable, "-m", "gateway.cli"]


class ServedGateway(LoggedProcess):
    stop_timeout = 40

    def __init__(self, workdir: Path, store: CoreStoreProcess, extra_env: dict | None = None):
        self.workdir = workdir
        self.store = store
        self.sip_port = free_block(1, 28000, 30000)
        self.http_port = free_block(1, 30000, 32000)
        self.metrics_port = free_block(1, 32000, 32700)
        self.rtp_port = free_block(40, 10000, 20000)
        self.log_path = workdir / "serve.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("HCP_")}
        env.update(PYTHONPATH=str(REPO), PYTHONFAULTHANDLER="1",
                   HCP_IVR_WORKERS="1",  # what scripts/run exports
                   HCP_IVR_SIP_PORT=str(self.sip_port), HCP_IVR_RTP_PORT=str(self.rtp_port),
                   HCP_IVR_RTP_RANGE="40", HCP_IVR_METRICS_PORT=str(self.metrics_port),
                   HCP_HTTP_PORT=str(self.http_port), HCP_DATA_DIR=str(workdir / "data"),
                   HCP_CORE_URL=store.url, HCP_CORE_HMAC_SECRET=DEFAULT_SECRET.decode(),
                   HCP_CORE_PF_API="1",  # its API ratings' pf code (none is guessed)
                   HCP_IVR_DRAIN_S="10")
        env.update(extra_env or {})
        self.env = env
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 90) -> ServedGateway:
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen([*hcp_command(), "serve"], cwd=REPO, env=self.env,
                                     stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while not sip_options_ping_blocking("127.0.0.1", self.sip_port, 0.3):
            self._check_alive(deadline)
            time.sleep(0.2)
        while not self._ready():  # the HTTP API is the last part up
            self._check_alive(deadline)
            time.sleep(0.2)
        return self

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}/readyz",
                                        timeout=2) as answer:
                return answer.status == 200
        except OSError:
            return False

    def _check_alive(self, deadline: float) -> None:
        if self.proc.poll() is not None:
            raise RuntimeError(f"hcp serve exited {self.proc.returncode}: {self.log()[-3000:]}")
        if time.monotonic() > deadline:
            self.stop()
            raise RuntimeError(f"hcp serve not ready: {self.log()[-3000:]}")


def wait_records(store: CoreStoreProcess, predicate, count: int, timeout: float = 30
                 ) -> list[dict]:
    """The store's records (payloads) that match ``predicate``, once ``count`` are there."""
    deadline = time.monotonic() + timeout
    found: list[dict] = []
    while time.monotonic() < deadline:
        found = [payload for payload in _payloads(store.records()) if predicate(payload)]
        if len(found) >= count:
            return found
        time.sleep(0.2)
    return found


def _payloads(records) -> list[dict]:
    values = records.values() if isinstance(records, dict) else records
    out = []
    for value in values:
        if isinstance(value, str):
            value = json.loads(value)
        out.append(value.get("payload", value) if isinstance(value, dict) else value)
    return out


def serve(workdir: Path, extra_env: dict | None = None):
    """A fixture body: ``hcp serve`` with its loopback core store, yielded; stopped after,
    which must end with exit 0."""
    import pytest

    for tool in ("sipp", "redis-server"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is not installed: scripts/install-deps")
    store = CoreStoreProcess().start()
    gateway = ServedGateway(workdir, store, extra_env)
    try:
        gateway.start()
        yield gateway
    finally:
        code = gateway.stop()
        store.stop()
    assert code == 0, gateway.log()[-3000:]
