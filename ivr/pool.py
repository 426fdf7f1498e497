"""The IVR worker pool: N ``hcp ivr worker`` processes under one supervisor.

Theory of operation
-------------------
The pjsua2 wheel holds 4 calls per process, so the gateway runs N worker
processes (``ivr.pool_config``: ports per worker) behind a SIP front that
spreads INVITEs over them (Kamailio's dispatcher, ``ivr.kamailio``).

``IvrPool.start`` spawns every worker and waits until each answers a SIP
OPTIONS on its port (the same probe Kamailio uses). One supervising task per
worker waits for its process; when a worker dies and the pool is not stopping,
the death is counted (``hcp_ivr_worker_restarts_total{worker}``) and the worker
is started again after a backoff that doubles for every quick death (0.5 s …
30 s) and resets once it has run ``stable_after_s``. A poller reads each
worker's own metrics (``hcp_ivr_active_calls``) into
``hcp_ivr_pool_active_calls{worker}`` and ``IvrPool.status()``.

``IvrPool.stop`` drains: every worker gets SIGTERM, answers new INVITEs with
503 (so the front fails over, or the caller hears busy), lets live calls run to
their end, and exits; a worker still alive after ``drain_s`` is killed. A
rating is in Redis as soon as the intake accepted it, so a killed worker loses
only the calls it had not rated yet.

As a component of ``hcp serve`` (``make_component``) it gets the gateway's
Redis URL, data dir, phone secret, log level and metrics registry.

Logs: a worker writes the gateway's JSON lines (``hcp ivr worker`` sets up
gateway.logs) to its stderr, a pipe the pool reads. ``relay_line`` turns each
line back into a LogRecord (same time, level, logger, event and fields, plus
``worker``) and hands it to the gateway's logging, so its handler, level and
phone mask apply as to the gateway's own records and the two never interleave
mid-line. A line that is not such JSON (a faulthandler dump, anything a library
prints) becomes an ``ivr.worker.output`` event carrying the line. With a
``log_dir`` (tests, benches) each worker writes its own file instead.
"""

from __future__ import annotations

import asyncio
import ctypes
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge

from ivr.pool_config import PoolConfig, WorkerSpec, pool_enabled, pool_enabled_in
from ivr.sip_probe import sip_options_ping
from ratings.tasks import stop_task

log = logging.getLogger("hcp.ivr.pool")
REDIS_URL_ENV = "HCP_IVR_REDIS_URL"  # read by `hcp ivr worker` when --redis is not given
REPO = Path(__file__).resolve().parents[1]
PR_SET_PDEATHSIG = 1
RELAY_LINE_LIMIT = 1 << 20  # a longer worker log line is dropped (and said so)


@dataclass
class WorkerState:
    spec: WorkerSpec
    proc: asyncio.subprocess.Process | None = None
    started_at: float = 0.0
    restarts: int = 0
    active_calls: int | None = None  # None: not read yet / unreadable
    last_exit: int | None = None


def _flow_argument(flow: str) -> str:
    """A flow id as is; a YAML path made absolute (the workers run in the data dir)."""
    path = Path(flow)
    return str(path.resolve()) if path.suffix in (".yaml", ".yml") else flow


def die_with_parent() -> None:
    """In the child, before exec: SIGTERM when the spawning thread dies (Linux).

    The pool spawns from the event loop's thread, which lives as long as the
    gateway, so a ``kill -9`` of the gateway leaves no worker behind.
    """
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


def restart_delay(config: PoolConfig, quick_deaths: int) -> float:
    """0 after a worker that ran stably; then 0.5 s, 1 s, 2 s … up to the maximum."""
    if quick_deaths <= 0:
        return 0.0
    return min(config.restart_backoff_max_s,
               config.restart_backoff_s * 2 ** (quick_deaths - 1))


# What gateway.logs.JsonFormatter writes besides the record's own fields.
_JSON_KEYS = ("ts", "level", "logger", "event", "exception")
_RECORD_ATTRS = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message"}


