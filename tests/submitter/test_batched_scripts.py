"""BatchedScripts (ratings.closing) against a real redis-server.

What the results hook relies on: concurrent script calls share pipelines (fewer
round trips than calls), each caller gets its own reply or its own error, a lost
script cache (SCRIPT FLUSH, a restart) is reloaded, and stopping the batcher
leaves nobody waiting forever.
"""

from __future__ import annotations

import asyncio
import contextlib

import pytest
import redis.asyncio as aioredis
import redis.exceptions

from adapters.redis_server import RedisServer
from ratings.closing import BatchedScripts
from tests.submitter.conftest import Running, enqueue, fast_submitter, make_ev, wait_for

# INCR a per-caller counter, answer "<argv>:<count>"; 'boom' makes Redis raise
# (HINCRBY on a string key is a WRONGTYPE error inside the script).
ECHO_LUA = """
if ARGV[1] == 'boom' then
  redis.call('SET', KEYS[1], 'x')
  return redis.call('HINCRBY', KEYS[1], 'f', 1)
end
local n = redis.call('INCR', KEYS[1])
return ARGV[1] .. ':' .. n
"""


SPIN_LUA = """
local t0 = redis.call('TIME')
local start = t0[1] * 1000000 + t0[2]
while true do
  local t = redis.call('TIME')
  if t[1] * 1000000 + t[2] - start > 300000 then return 1 end
end
"""


class CountingClient:
    """The real client, counting the pipelines BatchedScripts sends (one per round trip)."""

    def __init__(self, client):
        self.client = client
        self.pipelines = 0

    def pipeline(self, *a, **kw):
        self.pipelines += 1
        return self.client.pipeline(*a, **kw)

    def __getattr__(self, name):
        return getattr(self.client, name)


@contextlib.asynccontextmanager
async def running(batcher: BatchedScripts):
    task = asyncio.create_task(batcher.run())
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 5)


async def evalsha_calls(r) -> int:
    stats = await r.info("commandstats")
    return int(stats.get("cmdstat_evalsha", {}).get("calls", 0))


def text(reply) -> str:
    return reply.decode() if isinstance(reply, bytes) else reply


