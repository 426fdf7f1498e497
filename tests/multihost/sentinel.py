"""A Redis Sentinel set of real processes on loopback: a primary, replicas, sentinels.

Theory of operation
-------------------
``SentinelSet(workdir, replicas=1, sentinels=3).start()`` runs, each on a free
127.0.0.1 port with its own folder under ``workdir``:

* the primary: ``redis-server <conf>`` (AOF everysec, as the private Redis);
* ``replicas`` replicas: the same with ``replicaof 127.0.0.1 <primary>``;
* ``sentinels`` sentinels: ``redis-server <conf> --sentinel`` (Debian's
  redis-server package has no ``redis-sentinel`` link; it is the same binary),
  each with ``sentinel monitor <service> 127.0.0.1 <primary> <quorum>`` and short
  timers (``down-after-milliseconds`` 1000, ``failover-timeout`` 5000), so a
  killed primary is replaced in a few seconds. Sentinel rewrites its config file;
  that is why each has its own.

``start`` returns once every replica's link is up and every sentinel sees the
others and the replicas (a failover needs both). ``url`` is the gateway's
``redis+sentinel://`` form. ``kill(node)`` is a SIGKILL; ``restart(node)`` starts
the same node again on its port and folder (Sentinel turns a returning old primary
into a replica of the new one). Every child gets SIGTERM if the test process dies
(PR_SET_PDEATHSIG), and ``stop`` kills what is left.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import redis

from adapters.redis_server import free_port, redis_server_binary

SERVICE = "hcp"


def _die_with_parent() -> None:
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


@dataclass
class Node:
    name: str  # "primary", "replica1", "sentinel2"
    port: int
    folder: Path
    sentinel: bool = False
    proc: subprocess.Popen | None = None

    @property
    def conf(self) -> Path:
        return self.folder / ("sentinel.conf" if self.sentinel else "redis.conf")

    def launch(self) -> None:
        args = [redis_server_binary(), str(self.conf)] + (["--sentinel"] if self.sentinel else [])
        log = (self.folder / "out.log").open("ab")
        self.proc = subprocess.Popen(args, cwd=self.folder, stdout=log, stderr=log,
                                     preexec_fn=_die_with_parent)
        log.close()

    password: str | None = None  # a data node's requirepass

    def client(self, **kw) -> redis.Redis:
        return redis.Redis(port=self.port, socket_timeout=2, socket_connect_timeout=1,
                           password=None if self.sentinel else self.password, **kw)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        if self.alive():
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)


class SentinelSet:
    def __init__(self, workdir: Path, replicas: int = 1, sentinels: int = 3,
                 service: str = SERVICE, down_after_ms: int = 1000,
                 failover_timeout_ms: int = 5000, password: str | None = None):
        self.workdir = Path(workdir)
        self.password = password  # requirepass + masterauth on the data nodes
        self.service = service
        self.down_after_ms = down_after_ms
        self.failover_timeout_ms = failover_timeout_ms
        self.data = [self._node("primary")] + [self._node(f"replica{i + 1}")
                                               for i in range(replicas)]
        self.sentinels = [self._node(f"sentinel{i + 1}", sentinel=True)
                          for i in range(sentinels)]
        self.quorum = sentinels // 2 + 1

    def _node(self, name: str, sentinel: bool = False) -> Node:
        folder = self.workdir / name
        folder.mkdir(parents=True, exist_ok=True)
        os.chmod(folder, 0o700)
        return Node(name, free_port(), folder, sentinel,
                    password=None if sentinel else self.password)

    # -- configuration ---------------------------------------------------------
    def _data_conf(self, node: Node, replica_of: int | None) -> str:
        lines = [f"port {node.port}", "bind 127.0.0.1", f"dir {node.folder}",
                 "daemonize no", 'save ""', "appendonly yes", "appendfsync everysec",
                 "logfile redis.log", "repl-diskless-sync no"]
        if self.password:
            lines += [f"requirepass {self.password}", f"masterauth {self.password}"]
        if replica_of is not None:
            lines.append(f"replicaof 127.0.0.1 {replica_of}")
        return "\n".join(lines) + "\n"

    def _sentinel_conf(self, node: Node, primary_port: int) -> str:
        s = self.service
        return "\n".join([
            f"port {node.port}", "bind 127.0.0.1", f"dir {node.folder}", "daemonize no",
            "logfile sentinel.log",
            f"sentinel monitor {s} 127.0.0.1 {primary_port} {self.quorum}",
            f"sentinel down-after-milliseconds {s} {self.down_after_ms}",
            f"sentinel failover-timeout {s} {self.failover_timeout_ms}",
            f"sentinel parallel-syncs {s} 1",
            f"sentinel auth-pass {s} {self.password}" if self.password else "", ""])

    # -- life cycle ------------------------------------------------------------
    def start(self, timeout: float = 30.0) -> SentinelSet:
        primary = self.data[0]
        for i, node in enumerate(self.data):
            node.conf.write_text(self._data_conf(node, None if i == 0 else primary.port))
            node.launch()
        for node in self.sentinels:
            node.conf.write_text(self._sentinel_conf(node, primary.port))
        self._wait(lambda: all(self._answers(n) for n in self.data), timeout, "data nodes")
        self._wait(lambda: self.replicas_in_sync(primary) == len(self.data) - 1, timeout,
                   "replica links")
        for node in self.sentinels:
            node.launch()
        self._wait(self._sentinels_ready, timeout, "sentinels seeing each other")
        return self

    def stop(self) -> None:
        for node in self.sentinels + self.data:
            node.kill()

    def __enter__(self) -> SentinelSet:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def kill(self, node: Node) -> None:
        node.kill()

    def restart(self, node: Node, replica_of: Node | None = None) -> None:
        """Start ``node`` again; with ``replica_of``, as its replica at once (as an
        operator restarts a failed primary; Sentinel would convert it too, but only
        after its next INFO round, up to 10 s later)."""
        if replica_of is not None and not node.sentinel:
            node.conf.write_text(self._data_conf(node, replica_of.port))
        node.launch()

    # -- what the sentinels say --------------------------------------------------
    @property
    def url(self) -> str:
        """The gateway's redis.url (with the password: never log it unredacted)."""
        hosts = ",".join(f"127.0.0.1:{n.port}" for n in self.sentinels)
        auth = f":{quote(self.password, safe='')}@" if self.password else ""
        return f"redis+sentinel://{auth}{hosts}/{self.service}/0"

    def primary_port(self) -> int | None:
        """The primary's port as the first answering sentinel names it."""
        for node in self.sentinels:
            if not node.alive():
                continue
            try:
                host, port = node.client().sentinel_get_master_addr_by_name(self.service)
                return int(port)
            except (redis.RedisError, TypeError):
                continue
        return None

    def primary(self) -> Node:
        port = self.primary_port()
        return next(n for n in self.data if n.port == port)

    def replicas_in_sync(self, primary: Node) -> int:
        try:
            info = primary.client().info("replication")
        except redis.RedisError:
            return 0
        return sum(1 for k, v in info.items()
                   if k.startswith("slave") and isinstance(v, dict) and v.get("state") == "online")

    def wait_for_failover(self, old: Node, timeout: float = 30.0) -> Node:
        """The node the sentinels promoted after ``old`` died, once it answers as primary."""
        def promoted() -> bool:
            port = self.primary_port()
            if port is None or port == old.port:
                return False
            node = next(n for n in self.data if n.port == port)
            try:
                return node.client().info("replication")["role"] == "master"
            except redis.RedisError:
                return False
        self._wait(promoted, timeout, f"a failover away from {old.name}")
        return self.primary()

    def _sentinels_ready(self) -> bool:
        for node in self.sentinels:
            try:
                state = node.client().sentinel_master(self.service)
            except redis.RedisError:
                return False
            if (int(state.get("num-other-sentinels", 0)) < len(self.sentinels) - 1
                    or int(state.get("num-slaves", 0)) < len(self.data) - 1):
                return False
        return True

    @staticmethod
    def _answers(node: Node) -> bool:
        try:
            return bool(node.client().ping())
        except redis.RedisError:
            return False

    @staticmethod
    def _wait(check, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if check():
                return
            time.sleep(0.05)
        raise RuntimeError(f"sentinel set: no {what} in {timeout} s")
