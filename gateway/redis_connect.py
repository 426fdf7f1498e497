"""From ``redis.url`` to a Redis client: one server, or a primary found through Sentinel.

Theory of operation
-------------------
``redis.url`` takes redis-py's own forms (``redis://``, ``rediss://``, ``unix://``)
and one more, for a primary with replicas watched by Redis Sentinel::

    redis+sentinel://[[USER]:PASSWORD@]HOST:PORT[,HOST:PORT…]/SERVICE[/DB][?OPTIONS]
    rediss+sentinel://…  the same, TLS to the data nodes (and to the sentinels)

e.g. ``redis+sentinel://:s3cret@10.0.0.1:26379,10.0.0.2:26379,10.0.0.3:26379/hcp/0``.
The hosts are the sentinels (port 26379 when left out), SERVICE the name the
sentinels monitor (``sentinel monitor SERVICE …``), DB the database (0). The
password is the data nodes' (``requirepass`` / ``masterauth``); sentinels with a
password of their own take ``?sentinel_password=…`` (and ``sentinel_username``).
Other query options are redis-py's connection options (``ssl_ca_certs=…``).

Nothing is coordinated here: ``redis.asyncio.sentinel.Sentinel(...).master_for``
(or the sync ``redis.sentinel``) asks the sentinels for the primary before each new
connection, and drops a connection that meets ``READONLY`` (a demoted primary). A
command whose connection broke in a failover is retried on a fresh connection by
the client's ``Retry`` — safe because the rating layer's commands are idempotent
(gateway.serve) — so the gateway rides a failover without a restart.

Refusals are not outages. redis-py's ``AuthenticationError`` is a
``ConnectionError``; ``retry_policy`` never retries it, and ``gateway.serve``
stops the start at once with one line (``RedisRefused``) instead of retrying a
wrong password for ~45 s.

Acknowledged on how many copies (``redis.min_replicas_acked``). Replication is
asynchronous: the primary answers the accept script before a replica has the
write, so a primary killed in that moment takes acknowledged ratings with it when
a replica is promoted (measured in docs/operations.md). With N > 0, ``AckedRedis``
sends ``WAIT N timeout`` on the same connection right after the intake's accept
script (``ratings.intake.ACCEPT_LUA``, recognised by its SHA1), so the 201 goes
out only once N replicas hold the write; fewer within the timeout raises
``NotReplicated`` and the API answers 503 "retry" (the write stays on the primary;
the client's retry is a replay, answered 201 once the replicas answer). Only the
accept waits: the submitter's and the SMS layer's writes can be replayed from the
outbox, a rating the citizen was thanked for cannot.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import redis
import redis.asyncio as aioredis
import redis.sentinel as sync_sentinel
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool
from redis.backoff import ExponentialBackoff
from redis.exceptions import AuthenticationError, RedisError

from gateway.config import Setting, register_settings
from gateway.config_values import parsers, redact_url

SENTINEL_SCHEMES = ("redis+sentinel", "rediss+sentinel")
URL_SCHEMES = ("redis", "rediss", "unix", *SENTINEL_SCHEMES)
SENTINEL_PORT = 26379


def _non_negative_int(raw: Any) -> int:
    value = parsers.int(raw)
    if value < 0:
        raise ValueError("must be 0 or more")
    return value


register_settings(
    Setting("redis.min_replicas_acked", "HCP_REDIS_MIN_REPLICAS_ACKED", _non_negative_int, 0,
            "Replicas that must hold an accepted rating before the API answers 201 "
            "(WAIT after the accept script); 0: the primary's answer is enough "
            "(asynchronous replication, see docs/operations.md)."),
    Setting("redis.replica_ack_timeout_s", "HCP_REDIS_REPLICA_ACK_TIMEOUT_S",
            parsers.positive_float, 1.0,
            "How long the accept waits for redis.min_replicas_acked replicas; fewer in "
            "time: 503 retry (the client's retry is a replay)."),
)


class RedisRefused(Exception):
    """Redis (or a sentinel) refused our credentials: a configuration error, not an
    outage; the message says what to fix and carries no password."""


class NotReplicated(RedisError):
    """The accept reached fewer replicas than redis.min_replicas_acked in time."""


def is_sentinel(url: str | None) -> bool:
    return bool(url) and url.split("://", 1)[0].lower() in SENTINEL_SCHEMES


@dataclass(frozen=True)
class SentinelTarget:
    """A parsed ``redis+sentinel://`` URL (repr without the passwords)."""

    sentinels: tuple[tuple[str, int], ...]
    service: str
    db: int = 0
    ssl: bool = False
    username: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)
    sentinel_username: str | None = field(default=None, repr=False)
    sentinel_password: str | None = field(default=None, repr=False)
    options: dict = field(default_factory=dict)  # other query options, redis-py's

    def connection_kwargs(self) -> dict:
        kwargs = dict(self.options, db=self.db)
        if self.username:
            kwargs["username"] = self.username
        if self.password:
            kwargs["password"] = self.password
        if self.ssl:
            kwargs["ssl"] = True
        return kwargs

    def sentinel_kwargs(self) -> dict:
        kwargs = {k: v for k, v in self.options.items() if k.startswith(("socket_", "ssl_"))}
        if self.ssl:
            kwargs["ssl"] = True
        if self.sentinel_username:
            kwargs["username"] = self.sentinel_username
        if self.sentinel_password:
            kwargs["password"] = self.sentinel_password
        return kwargs


