"""Where a command finds the running gateway's Redis (``hcp evaluations``, ``hcp store``).

Theory of operation
-------------------
The gateway's state (evaluation status, dedupe keys, outbox) lives in one Redis:

* ``redis.url`` set (file or ``$HCP_REDIS_URL``): that server. It may run without
  the gateway; a command reads it as it is.
* unset: the private ``redis-server`` that ``hcp serve`` starts on a free port with
  ``--dir <data_dir>/redis`` (gateway.private_redis) and stops when it stops. Its
  pid is in ``<data_dir>/redis/redis.pid``; the port is read from that process
  (``/proc/<pid>/cmdline``: the process title redis-server sets, ``redis-server
  127.0.0.1:PORT``, or ``--port N`` before it does), so it is the port the server
  really listens on. The process is checked to be a redis-server whose working
  directory is this data dir's (redis changes into ``--dir``; a pid file left by a
  crash may name a recycled pid), and it must answer PING. Should
  ``private_redis.py`` one day also write ``redis.port`` next to the pid file, it is
  used where ``/proc`` cannot be read.

Nothing here starts, stops or writes anything: a private Redis exists only while
its gateway runs, and ``GatewayNotRunning`` says so, with what to do.
"""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass
from pathlib import Path

from gateway.config import Config
from gateway.config_values import redact_url

PID_FILE = "redis.pid"  # gateway.private_redis.PID_FILE (not imported: it starts servers)
PORT_FILE = "redis.port"  # proposed: see the module docstring


class GatewayNotRunning(Exception):
    """The gateway's Redis cannot be reached; the message says why and what to do."""


@dataclass(frozen=True)
class GatewayRedis:
    url: str
    description: str  # for people: "the private Redis of /srv/hcp/data (pid 4242)"


def private_redis_folder(config: Config) -> Path:
    return config.data_dir / "redis"


def _cmdline(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def _option(argv: list[str], name: str) -> str | None:
    for i, word in enumerate(argv[:-1]):
        if word == name:
            return argv[i + 1]
    return None


def _not_running(config: Config, why: str) -> GatewayNotRunning:
    return GatewayNotRunning(
        f"the gateway is not running ({why}): start it with scripts/run "
        f"(data dir {config.data_dir}); a gateway on another Redis: set redis.url "
        f"($HCP_REDIS_URL)")


def private_redis_port(config: Config) -> tuple[int, int]:
    """(port, pid) of the running private Redis of ``config.data_dir``."""
    folder = private_redis_folder(config)
    try:
        pid = int((folder / PID_FILE).read_text().strip())
    except FileNotFoundError:
        raise _not_running(config, f"no {folder / PID_FILE}") from None
    except (OSError, ValueError) as exc:
        raise _not_running(config, f"unreadable {folder / PID_FILE}: {exc}") from None
    argv = _cmdline(pid)
    if argv is None:
        port_file = folder / PORT_FILE
        if Path("/proc/self/cmdline").exists() or not port_file.exists():
            raise _not_running(config, f"its private Redis, pid {pid}, is gone")
        try:
            return int(port_file.read_text().strip()), pid
        except (OSError, ValueError) as exc:
            raise _not_running(config, f"unreadable {port_file}: {exc}") from None
    if not argv or "redis-server" not in argv[0]:
        raise _not_running(config, f"pid {pid} of {folder / PID_FILE} is not a redis-server")
    try:  # redis-server changes into its --dir
        served = Path(f"/proc/{pid}/cwd").resolve(strict=True)
    except OSError:
        served = None
    if served is not None and served != folder.resolve():
        raise _not_running(config, f"redis-server pid {pid} serves {served}, not {folder}")
    port = _listening_port(argv)
    if port is None:
        raise _not_running(config, f"cannot tell the port of redis-server pid {pid}")
    return port, pid


def _listening_port(argv: list[str]) -> int | None:
    """The port of a redis-server's command line: ``--port N`` as started, or, once the
    server has set its process title (``redis-server 127.0.0.1:6379``), the title's."""
    port = _option(argv, "--port")
    if port is None:
        match = re.search(r"redis-server\S*\s+\S*:(\d+)\b", " ".join(argv))
        port = match.group(1) if match else None
    return int(port) if port and port.isdigit() else None


def _answers(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith((b"+PONG", b"-NOAUTH"))
    except OSError:
        return False


def find(config: Config) -> GatewayRedis:
    """The Redis of the gateway ``config`` describes, or GatewayNotRunning."""
    if config.redis_url:
        where = config.sources.get("redis.url", "the config")
        return GatewayRedis(config.redis_url,
                            f"Redis {redact_url(config.redis_url)} (redis.url, from {where})")
    port, pid = private_redis_port(config)
    if not _answers("127.0.0.1", port):
        raise _not_running(config, f"its private Redis, pid {pid}, does not answer on "
                                   f"port {port}")
    return GatewayRedis(f"redis://127.0.0.1:{port}/0",
                        f"the private Redis of {config.data_dir} (pid {pid}, port {port})")


def unreachable(redis: GatewayRedis, exc: BaseException) -> GatewayNotRunning:
    """An external Redis that did not answer a command."""
    return GatewayNotRunning(f"{redis.description} does not answer ({type(exc).__name__}): "
                             f"is it running, and is redis.url right?")


def main(argv: list[str] | None = None) -> int:
    """``python -m gateway.running [--config FILE]``: print the gateway's Redis URL
    (for scripts such as scripts/demo-call); exit 1 with the reason when not running."""
    import argparse
    import sys

    import gateway.sms_settings  # noqa: F401  (the same settings as hcp serve)
    import ivr.pool_config  # noqa: F401
    from gateway.config import ConfigError, load

    parser = argparse.ArgumentParser(prog="python -m gateway.running")
    parser.add_argument("--config", default=None)
    args = parser.parse_args(argv)
    try:
        print(find(load(args.config)).url)
    except (ConfigError, GatewayNotRunning) as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
