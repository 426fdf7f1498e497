"""ratings.tasks.stop_task: a task that swallows its first cancellation still stops."""

from __future__ import annotations

import asyncio

from ratings.tasks import stop_task


async def test_a_task_that_swallows_a_cancel_is_stopped_all_the_same():
    async def stubborn():
        while True:  # as a loop whose Redis client swallowed the CancelledError
            try:
                await asyncio.sleep(0.05)
            except asyncio.CancelledError:
                pass
            await asyncio.Event().wait()  # then waits on something else for ever

    task = asyncio.create_task(stubborn())
    await asyncio.sleep(0.1)
    await asyncio.wait_for(stop_task(task, pause_s=0.1), 5)
    assert task.done()


async def test_none_and_finished_tasks_are_fine():
    await stop_task(None)
    done = asyncio.create_task(asyncio.sleep(0))
    await done
    await stop_task(done)