_NUMBER_OPTIONS = {"socket_timeout": float, "socket_connect_timeout": float,
                   "health_check_interval": int}


def parse_sentinel_url(url: str) -> SentinelTarget:
    """``redis+sentinel://[[user]:pw@]h1:p1,h2:p2/service[/db][?opts]``; ValueError
    (with the URL's credentials hidden) when it is not one."""
    shown = redact_url(url)
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() not in SENTINEL_SCHEMES:
        raise ValueError(f"not a redis+sentinel:// URL: {shown!r}")
    # urlsplit cannot read a host list: split netloc / path / query by hand
    rest, _, query = rest.partition("?")
    netloc, _, path = rest.partition("/")
    userinfo, at, hosts = netloc.rpartition("@")
    if not at:
        userinfo, hosts = "", netloc
    username, _, password = userinfo.partition(":")
    sentinels = []
    for part in hosts.split(","):
        part = part.strip()
        if not part:
            continue
        parsed = urlsplit(f"//{part}")
        try:
            port = parsed.port or SENTINEL_PORT
        except ValueError:
            raise ValueError(f"a sentinel address with a bad port in {shown!r}") from None
        if not parsed.hostname:
            raise ValueError(f"a sentinel address without a host in {shown!r}")
        sentinels.append((parsed.hostname, port))
    if not sentinels:
        raise ValueError(f"no sentinel host:port in {shown!r}")
    segments = [unquote(s) for s in path.split("/") if s]
    if not segments or len(segments) > 2:
        raise ValueError(f"expected /SERVICE or /SERVICE/DB after the sentinels in {shown!r}")
    db = 0
    if len(segments) == 2:
        if not segments[1].isdigit():
            raise ValueError(f"the database after the service must be a number in {shown!r}")
        db = int(segments[1])
    options: dict[str, Any] = {}
    for name, values in parse_qs(query).items():
        value = values[-1]
        options[name] = _NUMBER_OPTIONS.get(name, str)(value)
    return SentinelTarget(
        sentinels=tuple(sentinels), service=segments[0], db=db,
        ssl=scheme.lower().startswith("rediss"),
        username=unquote(username) or None, password=unquote(password) or None,
        sentinel_username=options.pop("sentinel_username", None),
        sentinel_password=options.pop("sentinel_password", None), options=options)


def check_url(url: str) -> str:
    """What the redis.url setting accepts: redis-py's schemes, and a sentinel URL that
    parses. Returned unchanged."""
    if is_sentinel(url):
        parse_sentinel_url(url)
    return url


# -- the asyncio client (hcp serve) -------------------------------------------------

def retry_policy(retries: int = 3) -> Retry:
    """The shared client's retry: a broken connection (a Redis restart, a failover) is
    retried on a fresh one; a refused password never is."""
    return Retry(ExponentialBackoff(cap=1.0, base=0.05), retries,
                 is_retryable=lambda error: not isinstance(error, AuthenticationError))


class BlockingSentinelConnectionPool(SentinelConnectionPool, aioredis.BlockingConnectionPool):
    """redis-py's Sentinel pool with the blocking pool's waiting for a free connection
    (a burst waits up to ``timeout`` instead of raising MaxConnectionsError)."""


ACCEPT_SCRIPT_SHA: str | None = None


def accept_script_sha() -> str:
    """SHA1 of the intake's accept script, as EVALSHA names it."""
    global ACCEPT_SCRIPT_SHA
    if ACCEPT_SCRIPT_SHA is None:
        from ratings.intake import ACCEPT_LUA
        ACCEPT_SCRIPT_SHA = hashlib.sha1(ACCEPT_LUA.encode()).hexdigest()
    return ACCEPT_SCRIPT_SHA


class AckedRedis(aioredis.Redis):
    """A client that, after the scripts in ``acked_scripts``, waits on the same
    connection until ``min_replicas`` replicas have the write (``WAIT``)."""

    min_replicas: int = 0
    ack_timeout_ms: int = 1000
    acked_scripts: frozenset[str] = frozenset()

    def require_replicas(self, count: int, timeout_s: float, scripts: frozenset[str]) -> None:
        self.min_replicas = count
        self.ack_timeout_ms = max(1, int(timeout_s * 1000))
        self.acked_scripts = frozenset(s.lower() for s in scripts)

    async def _send_command_parse_response(self, conn, command_name, *args, **options):
        result = await super()._send_command_parse_response(conn, command_name, *args,
                                                            **options)
        if (self.min_replicas and str(command_name).upper() == "EVALSHA" and len(args) > 1
                and str(args[1]).lower() in self.acked_scripts):
            await conn.send_command("WAIT", self.min_replicas, self.ack_timeout_ms)
            acked = await self.parse_response(conn, "WAIT")
            if acked < self.min_replicas:
                raise NotReplicated(f"the accept reached {acked} of {self.min_replicas} "
                                    f"replicas in {self.ack_timeout_ms} ms")
        return result


