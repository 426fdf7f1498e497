"""``hcp serve`` as a real child process, for the end-to-end tests.

Starts the console script with a temp data dir and a free port, waits (without
blocking the event loop, so an in-process loopback store keeps answering) until
/healthz answers, and stops it with a real signal.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp

from adapters.redis_server import free_port

HCP = Path(sys.executable).parent / "hcp"
ROOT = Path(__file__).resolve().parents[2]


class GatewayProcess:
    def __init__(self, workdir: Path, env: dict[str, str] | None = None):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.data_dir = self.workdir / "data"
        self.extra_env = dict(env or {})
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self.log_path = self.workdir / "gateway.log"
        self._log_offset = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def token(self) -> str:
        if self.extra_env.get("HCP_HTTP_TOKENS"):
            return self.extra_env["HCP_HTTP_TOKENS"].split(",")[0].strip()
        return (self.data_dir / "secrets" / "api_token").read_text().strip()

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("HCP_")}
        env.update({"HCP_DATA_DIR": str(self.data_dir), "HCP_HTTP_PORT": str(self.port),
                    "HCP_LOG_LEVEL": "INFO", "HCP_DRAIN_TIMEOUT_S": "10",
                    # the test systems post API ratings: a deployment that takes them
                    # configures their channel's pf code (none is guessed)
                    "HCP_CORE_PF_API": "1",
                    "PYTHONPATH": str(ROOT)})
        env.update(self.extra_env)
        return env

    async def start(self, timeout: float = 30.0) -> GatewayProcess:
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen([str(HCP), "serve"], cwd=self.workdir,
                                         env=self.env(), stdout=log, stderr=log)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            if await self._healthy():
                return self
            if self.proc.poll() is not None:
                raise RuntimeError(f"hcp serve exited with {self.proc.returncode}:\n"
                                   f"{self.log_text()[-3000:]}")
            await asyncio.sleep(0.05)
        self.kill()
        raise RuntimeError(f"hcp serve not ready in {timeout} s:\n{self.log_text()[-3000:]}")

    async def _healthy(self) -> bool:
        """/healthz answers only once every part has started (HTTP starts last)."""
        try:
            async with aiohttp.ClientSession() as session:
                async with session.get(f"{self.base_url}/healthz",
                                       timeout=aiohttp.ClientTimeout(total=1)) as resp:
                    return resp.status == 200
        except (aiohttp.ClientError, asyncio.TimeoutError):
            return False

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def events(self) -> list[dict]:
        """JSON log lines of the current run (an earlier run's lines are skipped)."""
        text = self.log_path.read_bytes()[self._log_offset:].decode(errors="replace") \
            if self.log_path.exists() else ""
        events = []
        for line in text.splitlines():
            try:
                events.append(json.loads(line))
            except ValueError:
                events.append({"event": "<not json>", "line": line})
        return events

    def redis_pid(self) -> int | None:
        path = self.data_dir / "redis" / "redis.pid"
        return int(path.read_text()) if path.exists() else None

    async def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        """Send ``sig`` to the gateway alone and wait for it to exit; its exit code."""
        assert self.proc is not None
        self.proc.send_signal(sig)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.proc.poll() is None and loop.time() < deadline:
            await asyncio.sleep(0.05)
        if self.proc.poll() is None:
            self.kill()
            raise RuntimeError("hcp serve did not stop in time")
        return self.proc.returncode

    def kill(self) -> None:
        """Cleanup after a failed test: the gateway and its private Redis."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        pid = self.redis_pid()
        if pid and pid_alive(pid):
            os.kill(pid, signal.SIGKILL)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is gone for our purposes
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split()[2]
    except OSError:
        return False
    return state != "Z"
