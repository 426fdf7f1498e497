"""The submitter as a component of the process: ``run()`` in a task, drained on stop."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from gateway.config import Config
from gateway.metrics import Metrics
from ratings.submitter import Submitter, default_consumer_name

log = logging.getLogger(__name__)


class SubmitterComponent:
    name = "submitter"

    def __init__(self, redis, store, config: Config, metrics: Metrics):
        self.config = config
        self.submitter = Submitter(
            redis, store, consumer=default_consumer_name(),
            concurrency=config.submitter_concurrency,
            claim_idle=timedelta(seconds=config.submitter_claim_idle_s))
        metrics.watch_submitter(self.submitter)
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self.submitter.run(), name="submitter")
        await asyncio.sleep(0)  # let it begin, so a failure at once is seen below
        if self._task.done():
            self._task.result()

    async def stop(self) -> None:
        if self._task is None:
            return
        timeout = self.config.shutdown_drain_timeout_s
        in_flight = self.submitter.in_flight
        if not self._task.done():
            await self.submitter.stop(timeout=timeout)
        try:
            await asyncio.wait_for(self._task, timeout=5)
        except asyncio.TimeoutError:
            self._task.cancel()
        log.info("submitter.drained", extra={"in_flight_at_stop": in_flight,
                                             "left_pending": self.submitter.in_flight,
                                             "counts": dict(self.submitter.counts)})
        self._task = None
