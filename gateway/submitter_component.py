"""The submitter as a component of the process: ``run()`` in a task, drained on stop."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from gateway.config import Config
from gateway.metrics import Metrics
from ratings.submitter import Submitter, default_consumer_name
from ratings.tasks import stop_task

log = logging.getLogger(__name__)


class SubmitterComponent:
    name = "submitter"

    def __init__(self, redis, store, config: Config, metrics: Metrics, on_crash=None):
        self.config = config
        self.on_crash = on_crash  # called with the exception if run() dies on its own
        self.submitter = Submitter(
            redis, store, consumer=default_consumer_name(),
            concurrency=config.submitter_concurrency,
            claim_idle=timedelta(seconds=config.submitter_claim_idle_s),
            max_failed_deliveries=config.submitter_max_failed_deliveries)
        metrics.watch_submitter(self.submitter)
        self._task: asyncio.Task | None = None
        self._stopping = False

    async def start(self) -> None:
        self._task = asyncio.create_task(self.submitter.run(), name="submitter")
        self._task.add_done_callback(self._ended)
        await asyncio.sleep(0)  # let it begin, so a failure at once is seen below
        if self._task.done():
            self._task.result()

    def _ended(self, task: asyncio.Task) -> None:
        """run() returned or raised although nobody asked it to stop: nothing is
        being submitted any more, so the process must not go on as if it were."""
        if self._stopping or task.cancelled():
            return
        exc = task.exception() or RuntimeError("submitter stopped on its own")
        log.error("submitter.crashed", exc_info=exc)
        if self.on_crash is not None:
            self.on_crash(exc)

    async def stop(self) -> None:
        if self._task is None:
            return
        self._stopping = True
        timeout = self.config.shutdown_drain_timeout_s
        in_flight = self.submitter.in_flight
        try:
            if not self._task.done():
                # bounded: a shutdown must end even if Redis never answers again
                await asyncio.wait_for(self.submitter.stop(timeout=timeout), timeout + 5)
            await asyncio.wait_for(self._task, timeout=5)
        except asyncio.TimeoutError:
            await stop_task(self._task)
            log.warning("submitter.stop_timeout", extra={"left_pending": self.submitter.in_flight})
        log.info("submitter.drained", extra={"in_flight_at_stop": in_flight,
                                             "left_pending": self.submitter.in_flight,
                                             "counts": dict(self.submitter.counts)})
        self._task = None