def blocking_pool(url: str, **pool_kwargs) -> aioredis.ConnectionPool:
    """A drop-in for ``BlockingConnectionPool.from_url(url, **pool_kwargs)`` that also
    takes a sentinel URL: then a pool whose connections go to the primary the
    sentinels name (``pool.sentinel_manager`` holds the clients of the sentinels)."""
    if not is_sentinel(url):
        return aioredis.BlockingConnectionPool.from_url(url, **pool_kwargs)
    target = parse_sentinel_url(url)
    sentinel_kwargs = target.sentinel_kwargs()
    for name in ("socket_timeout", "socket_connect_timeout"):
        if name in pool_kwargs:
            sentinel_kwargs.setdefault(name, pool_kwargs[name])
    sentinel_kwargs.setdefault("socket_connect_timeout", 1.0)
    sentinel_kwargs.setdefault("socket_timeout", 1.0)
    manager = Sentinel(target.sentinels, sentinel_kwargs=sentinel_kwargs)
    pool = BlockingSentinelConnectionPool(
        target.service, manager, is_master=True,
        **dict(target.connection_kwargs(), **pool_kwargs))
    pool.sentinel_manager = manager
    return pool


def async_client(url: str, *, max_connections: int, timeout: float = 5,
                 retry: Retry | None = None, retry_on_error: list | None = None,
                 redis_class: type[aioredis.Redis] = AckedRedis,
                 **connection_kwargs) -> aioredis.Redis:
    """A ``redis_class`` client on a blocking pool of ``max_connections``: on the URL's
    server, or on the primary the sentinels name (followed across failovers)."""
    pool_kwargs = dict(connection_kwargs, max_connections=max_connections, timeout=timeout)
    if retry is not None:
        pool_kwargs["retry"] = retry
    if retry_on_error is not None:
        pool_kwargs["retry_on_error"] = retry_on_error
    return redis_class.from_pool(blocking_pool(url, **pool_kwargs))


async def close_async(client: aioredis.Redis) -> None:
    """Close the client, its pool and (sentinel URL) its clients of the sentinels."""
    await client.aclose()
    await client.connection_pool.disconnect()
    manager = getattr(client.connection_pool, "sentinel_manager", None)
    if manager is not None:
        await manager.aclose()


# -- the sync side (hcp commands, scripts) -----------------------------------------

def sync_client(url: str, **kwargs) -> redis.Redis:
    """A redis-py sync client for ``url`` (the primary, for a sentinel URL)."""
    if not is_sentinel(url):
        return redis.Redis.from_url(url, **kwargs)
    target = parse_sentinel_url(url)
    manager = sync_sentinel.Sentinel(
        target.sentinels, sentinel_kwargs=dict(target.sentinel_kwargs(), socket_timeout=1.0,
                                               socket_connect_timeout=1.0),
        **target.connection_kwargs())
    return manager.master_for(target.service, **kwargs)


def current_primary(url: str) -> tuple[str, int]:
    """(host, port) of the primary the sentinels of ``url`` name now; raises redis-py's
    MasterNotFoundError (a ConnectionError) when none of them knows one."""
    target = parse_sentinel_url(url)
    manager = sync_sentinel.Sentinel(
        target.sentinels, sentinel_kwargs=dict(target.sentinel_kwargs(), socket_timeout=1.0,
                                               socket_connect_timeout=1.0))
    try:
        host, port = manager.discover_master(target.service)
    finally:
        for each in manager.sentinels:
            each.close()
    return str(host), int(port)


def primary_url(url: str) -> str:
    """A plain ``redis://`` (``rediss://``) URL of the primary the sentinels name now,
    with the URL's credentials, db and connection options: for a short command that
    takes a URL (``python -m gateway.running``); a failover after it was read is not
    followed (a long-lived client uses ``async_client``/``sync_client``)."""
    from urllib.parse import quote, urlencode

    target = parse_sentinel_url(url)
    host, port = current_primary(url)
    auth = ""
    if target.username or target.password:
        auth = (quote(target.username or "", safe="") + ":"
                + quote(target.password or "", safe="") + "@")
    host_text = f"[{host}]" if ":" in host else host
    query = f"?{urlencode(target.options)}" if target.options else ""
    scheme = "rediss" if target.ssl else "redis"
    return f"{scheme}://{auth}{host_text}:{port}/{target.db}{query}"