def relay_line(worker: str, line: str) -> None:
    """One line of a worker's stderr into this process's logging (see the docstring)."""
    line = line.rstrip("\r\n")
    if not line.strip():
        return
    try:
        entry = json.loads(line)
    except ValueError:
        entry = None
    if not (isinstance(entry, dict) and isinstance(entry.get("event"), str)
            and isinstance(entry.get("logger"), str)):
        log.warning("ivr.worker.output", extra={"worker": worker, "line": line})
        return
    level = logging.getLevelName(str(entry.get("level", "INFO")))
    level = level if isinstance(level, int) else logging.INFO
    logger = logging.getLogger(entry["logger"])
    if not logger.isEnabledFor(level):
        return
    fields = {k: v for k, v in entry.items()
              if k not in _JSON_KEYS and k not in _RECORD_ATTRS}
    fields.setdefault("worker", worker)
    record = logger.makeRecord(logger.name, level, "(worker)", 0, entry["event"], None, None)
    try:
        record.created = datetime.fromisoformat(entry["ts"]).timestamp()
        record.msecs = (record.created % 1) * 1000
    except (KeyError, TypeError, ValueError):
        pass  # keep the time it reached us
    record.__dict__.update(fields)
    if isinstance(entry.get("exception"), str):
        record.exc_text = entry["exception"]
    logger.handle(record)


async def _relay(worker: str, stream: asyncio.StreamReader) -> None:
    while True:
        try:
            raw = await stream.readline()
        except ValueError:  # longer than RELAY_LINE_LIMIT: its rest is discarded
            log.warning("ivr.worker.output_too_long", extra={"worker": worker,
                                                             "limit": RELAY_LINE_LIMIT})
            continue
        if not raw:
            return
        try:
            relay_line(worker, raw.decode("utf-8", errors="replace"))
        except Exception:  # never stop reading: a full pipe would block the worker
            log.exception("ivr.worker.relay_failed", extra={"worker": worker})