async def test_concurrent_calls_share_round_trips_each_its_own_reply(aredis):
    counting = CountingClient(aredis)
    batcher = BatchedScripts(counting)
    script = batcher.register_script(ECHO_LUA)
    await aredis.script_load(ECHO_LUA)  # steady state: the cache is warm
    n = 300
    before = await evalsha_calls(aredis)
    async with running(batcher):
        replies = await asyncio.wait_for(asyncio.gather(
            *(script(keys=[f"bs:{i}"], args=[f"c{i}"]) for i in range(n))), 10)
    assert [text(r) for r in replies] == [f"c{i}:1" for i in range(n)]
    # each call ran exactly once on the server...
    assert await evalsha_calls(aredis) - before == n
    for i in (0, n // 2, n - 1):
        assert await aredis.get(f"bs:{i}") == b"1"
    # ...but in far fewer round trips than calls
    assert 1 <= counting.pipelines < n // 10, counting.pipelines


async def test_a_failing_call_gets_its_error_the_others_their_replies(aredis):
    counting = CountingClient(aredis)
    batcher = BatchedScripts(counting)
    script = batcher.register_script(ECHO_LUA)
    await aredis.script_load(ECHO_LUA)  # no NOSCRIPT detour: one pipeline exactly
    argv = [f"c{i}" for i in range(20)]
    argv[7] = "boom"
    callers = [asyncio.create_task(script(keys=[f"bs:{i}"], args=[a]))
               for i, a in enumerate(argv)]
    await asyncio.sleep(0)  # all queued before the batcher runs: one batch
    async with running(batcher):
        results = await asyncio.wait_for(
            asyncio.gather(*callers, return_exceptions=True), 10)
    assert counting.pipelines == 1
    assert isinstance(results[7], redis.exceptions.ResponseError), results[7]
    assert "WRONGTYPE" in str(results[7])
    others = [text(r) for i, r in enumerate(results) if i != 7]
    assert others == [f"{a}:1" for i, a in enumerate(argv) if i != 7]


async def test_calls_after_script_flush_still_succeed(aredis):
    batcher = BatchedScripts(aredis)
    script = batcher.register_script(ECHO_LUA)
    async with running(batcher):
        assert text(await asyncio.wait_for(script(keys=["bs:a"], args=["x"]), 5)) == "x:1"
        await aredis.script_flush()
        assert await aredis.script_exists(script.sha) == [False]
        replies = await asyncio.wait_for(asyncio.gather(
            *(script(keys=[f"bs:f{i}"], args=[f"f{i}"]) for i in range(30))), 10)
    assert [text(r) for r in replies] == [f"f{i}:1" for i in range(30)]
    assert await aredis.script_exists(script.sha) == [True]  # reloaded by the fallback


async def test_redis_restart_fails_the_batch_then_calls_succeed(tmp_path):
    server = RedisServer(tmp_path / "redis", aof=False).start()
    client = aioredis.Redis.from_url(server.url, retry_on_error=[])
    try:
        batcher = BatchedScripts(client)
        script = batcher.register_script(ECHO_LUA)
        async with running(batcher):
            assert text(await asyncio.wait_for(script(keys=["k"], args=["a"]), 5)) == "a:1"
            server.stop()
            down = await asyncio.wait_for(asyncio.gather(
                *(script(keys=[f"k{i}"], args=["b"]) for i in range(5)),
                return_exceptions=True), 10)
            assert all(isinstance(e, (redis.exceptions.ConnectionError, OSError))
                       for e in down), down
            server.start()  # same port, empty script cache (no AOF, new process)
            replies = await asyncio.wait_for(asyncio.gather(
                *(script(keys=[f"k{i}"], args=["c"]) for i in range(5))), 10)
            assert [text(r) for r in replies] == ["c:1"] * 5
    finally:
        await client.aclose()
        server.stop()


# Cancelling ``run`` fails the futures it holds (queued, or in a pipeline that was in
# flight) with a connection error, which a caller treats like Redis going away.
@pytest.mark.parametrize("in_flight", [False, True], ids=["queued", "in-flight"])
async def test_stopping_the_batcher_leaves_no_caller_hanging(aredis, in_flight):
    batcher = BatchedScripts(aredis)
    # in flight: the batch is busy on the server (a script spinning 0.3 s) when the
    # batcher is cancelled; queued: the batcher is cancelled before sending it
    slow = SPIN_LUA if in_flight else "return 1"
    script = batcher.register_script(slow)
    await aredis.script_load(slow)
    task = asyncio.create_task(batcher.run())
    callers = [asyncio.create_task(script(keys=[], args=[])) for _ in range(3)]
    await asyncio.sleep(0.1 if in_flight else 0)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.wait_for(task, 5)
    done, pending = await asyncio.wait(callers, timeout=3)
    for c in pending:
        c.cancel()
    assert not pending, f"{len(pending)} callers still waiting after the batcher stopped"
    for c in done:
        assert isinstance(c.exception(), redis.exceptions.ConnectionError)


async def test_submitter_stop_with_hook_calls_in_flight_ends(aredis, store, http_store):
    """Through the submitter: stop while hook calls wait in the batcher ends run, bounded."""
    calls, answered = [], []

    async def spinning_hook(r, ev):
        assert isinstance(r, BatchedScripts)  # the hook is handed the batcher
        calls.append(ev.id)
        await r.register_script(SPIN_LUA)(keys=[], args=[])
        answered.append(ev.id)

    evs = [make_ev(f"P{i}") for i in range(3)]
    for ev in evs:
        await enqueue(aredis, ev)
    store.slow_next(3, 2.0)
    sub = fast_submitter(aredis, http_store, results_hook=spinning_hook)
    runner = Running(sub)
    await runner.__aenter__()
    try:
        await wait_for(lambda: len(calls) == 3, timeout=10)
        assert len(answered) < 3  # some calls still wait in the batcher when stop comes
        await asyncio.wait_for(sub.stop(timeout=0.05), 10)  # a hang fails here
        await asyncio.wait_for(runner.task, 10)
        assert sub.in_flight == 0
    finally:
        if not runner.task.done():
            runner.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await runner.task
