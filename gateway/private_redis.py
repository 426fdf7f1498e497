"""The private redis-server of ``hcp serve`` when no redis.url is configured.

Theory of operation
-------------------
A component around ``adapters.redis_server.RedisServer`` (AOF in the data dir,
so the outbox and dedupe keys survive a restart). Its pid goes into
``<dir>/redis.pid``.

**Dying with the gateway.** If the gateway dies by SIGKILL, Linux sends its
Redis child SIGTERM (PR_SET_PDEATHSIG; Redis then flushes its AOF and exits).
The death signal is tied to the *thread* that started the child, so the server
is started from the event loop's own thread, which lives as long as the
process — the first start and every restart below (the supervisor is a task on
the loop, never ``to_thread``, and checks that it runs on the starting thread).

**Stale servers.** Should a Redis still be running on this data dir anyway
(another OS, a stuck shutdown), the next start finds it by its pid file and
stops it before a second server opens the same AOF files. That is only safe
because the caller holds the data dir (``gateway.data_dir_lock``): with a live
gateway on the directory, a second one never gets this far.

**Supervision.** A task on the loop watches the child. When it exits on its own
(kill -9, OOM killer, a crash) the task starts it again: same data dir, same
AOF, same port, so the gateway's client pool reconnects by itself (its retry
covers the requests in flight; the intake script is idempotent) and the outbox
resumes. Each death and each restart is a JSON log event
(``redis.private_died``, ``redis.private_restarted``,
``redis.private_restart_failed``). The first restart is immediate; after a
failure the next waits ``RESTART_BACKOFF_S`` × 2^(failures−1), capped at
``RESTART_BACKOFF_CAP_S``. A failure is a restart whose server does not answer
PING (it exits, e.g. the port was taken meanwhile, or hangs), or a server that
dies again within ``STABLE_S`` of its start (it keeps dying); a server that has
stayed up for ``STABLE_S`` resets the count.

**Giving up.** After ``MAX_FAILURES`` failures in a row the supervisor stops
trying and sets ``problem`` (a reason); ``/healthz`` then answers 503 with it
(gateway.http_api), so that an outside supervisor restarts the whole process:
a Kubernetes livenessProbe, or whatever watches /healthz (Docker's HEALTHCHECK
only marks the container unhealthy; systemd's Restart= acts on exit only).
While a restart is still being tried /healthz stays 200 — the process is
recovering by itself — and /readyz answers 503 (Redis does not answer).

**Access.** The server requires a password (``requirepass``, given to it on its
standard input, see adapters.redis_server): ``<data_dir>/secrets/redis_password``
(0600), generated on the first start like the other secrets (gateway.secrets_store;
``folder`` is ``<data_dir>/redis``, so the data dir is its parent). ``url`` carries
the password: the gateway's client, its components (the console, the IVR workers)
and, through gateway.running, the ``hcp`` commands use it; it is logged only
redacted. The folder is 0700 and the AOF files 0600 (umask 077, narrowed again
before every start), so another local user reads neither the data nor the port.

The server runs in a session of its own: Ctrl-C in a terminal (SIGINT to the
whole foreground process group) must reach only the gateway, which then drains
the submitter while Redis is still up, and only then stops Redis.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import threading
import time
from pathlib import Path

from adapters.redis_server import RedisServer
from gateway.secrets_store import REDIS_PASSWORD, persistent_secret

log = logging.getLogger(__name__)

PID_FILE = "redis.pid"
PORT_FILE = "redis.port"  # for commands that read the running gateway's Redis (gateway.running)
MAX_FAILURES = 6  # failed restarts in a row before /healthz fails
RESTART_BACKOFF_S = 0.2  # wait before the 2nd attempt; doubles per failure
RESTART_BACKOFF_CAP_S = 5.0
STABLE_S = 30.0  # up this long: its next death starts a fresh count
START_TIMEOUT_S = 10.0  # a restarted server must answer PING within this (AOF load)
WATCH_INTERVAL_S = 0.1  # how often the supervisor looks at the child


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

    def __init__(self, folder: Path, *, max_failures: int = MAX_FAILURES,
                 backoff_s: float = RESTART_BACKOFF_S, backoff_cap_s: float = RESTART_BACKOFF_CAP_S,
                 stable_s: float = STABLE_S, password: str | None = None):
        self.folder = Path(folder)
        if password is None:  # the data dir's own (folder is <data_dir>/redis)
            password = persistent_secret(self.folder.parent, REDIS_PASSWORD)
        self.server = RedisServer(self.folder, aof=True, detached=True, password=password)
        self.max_failures = max_failures
        self.backoff_s = backoff_s
        self.backoff_cap_s = backoff_cap_s
        self.stable_s = stable_s
        self.restarts = 0  # successful restarts since start()
        self.problem: str | None = None  # set when the supervisor has given up
        self._thread: int | None = None  # the loop's thread, which started the child
        self._up_since = 0.0
        self._supervisor: asyncio.Task | None = None

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def pid(self) -> int | None:
        return self.server.proc.pid if self.server.proc else None

    def _write_pid(self) -> None:
        for name, value in ((PORT_FILE, self.server.port), (PID_FILE, self.server.proc.pid)):
            path = self.folder / name
            path.write_text(f"{value}\n")
            path.chmod(0o600)  # like the rest of the folder (which is 0700 anyway)

    def _start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        stop_stale(self.folder)
        self.server.start()
        self._write_pid()

    def _stop(self) -> None:
        self.server.stop()
        (self.folder / PID_FILE).unlink(missing_ok=True)
        (self.folder / PORT_FILE).unlink(missing_ok=True)

    async def start(self) -> None:
        # On this (the loop's) thread, not to_thread: see PR_SET_PDEATHSIG above.
        # Blocks the loop for the ~50 ms redis-server takes to start, at startup only.
        self._thread = threading.get_ident()
        self._start()
        self._up_since = time.monotonic()
        self.problem = None
        self._supervisor = asyncio.create_task(self._supervise(), name="private-redis-supervisor")
        self._supervisor.add_done_callback(self._supervisor_ended)
        log.info("redis.private_started", extra={"port": self.server.port, "pid": self.pid})

    async def stop(self) -> None:
        if self._supervisor is not None:
            self._supervisor.cancel()
            await asyncio.gather(self._supervisor, return_exceptions=True)
            self._supervisor = None
        await asyncio.to_thread(self._stop)  # stops; starts nothing, so any thread will do

    # -- supervision -----------------------------------------------------------
    def _delay(self, failures: int) -> float:
        if failures == 0:
            return 0.0
        return min(self.backoff_cap_s, self.backoff_s * 2 ** (failures - 1))

    def _supervisor_ended(self, task: asyncio.Task) -> None:
        if task.cancelled() or task.exception() is None:
            return  # stopped, or gave up (problem is set)
        self.problem = f"private redis-server: supervisor failed: {type(task.exception()).__name__}"
        log.critical("redis.private_supervisor_failed", exc_info=task.exception())

    async def _supervise(self) -> None:
        failures = 0
        while True:
            proc = self.server.proc
            while proc.poll() is None:
                await asyncio.sleep(WATCH_INTERVAL_S)
            died_at = time.monotonic()
            up_s = died_at - self._up_since
            failures = failures + 1 if up_s < self.stable_s else 0
            log.error("redis.private_died", extra={
                "pid": proc.pid, "returncode": proc.returncode, "up_s": round(up_s, 3),
                "port": self.server.port, "failures": failures})
            while True:
                if failures >= self.max_failures:
                    self.problem = (f"private redis-server: gave up after {failures} failed "
                                    f"restarts in a row; see {self.folder / 'redis.log'}")
                    log.critical("redis.private_gave_up", extra={
                        "failures": failures, "port": self.server.port,
                        "reason": self.problem})
                    return
                delay = self._delay(failures)
                await asyncio.sleep(delay)
                try:
                    await self._restart()
                except Exception as exc:
                    failures += 1
                    (self.folder / PID_FILE).unlink(missing_ok=True)
                    log.error("redis.private_restart_failed", extra={
                        "failures": failures, "port": self.server.port,
                        "error": str(exc)[:200]})
                    continue
                self.restarts += 1
                log.warning("redis.private_restarted", extra={
                    "pid": self.pid, "port": self.server.port, "restarts": self.restarts,
                    "failures": failures, "down_s": round(time.monotonic() - died_at, 3)})
                break

    async def _restart(self) -> None:
        """Start the server again and wait (without blocking the loop) for its PING."""
        if threading.get_ident() != self._thread:  # see PR_SET_PDEATHSIG above
            raise RuntimeError("the private redis-server must be restarted from the loop's thread")
        self.server.launch()
        self._write_pid()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not await self.server.aping():
            if time.monotonic() > deadline:
                self.server.stop(kill=True)
                raise RuntimeError(f"redis-server did not answer on port {self.server.port}")
            self.server.check_running()
            await asyncio.sleep(0.02)
        self._up_since = time.monotonic()