class IvrPool:
    name = "ivr-pool"

    def __init__(self, config: PoolConfig, redis_url: str, data_dir: Path,
                 phone_secret: str | bytes | None = None, registry: CollectorRegistry | None = None,
                 log_dir: Path | None = None, ready_timeout_s: float = 30.0,
                 log_level: str | None = None):
        self.config = config
        self.log_level = log_level  # the workers' --log-level (the gateway's own)
        self.redis_url = redis_url
        self.data_dir = Path(data_dir).resolve()  # the workers run in it
        self.phone_secret = phone_secret.decode() if isinstance(phone_secret, bytes) \
            else phone_secret
        self.log_dir = log_dir
        self.ready_timeout_s = ready_timeout_s
        self.registry = registry if registry is not None else CollectorRegistry()
        self.restarts_metric = Counter(
            "hcp_ivr_worker_restarts", "IVR worker processes restarted after dying",
            ["worker"], registry=self.registry)
        self.active_metric = Gauge(
            "hcp_ivr_pool_active_calls", "Live calls per IVR worker (read from the worker)",
            ["worker"], registry=self.registry)
        self.workers = [WorkerState(spec) for spec in config.workers()]
        self._supervisors: list[asyncio.Task] = []
        self._poller: asyncio.Task | None = None
        self._relays: set[asyncio.Task] = set()  # one per worker process, until its EOF
        self._stopping = False

    # -- processes -----------------------------------------------------------------
    def command(self, spec: WorkerSpec) -> list[str]:
        c = self.config
        args = [sys.executable, "-m", "gateway.cli", "ivr", "worker",
                "--sip-port", str(spec.sip_port), "--rtp-port", str(spec.rtp_port),
                "--rtp-range", str(spec.rtp_range), "--metrics-port", str(spec.metrics_port),
                "--data-dir", str(self.data_dir),
                "--flow", _flow_argument(c.flow)]
        if c.bind:
            args += ["--bind", c.bind]
        for net in c.allow:
            args += ["--allow", net]
        if c.max_calls is not None:
            args += ["--max-calls", str(c.max_calls)]
        if self.log_level:
            args += ["--log-level", str(self.log_level)]
        return args + list(c.extra_args)

    async def _spawn(self, state: WorkerState) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
        # secrets in the environment, not on the command line (/proc/*/cmdline is
        # readable by every local user): the phone secret and the Redis password
        env[REDIS_URL_ENV] = self.redis_url
        if self.phone_secret:
            env["HCP_PHONE_SECRET"] = self.phone_secret
        env.setdefault("PYTHONFAULTHANDLER", "1")  # a native crash leaves its stack in the log
        out = asyncio.subprocess.DEVNULL  # workers write nothing to stdout
        err = asyncio.subprocess.PIPE  # read by _relay into our log (see the docstring)
        if self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            err = open(self.log_dir / f"worker-{state.spec.name}.log", "ab")
        try:
            # own session: a terminal's Ctrl-C reaches only the gateway, which drains
            # the workers itself; the kernel SIGTERMs them if the gateway is killed
            self.data_dir.mkdir(parents=True, exist_ok=True)
            state.proc = await asyncio.create_subprocess_exec(
                *self.command(state.spec), cwd=self.data_dir, env=env, stdout=out, stderr=err,
                stdin=asyncio.subprocess.DEVNULL, start_new_session=True,
                preexec_fn=die_with_parent, limit=RELAY_LINE_LIMIT)
        finally:
            if err is not asyncio.subprocess.PIPE:
                err.close()  # the child has its own descriptor
        state.started_at = time.monotonic()
        if state.proc.stderr is not None:  # a dead worker's relay reads on to its EOF
            relay = asyncio.create_task(_relay(state.spec.name, state.proc.stderr),
                                        name=f"ivr-log-{state.spec.name}")
            self._relays.add(relay)
            relay.add_done_callback(self._relays.discard)
        log.info("ivr.worker.started", extra={"worker": state.spec.name,
                                              "pid": state.proc.pid})

    async def _wait_ready(self, state: WorkerState) -> None:
        deadline = time.monotonic() + self.ready_timeout_s
        while time.monotonic() < deadline:
            if state.proc is None or state.proc.returncode is not None:
                raise RuntimeError(f"ivr worker {state.spec.name} exited at start "
                                   f"(code {state.proc.returncode if state.proc else None})")
            if await sip_options_ping(self.config.host, state.spec.sip_port, timeout=0.5):
                return
            await asyncio.sleep(0.2)
        raise RuntimeError(f"ivr worker {state.spec.name} did not answer OPTIONS "
                           f"within {self.ready_timeout_s:g} s")

    async def _supervise(self, state: WorkerState) -> None:
        quick_deaths = 0
        while not self._stopping:
            code = await state.proc.wait()
            state.last_exit = code
            if self._stopping:
                return
            ran = time.monotonic() - state.started_at
            quick_deaths = 0 if ran >= self.config.stable_after_s else quick_deaths + 1
            delay = restart_delay(self.config, quick_deaths)
            state.restarts += 1
            state.active_calls = 0
            self.restarts_metric.labels(state.spec.name).inc()
            self.active_metric.labels(state.spec.name).set(0)
            log.warning("ivr.worker.died", extra={"worker": state.spec.name, "exit": code,
                                                  "ran_s": round(ran, 1),
                                                  "restart_in_s": round(delay, 1)})
            await asyncio.sleep(delay)
            if self._stopping:
                return
            try:
                await self._spawn(state)
            except OSError:
                log.exception("ivr.worker.spawn_failed", extra={"worker": state.spec.name})
                await asyncio.sleep(self.config.restart_backoff_max_s)

    # -- per-worker active calls -------------------------------------------------------
    async def _poll_active(self) -> None:
        import aiohttp
        from prometheus_client.parser import text_string_to_metric_families

        timeout = aiohttp.ClientTimeout(total=1.0)
        async with aiohttp.ClientSession(timeout=timeout) as http:
            while True:
                for state in self.workers:
                    url = f"http://127.0.0.1:{state.spec.metrics_port}/metrics"
                    try:
                        async with http.get(url) as resp:
                            text = await resp.text()
                    except (aiohttp.ClientError, asyncio.TimeoutError, OSError):
                        state.active_calls = None
                        continue
                    for family in text_string_to_metric_families(text):
                        if family.name == "hcp_ivr_active_calls":
                            state.active_calls = int(sum(s.value for s in family.samples))
                            self.active_metric.labels(state.spec.name).set(
                                state.active_calls)
                await asyncio.sleep(self.config.poll_s)

    def status(self) -> list[dict]:
        return [{"worker": s.spec.name, "sip_port": s.spec.sip_port,
                 "pid": s.proc.pid if s.proc else None,
                 "alive": bool(s.proc and s.proc.returncode is None),
                 "active_calls": s.active_calls, "restarts": s.restarts}
                for s in self.workers]

    def pids(self) -> dict[str, int]:
        return {s.spec.name: s.proc.pid for s in self.workers
                if s.proc and s.proc.returncode is None}

    # -- component ---------------------------------------------------------------
    async def start(self) -> None:
        self._stopping = False
        try:
            for state in self.workers:
                await self._spawn(state)
            await asyncio.gather(*(self._wait_ready(s) for s in self.workers))
        except BaseException:
            await self._kill_all()
            raise
        self._supervisors = [asyncio.create_task(self._supervise(s), name=f"ivr-sup-{s.spec.name}")
                             for s in self.workers]
        self._poller = asyncio.create_task(self._poll_active(), name="ivr-pool-poll")
        log.info("ivr.pool.ready", extra={"workers": len(self.workers),
                                          "sip_ports": [s.spec.sip_port for s in self.workers]})

    async def stop(self) -> None:
        """Drain: SIGTERM every worker (503 to new INVITEs, live calls finish)."""
        self._stopping = True
        if self._poller is not None:
            self._poller.cancel()
        live = [s.proc for s in self.workers if s.proc and s.proc.returncode is None]
        for proc in live:
            proc.send_signal(signal.SIGTERM)
        if live:
            log.info("ivr.pool.draining", extra={"workers": len(live)})
            done, pending = await asyncio.wait([asyncio.create_task(p.wait()) for p in live],
                                               timeout=self.config.drain_s)
            if pending:
                log.warning("ivr.pool.drain_timeout", extra={"killed": len(pending),
                                                             "drain_s": self.config.drain_s})
                await self._kill_all()
        for task in [*self._supervisors, self._poller]:
            await stop_task(task)
        self._supervisors, self._poller = [], None
        await self._end_relays()

    async def _kill_all(self) -> None:
        for state in self.workers:
            if state.proc and state.proc.returncode is None:
                state.proc.kill()
                await state.proc.wait()
        await self._end_relays()

    async def _end_relays(self) -> None:
        """The workers have exited: relay what is left in their pipes, then stop."""
        relays = set(self._relays)
        if relays:
            _done, pending = await asyncio.wait(relays, timeout=2.0)
            for task in pending:  # a grandchild holds the pipe open: stop reading
                task.cancel()
            await asyncio.gather(*relays, return_exceptions=True)


def make_component(ctx) -> IvrPool:
    """``hcp serve`` hook (gateway.components): the pool on the gateway's Redis.

    Also mounts ``GET /v1/ivr/workers`` (bearer auth): per worker its SIP port,
    pid, liveness, live calls and restarts.
    """
    from aiohttp import web

    pool = IvrPool(PoolConfig.from_config(ctx.config), ctx.redis_url, ctx.config.data_dir,
                   phone_secret=ctx.config.intake_phone_secret,
                   registry=ctx.metrics.registry, log_level=ctx.config.log_level)

    async def workers(_request):
        return web.json_response({"workers": pool.status()})

    if ctx.http_app is not None:
        ctx.http_app.router.add_get("/v1/ivr/workers", workers)
    return pool


def component_factories(config=None) -> list:
    """[make_component] when the config's ``ivr.workers`` (TOML ``[ivr] workers`` or
    ``HCP_IVR_WORKERS``) asks for a pool, else []. Without a loaded Config (the
    gateway builds its component list before handing it over) the environment
    decides, as it always did."""
    if config is None or isinstance(config, Mapping):
        return [make_component] if pool_enabled(config) else []
    return [make_component] if pool_enabled_in(config) else []
