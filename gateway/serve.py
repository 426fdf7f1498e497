"""``hcp serve``: the running process, wired from the config.

Theory of operation
-------------------
``Gateway.start`` first locks the data dir (gateway.data_dir_lock: a second
gateway on the same data dir refuses at once, exit 1, and touches nothing; the
lock is released after the last part has stopped). Then it brings the parts up
in dependency order, each a component of ``gateway.components`` (started in
order, stopped in reverse):

    private redis-server (only without redis.url; AOF in <data_dir>/redis;
    restarted by its component if it dies, gateway.private_redis)
    → Redis client → core store (HTTP, or local SQLite) → submitter (drains the
    outbox) → EXTRA_COMPONENTS (IVR pool, SMS scheduler, console: the lead's hook)
    → HTTP API (last up, first down)

``Gateway.run`` waits for SIGTERM or SIGINT, then stops: the HTTP listener
closes (in-flight requests finish), extras stop, the submitter drains what it
has in flight for up to ``shutdown.drain_timeout_s`` (whatever it does not
finish stays pending in the outbox and is claimed on the next start), the store
and the Redis client close, the private redis-server flushes its AOF and
exits, and the data dir lock is released. A killed gateway (kill -9) takes its
private Redis down with it (gateway.private_redis); the next start reuses the data.

``/healthz`` answers 200 while the process serves or is recovering by itself,
503 with a reason once a part has given up (``Gateway.health``: today the
private Redis's supervisor after repeated failed restarts), for an outside
supervisor to restart the process.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
from urllib.parse import urlsplit

from aiohttp import web
from redis.exceptions import AuthenticationError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from adapters.store_http import HttpCoreStore
from adapters.store_local import LocalCoreStore
from gateway.components import EXTRA_COMPONENTS, Components, Context, Hook
from gateway import redis_connect
from gateway.config import Config, ConfigError
from gateway.config_values import redact_url
from gateway.data_dir_lock import DataDirLock
from gateway.http_api import make_app
from gateway.http_edge import EdgeLimits, EdgeRunner
from gateway.metrics import MeteredIntake, Metrics
from gateway.private_redis import PrivateRedis
from gateway.secrets_store import secret_locations, with_secrets
from gateway.sms_settings import make as sms_channel
from ivr.context_api import add_call_context_route
from gateway.submitter_component import SubmitterComponent
from ivr.pool import component_factories as ivr_pool_factories
from ratings.corrections import component as corrections_sender
from ratings.intake import Intake
from ratings.model import Channel
from ratings.reason_codes import load_table
from ratings.records import RecordOptions

log = logging.getLogger("gateway")

LOCAL_STORE_FILE = "core-store.sqlite3"


def build_store(config: Config):
    """The configured core store: HTTP with core.url, else the local SQLite file."""
    options = record_options(config)
    if config.core_url:
        store = HttpCoreStore(config.core_url, config.core_hmac_secret.encode(),
                              timeout=config.core_timeout_s, pf_codes=options.pf_codes,
                              include_mobile=config.core_include_mobile,
                              concurrency=config.submitter_concurrency)
        store.record_options = options  # the reason table and area code too
        return store
    return LocalCoreStore(config.data_dir / LOCAL_STORE_FILE, options)


def record_options(config: Config) -> RecordOptions:
    """How records are built: pf per channel (none guessed for the API), the reason-code
    table (core.reason_codes, else the shipped default), the area code."""
    pf_codes = {Channel.HOTLINE.value: config.core_pf_hotline,
                Channel.SMS.value: config.core_pf_sms}
    if config.core_pf_api is not None:
        pf_codes[Channel.API.value] = config.core_pf_api
    return RecordOptions(pf_codes=pf_codes, include_mobile=config.core_include_mobile,
                         reason_codes=load_table(config.core_reason_codes),
                         area_code=config.core_area_code)


async def probe_store(config: Config, store) -> str | None:
    """None if the store answers; else a short reason (for /readyz)."""
    ping = getattr(store, "ping", None)
    if ping is not None:
        try:
            await ping()
            return None
        except Exception as exc:
            return f"store: {type(exc).__name__}"
    if config.core_url:  # an HTTP store with no ping: can we open a connection?
        parts = urlsplit(config.core_url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            _, writer = await asyncio.wait_for(
                asyncio.open_connection(parts.hostname, port), timeout=2)
            writer.close()
            await writer.wait_closed()
            return None
        except (OSError, asyncio.TimeoutError) as exc:
            return f"store unreachable: {type(exc).__name__}"
    count = getattr(store, "count", None)  # the local SQLite store
    if count is not None:
        try:
            await count()
            return None
        except Exception as exc:
            return f"store: {type(exc).__name__}"
    return None if os.access(config.data_dir, os.W_OK) else "data dir not writable"


def _console_component(ctx):
    """The supervisor console (console/), with the gateway's own health probes."""
    from console.app import ConsoleComponent  # only when the console is on

    async def health() -> dict:
        try:
            await ctx.redis.ping()
            redis_problem = None
        except Exception as exc:  # shown on the operations page, not raised
            redis_problem = f"redis: {type(exc).__name__}"
        return {"redis": redis_problem, "store": await probe_store(ctx.config, ctx.store)}

    return ConsoleComponent(ctx, health)


