"""Stopping a background task for sure.

``task.cancel()`` once is not enough: redis-py can swallow a CancelledError that
lands inside a command, and a loop that then goes on waiting (on a lock, a sleep, a
next command) would keep its stopper waiting for ever (seen: the SMS channel's stop
hanging in a test teardown under load). So cancel again until the task has ended,
with a pause between tries.
"""

from __future__ import annotations

import asyncio
import logging

log = logging.getLogger(__name__)


async def stop_task(task: asyncio.Task | None, pause_s: float = 1.0) -> None:
    """Cancel ``task`` and wait until it has ended, cancelling again as needed."""
    if task is None:
        return
    tries = 0
    while not task.done():
        task.cancel()
        tries += 1
        await asyncio.wait([task], timeout=pause_s)
    if tries > 1:
        log.warning("task %s needed %d cancellations to stop", task.get_name(), tries)
    if not task.cancelled() and task.exception() is not None:
        log.warning("task %s ended with %s", task.get_name(), type(task.exception()).__name__)
