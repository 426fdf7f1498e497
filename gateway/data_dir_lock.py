"""One data directory, one gateway: an exclusive lock on ``<data_dir>/gateway.lock``.

Theory of operation
-------------------
Everything a gateway keeps lives in its data directory: the private Redis's AOF
and pid file, the local SQLite store, the secrets, the SMS outbox. Two gateways
on one directory would fight over all of it; the sharpest case is the private
Redis, whose start stops a server left running on the same AOF
(``gateway.private_redis.stop_stale``) — a live gateway's server, had a second
gateway been allowed that far.

So ``hcp serve`` first takes ``flock(LOCK_EX | LOCK_NB)`` on ``gateway.lock``
and writes its pid into the file. The lock belongs to the open file, which the
gateway holds until it has stopped (after its last part, Redis, flushed and
exited), and the kernel releases it when the process dies in any way,
kill -9 included: there is no stale lock to clean up, a leftover file with a
dead pid in it locks nothing. The descriptor is close-on-exec, so no child
(redis-server, IVR workers) inherits the lock and outlives the gateway with it.

A second gateway finds the lock taken and refuses before it has touched
anything: ``DataDirLocked``, naming the owner's pid and the directory, also
logged as ``gateway.data_dir_in_use``. ``Gateway.__init__`` probes first
(``check``: creates and holds nothing), before it fills missing secrets from
files in the directory; ``Gateway.start`` then takes the lock for good
(``acquire``). The probe locks for an instant, so of two gateways starting on
one directory at the very same moment both may refuse.

``hcp serve`` then exits 1, as for any part that fails to start: the condition
clears by itself once the first gateway has stopped (e.g. a restart that
overlaps the old process's drain), so a supervisor retrying is right; a
configuration error (exit 2) would not clear by retrying.

Because a live owner always holds the lock, whatever the holder finds in the
data dir afterwards (a redis-server named in ``redis/redis.pid``) is nobody's
and may be stopped.
"""

from __future__ import annotations

import fcntl
import logging
import os
import time
from pathlib import Path

log = logging.getLogger(__name__)

LOCK_FILE = "gateway.lock"


class DataDirLocked(RuntimeError):
    """Another live process holds the data directory."""

    def __init__(self, data_dir: Path, owner_pid: int | None):
        self.data_dir = data_dir
        self.owner_pid = owner_pid
        owner = f"pid {owner_pid}" if owner_pid else "pid not yet written"
        super().__init__(
            f"another gateway ({owner}) is running on the data dir {data_dir}; "
            f"stop it first, or give this one a data dir of its own (data_dir, HCP_DATA_DIR)")


def _read_pid(fd: int) -> int | None:
    try:
        return int(os.pread(fd, 32, 0).decode().strip())
    except (OSError, ValueError):
        return None


class DataDirLock:
    """Held by ``Gateway`` from before its first part starts until after its last stops."""

    def __init__(self, data_dir: str | Path):
        self.data_dir = Path(data_dir)
        self.path = self.data_dir / LOCK_FILE
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock and write our pid, or raise ``DataDirLocked`` (logged)."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            refusal = self._refusal(fd)
            os.close(fd)
            raise refusal from None
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        log.info("gateway.data_dir_locked", extra={"data_dir": str(self.data_dir),
                                                   "lock_file": str(self.path)})

    def check(self) -> None:
        """Raise ``DataDirLocked`` if a live gateway holds the directory; create and
        hold nothing. For what must happen before ``acquire`` and may write into the
        directory (``Gateway`` fills missing secrets from files there)."""
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise self._refusal(fd) from None
        finally:
            os.close(fd)  # also releases the probe's lock at once

    def _refusal(self, fd: int) -> DataDirLocked:
        """The error naming the owner (its pid from the file ``fd`` is open on), logged."""
        owner = _read_pid(fd)
        deadline = time.monotonic() + 0.5  # the owner writes its pid right after locking
        while owner is None and time.monotonic() < deadline:
            time.sleep(0.02)
            owner = _read_pid(fd)
        refusal = DataDirLocked(self.data_dir, owner)
        log.error("gateway.data_dir_in_use", extra={  # one line that says it all
            "data_dir": str(self.data_dir), "owner_pid": owner, "detail": str(refusal)})
        return refusal

    def release(self) -> None:
        """Idempotent; a refused acquire holds nothing, so this touches nothing."""
        if self._fd is None:
            return
        os.ftruncate(self._fd, 0)  # no pid of a stopped gateway left behind
        os.close(self._fd)  # closing the file releases the lock
        self._fd = None
