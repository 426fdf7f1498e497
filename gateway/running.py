"""Where a command finds the running gateway's Redis (``hcp evaluations``, ``hcp store``).

Theory of operation
-------------------
The gateway's state (evaluation status, dedupe keys, outbox) lives in one Redis:

* ``redis.url`` set (file or ``$HCP_REDIS_URL``): that server. It may run without
  the gateway; a command reads it as it is. A ``redis+sentinel://`` URL
  (gateway.redis_connect) is resolved to the primary its sentinels name at that
  moment, so every command (and ``python -m gateway.running``) gets a plain
  ``redis://`` URL.
* unset: the private ``redis-server`` that ``hcp serve`` starts with ``--dir
  <data_dir>/redis`` (gateway.private_redis) and stops when it stops. While it
  runs, its pid and port are in ``redis.pid`` and ``redis.port`` there; the pid
  must be alive and the port must answer PING. It requires the password in
  ``<data_dir>/secrets/redis_password`` (gateway.secrets_store): the URL ``find``
  returns carries it, so a command must run as the gateway's user (the data dir
  and the secrets are 0700), and must never print or log ``url`` unredacted
  (``description`` is the form for people).

Nothing here starts, stops or writes anything: a private Redis exists only while
its gateway runs, and ``GatewayNotRunning`` says so, with what to do.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from redis.exceptions import RedisError

from gateway import redis_connect
from gateway.config import Config
from gateway.config_values import redact_url
from gateway.secrets_store import REDIS_PASSWORD, SECRETS_DIR, read_secret

# gateway.private_redis's file names (not imported: that module starts servers)
PID_FILE = "redis.pid"
PORT_FILE = "redis.port"


class GatewayNotRunning(Exception):
    """The gateway's Redis cannot be reached; the message says why and what to do."""


@dataclass(frozen=True)
class GatewayRedis:
    url: str
    description: str  # for people: "the private Redis of /srv/hcp/data (pid 4242)"


def private_redis_folder(config: Config) -> Path:
    return config.data_dir / "redis"


def _not_running(config: Config, why: str) -> GatewayNotRunning:
    return GatewayNotRunning(
        f"the gateway is not running ({why}): start it with scripts/run "
        f"(data dir {config.data_dir}); a gateway on another Redis: set redis.url "
        f"($HCP_REDIS_URL)")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def private_redis_port(config: Config) -> tuple[int, int]:
    """(port, pid) of the running private Redis of ``config.data_dir``."""
    folder = private_redis_folder(config)
    try:
        pid = int((folder / PID_FILE).read_text().strip())
        port = int((folder / PORT_FILE).read_text().strip())
    except FileNotFoundError as exc:
        raise _not_running(config, f"no {exc.filename}") from None
    except (OSError, ValueError) as exc:
        raise _not_running(config, f"unreadable files in {folder}: {exc}") from None
    if not _alive(pid):
        raise _not_running(config, f"its private Redis, pid {pid}, is gone")
    return port, pid


def _answers(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith((b"+PONG", b"-NOAUTH"))
    except OSError:
        return False


def find(config: Config) -> GatewayRedis:
    """The Redis of the gateway ``config`` describes, or GatewayNotRunning."""
    if config.redis_url and redis_connect.is_sentinel(config.redis_url):
        return _sentinel_primary(config)
    if config.redis_url:
        where = config.sources.get("redis.url", "the config")
        return GatewayRedis(config.redis_url,
                            f"Redis {redact_url(config.redis_url)} (redis.url, from {where})")
    port, pid = private_redis_port(config)
    if not _answers("127.0.0.1", port):
        raise _not_running(config, f"its private Redis, pid {pid}, does not answer on "
                                   f"port {port}")
    try:
        password = read_secret(config.data_dir, REDIS_PASSWORD)
    except OSError as exc:
        raise GatewayNotRunning(
            f"cannot read the password of the private Redis of {config.data_dir} "
            f"({SECRETS_DIR}/{REDIS_PASSWORD}: {type(exc).__name__}): run the command "
            f"as the gateway's user") from None
    auth = f":{quote(password, safe='')}@" if password else ""
    return GatewayRedis(f"redis://{auth}127.0.0.1:{port}/0",
                        f"the private Redis of {config.data_dir} (pid {pid}, port {port})")


def _sentinel_primary(config: Config) -> GatewayRedis:
    """The primary the sentinels of a ``redis+sentinel://`` redis.url name now, as a
    plain URL (a command is short; a failover during it is not followed)."""
    where = config.sources.get("redis.url", "the config")
    shown = redact_url(config.redis_url)
    try:
        url = redis_connect.primary_url(config.redis_url)
    except ValueError as exc:
        raise GatewayNotRunning(f"redis.url (from {where}): {exc}") from None
    except RedisError as exc:  # MasterNotFoundError: no sentinel knows a primary
        raise GatewayNotRunning(
            f"no sentinel of {shown} names a primary ({type(exc).__name__}): are the "
            f"sentinels running, and is the service name in redis.url right?") from None
    primary = url.split("@")[-1].split("://")[-1].split("/")[0]
    return GatewayRedis(url, f"Redis primary {primary}, named by the sentinels of {shown} "
                             f"(redis.url, from {where})")


def unreachable(redis: GatewayRedis, exc: BaseException) -> GatewayNotRunning:
    """An external Redis that did not answer a command."""
    return GatewayNotRunning(f"{redis.description} does not answer ({type(exc).__name__}): "
                             f"is it running, and is redis.url right?")


def main(argv: list[str] | None = None) -> int:
    """``python -m gateway.running [--config FILE]``: print the gateway's Redis URL
    (for scripts such as scripts/demo-call; with its password: for a pipe, not a
    log); exit 1 with the reason when not running."""
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