class Gateway:
    def __init__(self, config: Config, extra=None):
        self._lock = DataDirLock(config.data_dir)
        self._lock.check()  # a live gateway on this data dir: refuse before writing secrets
        self.config = with_secrets(config)
        # the SMS channel always runs (embedded default: file outbox in the data dir);
        # the IVR worker pool joins when ivr.workers (HCP_IVR_WORKERS) asks for one
        # approved 误评/恶意差评 exclusions are reported to the core store (ratings.corrections)
        self.extra = [sms_channel, corrections_sender, *EXTRA_COMPONENTS,
                      *ivr_pool_factories(self.config), *(extra or ())]
        if self.config["console.enabled"]:  # the supervisor console at /console (console/)
            self.extra.append(_console_component)
        self.metrics = Metrics()
        self.components = Components()
        self.redis_url: str | None = None
        self.private_redis: PrivateRedis | None = None
        self.redis = None
        self.store = None
        self.intake = None
        self.submitter = None
        self.http_port: int | None = None
        self.failure: BaseException | None = None
        self._stopping = asyncio.Event()

    # -- parts -------------------------------------------------------------
    async def _start_redis(self) -> None:
        if self.config.redis_url:
            self.redis_url = self.config.redis_url
        else:
            private = PrivateRedis(self.config.data_dir / "redis")
            await self.components.start(private)
            self.private_redis = private
            self.redis_url = private.url
        # Blocking pool: under a burst a caller waits for a free connection
        # instead of failing with MaxConnectionsError. Retries: after a Redis
        # restart (or a Sentinel failover) the pool's idle connections are dead; a
        # command on one is retried on a fresh connection (to the new primary).
        # Safe, because every command of the rating layer is idempotent (the
        # intake script answers a replay of the same evaluation id as accepted and
        # writes nothing). A refused password is not retried (gateway.redis_connect).
        try:
            client = redis_connect.async_client(
                self.redis_url, max_connections=self.config.redis_max_connections, timeout=5,
                retry=redis_connect.retry_policy(3),
                retry_on_error=[RedisConnectionError, RedisTimeoutError])
        except ValueError as exc:  # a redis+sentinel:// URL of the wrong shape
            raise ConfigError("redis.url", str(exc),
                              self.config.sources.get("redis.url", "")) from None
        acked = self.config["redis.min_replicas_acked"]
        if acked:  # the 201 waits for that many replicas (docs/operations.md)
            client.require_replicas(acked, self.config["redis.replica_ack_timeout_s"],
                                    frozenset({redis_connect.accept_script_sha()}))
        shown = redact_url(self.redis_url)

        async def connect():
            for attempt in range(50):  # an external Redis may still be starting
                try:
                    await client.ping()
                    return
                except AuthenticationError as exc:  # a ConnectionError, but no outage
                    log.error("redis.refused", extra={"url": shown, "error": str(exc)})
                    raise redis_connect.RedisRefused(
                        f"Redis {shown} refused the credentials ({exc}): fix the password "
                        f"in redis.url ($HCP_REDIS_URL)") from None
                except (OSError, RedisConnectionError):
                    if attempt == 49:
                        raise
                    await asyncio.sleep(0.2)

        async def close():
            await redis_connect.close_async(client)

        await self.components.start(Hook("redis-client", connect, close))
        self.redis = client

    async def _start_store(self) -> None:
        store = build_store(self.config)

        async def start():
            opener = getattr(store, "start", None)
            if opener is not None:
                await opener()

        await self.components.start(Hook("core-store", start, store.close))
        self.store = store

    def _build_intake(self) -> None:
        intake = Intake(self.redis, self.config.intake_phone_secret.encode(),
                        follow_up_window=self.config.intake_follow_up_window)
        self.intake = MeteredIntake(intake, self.metrics)

    async def _start_submitter(self) -> None:
        component = SubmitterComponent(self.redis, self.store, self.config, self.metrics,
                                       on_crash=self.fail)
        await self.components.start(component)
        self.submitter = component.submitter

    def _build_http_app(self) -> web.Application:
        app = make_app(self.intake, self.metrics, self.config.http_tokens, self.readiness,
                       health=self.health, redis=self.redis,
                       max_body_bytes=self.config.http_max_body_bytes,
                       phone_region=self.config.intake_phone_region,
                       filed_channels=frozenset(record_options(self.config).pf_codes))
        # the call centre may post a call's context before transferring it (docs/ivr.md)
        add_call_context_route(app, self.redis)
        return app

    async def _start_http(self, app: web.Application) -> None:
        # head/body timeouts, a connection limit, bounded inflating (gateway.http_edge)
        runner = EdgeRunner(app, EdgeLimits.from_config(self.config), handle_signals=False,
                            access_log=None, shutdown_timeout=5.0)

        async def start():
            await runner.setup()
            site = web.TCPSite(runner, self.config.http_host, self.config.http_port,
                               reuse_address=True, reuse_port=self.config.http_reuse_port)
            try:
                await site.start()
            except BaseException:  # e.g. the port is taken: release the app
                await runner.cleanup()
                raise
            self.http_port = _bound_port(runner)

        await self.components.start(Hook("http", start, runner.cleanup))
        log.info("http.listening", extra={"host": self.config.http_host,
                                          "port": self.http_port})

    def health(self) -> str | None:
        """None while the process serves or recovers by itself; else why it cannot."""
        return self.private_redis.problem if self.private_redis is not None else None

    async def readiness(self) -> dict[str, str | None]:
        try:
            await asyncio.wait_for(self.redis.ping(), timeout=2)
            redis_problem = None
        except Exception as exc:
            redis_problem = f"redis: {type(exc).__name__}"
        return {"redis": redis_problem, "store": await probe_store(self.config, self.store)}

    # -- lifecycle -----------------------------------------------------------
    async def start(self) -> None:
        log.info("gateway.starting", extra={"config": self.config.describe()})
        self.config.data_dir.mkdir(parents=True, exist_ok=True)
        self._lock.acquire()  # before any part: see above
        try:
            await self._start_redis()
            await self._start_store()
            self._build_intake()
            await self._start_submitter()
            app = self._build_http_app()
            ctx = Context(self.config, self.redis, self.redis_url, self.intake, self.store,
                          self.metrics, app, self.fail, redis_connect.blocking_pool)
            for factory in self.extra:
                await self.components.start(factory(ctx))
            await self._start_http(app)
        except BaseException:
            await self.components.stop_all()
            self._lock.release()
            raise
        log.info("gateway.ready", extra={"port": self.http_port,
                                         "components": self.components.names})
        # where a newcomer finds what to sign in with (paths only, never the values)
        log.info("gateway.secrets", extra=secret_locations(self.config))

    async def stop(self) -> None:
        log.info("gateway.stopping")
        await self.components.stop_all()
        self._lock.release()
        log.info("gateway.stopped")

    def request_stop(self) -> None:
        self._stopping.set()

    def fail(self, error: BaseException) -> None:
        """A part died on its own: stop everything, and exit non-zero (see cli_serve)."""
        self.failure = error
        self.request_stop()

    async def run(self) -> None:
        """Start, serve until SIGTERM/SIGINT, stop gracefully."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._on_signal, sig)
        try:
            await self.start()
            await self._stopping.wait()
        finally:
            await self.stop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)

    def _on_signal(self, sig: signal.Signals) -> None:
        log.info("gateway.signal", extra={"signal": signal.Signals(sig).name})
        self.request_stop()


def _bound_port(runner: web.AppRunner) -> int:
    for address in runner.addresses:
        if isinstance(address, tuple):
            return address[1]
    raise RuntimeError("the HTTP listener has no TCP address")


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]

