"""Components of the running process and the hook for adding more.

A component is anything with ``name``, ``async start()`` and ``async stop()``.
``Components`` starts them in order and stops them in reverse order, so what
starts last (the HTTP listener) stops first: new work stops arriving before the
submitter drains and before Redis goes away. If a start fails, the ones already
started are stopped again.

Hook for the other parts of the gateway (IVR worker pool, SMS reminder
scheduler, supervisor console): write a factory ``make(ctx: Context) ->
Component`` and add it to ``EXTRA_COMPONENTS`` (or pass ``extra=[...]`` to
``gateway.serve.Gateway``). Extras start after the submitter and before the
HTTP API, and stop before the submitter drains; through ``ctx`` they get the
config, the shared Redis client, the (metered) intake, the core store, the
metrics registry and the HTTP app (to mount routes on). Example::

    # in gateway/serve.py or at the lead's wiring point
    EXTRA_COMPONENTS.append(lambda ctx: IvrPool(ctx.config, ctx.intake))
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Protocol

log = logging.getLogger(__name__)


class Component(Protocol):
    name: str

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


@dataclass
class Context:
    """What the process built and hands to every extra component."""

    config: Any  # gateway.config.Config, with secrets filled in
    # redis.asyncio.Redis shared by the process. It retries a command (up to 3
    # times) when its connection breaks, so a command may run twice if Redis
    # executed it and the reply was lost: use idempotent commands or scripts, or
    # open a client of your own from redis_url.
    redis: Any
    redis_url: str
    intake: Any  # gateway.metrics.MeteredIntake (ratings.intake.Intake API)
    store: Any  # ratings.store.CoreStore
    metrics: Any  # gateway.metrics.Metrics
    # The API's aiohttp Application, not yet started: an extra may add its own
    # routes or a sub-app (``http_app.add_subapp("/console/", app)``) while it is
    # built, i.e. in the factory or in start(). Bearer auth covers /v1 only.
    http_app: Any = None
    # Call with the exception if a background task of the component dies on its
    # own: the process stops gracefully and exits 1, for a supervisor to restart.
    fail: Callable[[BaseException], None] | None = None
    # Builds a connection pool for redis_url, like BlockingConnectionPool.from_url(url,
    # **kwargs) but also for a redis+sentinel:// URL (gateway.redis_connect): for a
    # component that opens a client of its own. None: use from_url (no sentinel).
    redis_pool: Callable[..., Any] | None = None


ComponentFactory = Callable[[Context], Component]

# Factories the process adds between the submitter and the HTTP API (see above).
EXTRA_COMPONENTS: list[ComponentFactory] = []


class Hook:
    """A component from two coroutine functions, for the small cases."""

    def __init__(self, name: str, start: Callable[[], Awaitable[None]] | None = None,
                 stop: Callable[[], Awaitable[None]] | None = None):
        self.name = name
        self._start = start
        self._stop = stop

    async def start(self) -> None:
        if self._start:
            await self._start()

    async def stop(self) -> None:
        if self._stop:
            await self._stop()


class Components:
    def __init__(self):
        self._started: list[Component] = []

    @property
    def names(self) -> list[str]:
        return [c.name for c in self._started]

    async def start(self, component: Component) -> Component:
        log.info("component.starting", extra={"component": component.name})
        try:
            await component.start()
        except BaseException:
            log.exception("component.start_failed", extra={"component": component.name})
            await self.stop_all()
            raise
        self._started.append(component)
        log.info("component.started", extra={"component": component.name})
        return component

    async def stop_all(self) -> None:
        """Reverse order; one failing stop does not keep the others running."""
        while self._started:
            component = self._started.pop()
            try:
                await component.stop()
                log.info("component.stopped", extra={"component": component.name})
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("component.stop_failed", extra={"component": component.name})
