"""The private redis-server of ``hcp serve`` when no redis.url is configured.

A component around ``adapters.redis_server.RedisServer`` (AOF in the data dir,
so the outbox and dedupe keys survive a restart). Its pid goes into
``<dir>/redis.pid``.

If the gateway dies by SIGKILL, Linux sends its Redis child SIGTERM
(PR_SET_PDEATHSIG; Redis then flushes its AOF and exits). The death signal is
tied to the *thread* that started the child, so the server is started from the
event loop's own thread, which lives as long as the process. Should a Redis
still be running on this data dir anyway (another OS, a stuck shutdown), the
next start finds it by its pid file and stops it before a second server opens
the same AOF files. That is only safe because the caller holds the data dir
(``gateway.data_dir_lock``): with a live gateway on the directory, a second one
never gets this far.

The server runs in a session of its own: Ctrl-C in a terminal (SIGINT to the
whole foreground process group) must reach only the gateway, which then drains
the submitter while Redis is still up, and only then stops Redis.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from pathlib import Path

from adapters.redis_server import RedisServer

log = logging.getLogger(__name__)

PID_FILE = "redis.pid"

def _is_redis(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"redis-server" in cmdline


def stop_stale(folder: Path, timeout: float = 10.0) -> int | None:
    """Stop a redis-server an earlier (crashed) gateway left on this data dir."""
    pid_file = folder / PID_FILE
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return None
    if not _is_redis(pid):
        pid_file.unlink(missing_ok=True)
        return None
    log.warning("redis.stale_private_server", extra={"pid": pid})
    os.kill(pid, signal.SIGTERM)  # redis flushes its AOF on SIGTERM
    deadline = time.monotonic() + timeout
    while _is_redis(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if _is_redis(pid):
        os.kill(pid, signal.SIGKILL)
    pid_file.unlink(missing_ok=True)
    return pid


class PrivateRedis:
    name = "private-redis"

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.server = RedisServer(self.folder, aof=True, detached=True)

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def pid(self) -> int | None:
        return self.server.proc.pid if self.server.proc else None

    def _start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        stop_stale(self.folder)
        self.server.start()
        (self.folder / PID_FILE).write_text(f"{self.server.proc.pid}\n")

    def _stop(self) -> None:
        self.server.stop()
        (self.folder / PID_FILE).unlink(missing_ok=True)

    async def start(self) -> None:
        # On this (the main) thread, not to_thread: see PR_SET_PDEATHSIG above.
        # Blocks the loop for the ~50 ms redis-server takes to start, at startup only.
        self._start()
        log.info("redis.private_started", extra={"port": self.server.port, "pid": self.pid})

    async def stop(self) -> None:
        await asyncio.to_thread(self._stop)
