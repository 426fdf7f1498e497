"""The console's results hook through the submitter's batcher (issue 16): the calls of
evaluations that open no case are folded into one EVALSHA per batch (a merged
script, ``ratings.closing.merge_calls``). Against a real redis-server: the same
Redis state as one full script call each, exactly once under re-delivery, one
command for a batch, the script cache lost and reloaded, errors to every caller."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime, timedelta, timezone

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ratings import results
from ratings.closing import BatchedScripts, merge_calls
from ratings.grades import Grade
from ratings.model import Channel, Evaluation, Target, TargetKind
from tests.submitter.test_batched_scripts import CountingClient, evalsha_calls

T0 = datetime(2026, 11, 27, 15, 59, 59, tzinfo=timezone.utc)  # 23:59:59 in China


def ev(i: int, grade: Grade = Grade.SATISFIED, channel: Channel = Channel.HOTLINE,
       assess: int = 1, at: datetime = T0, ctx: dict | None = None) -> Evaluation:
    bad = grade.is_bad
    return Evaluation(target=Target(TargetKind.ITEM, f"P{i}"), channel=channel, grade=grade,
                      assessed_at=at, reasons=("R01",) if bad else (),
                      comment="太慢" if bad else "", assess_number=assess,
                      context=ctx if ctx is not None else {"task_code": f"T{i % 3}"})


@contextlib.asynccontextmanager
async def batcher_of(client):
    batcher = BatchedScripts(client)
    task = asyncio.create_task(batcher.run())
    try:
        yield batcher
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 5)


async def results_state(r) -> dict:
    state = {}
    for key in sorted(await r.keys("{hcp}:res:*") + await r.keys("{hcp}:case*")):
        kind = (await r.type(key)).decode()
        value = await r.hgetall(key) if kind == "hash" else \
            await r.zrange(key, 0, -1) if kind == "zset" else await r.lrange(key, 0, -1)
        ttl = await r.ttl(key)
        state[key] = (value, ttl > 0)
    return state


def test_merge_calls_declares_each_key_once():
    merged_keys, argv = merge_calls([(["s:1", "d:1"], ["a", "x", "y"]),
                                     (["s:2", "d:2"], ["b"]),
                                     (["s:1", "d:1"], ["c", "z"])])
    assert merged_keys == ["s:1", "d:1", "s:2", "d:2"]
    assert argv == [2, 1, 2, 3, "a", "x", "y", 2, 3, 4, 1, "b", 2, 1, 2, 2, "c", "z"]


async def test_a_batch_of_counts_is_one_evalsha_and_counts_each_once(aredis):
    counting = CountingClient(aredis)
    evs = [ev(i, grade=(Grade.VERY_SATISFIED, Grade.SATISFIED, Grade.BASICALLY_SATISFIED)[i % 3],
              channel=list(Channel)[i % 3], at=T0 + timedelta(seconds=i % 2))  # two days
           for i in range(200)]
    async with batcher_of(counting) as batcher:
        # warm the script cache: the steady state has no NOSCRIPT detour
        assert await results.record_accepted(batcher, ev(999))
        before, pipes = await evalsha_calls(aredis), counting.pipelines
        calls = [asyncio.create_task(results.record_accepted(batcher, e)) for e in evs]
        await asyncio.sleep(0)  # all queued before the batcher's next round: one batch
        assert all(await asyncio.wait_for(asyncio.gather(*calls), 10))
        assert await evalsha_calls(aredis) - before == 1  # 200 evaluations, one command
        assert counting.pipelines - pipes == 1
        # re-delivered, all of them: nothing counted twice
        again = await asyncio.wait_for(asyncio.gather(
            *(results.record_accepted(batcher, e) for e in evs)), 10)
        assert not any(again)
    r = await results.load_results(aredis, T0.date(), (T0 + timedelta(days=1)).date())
    assert sum(r.total.values()) == 201
    assert r.by_channel["hotline"]["very_satisfied"] == 67  # i % 3 == 0


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.sampled_from(list(Grade)), st.sampled_from(list(Channel)),
                          st.sampled_from([1, 1, 2]), st.integers(0, 3),
                          st.sampled_from([{}, {"task_code": "T"}, {"agent": "S1"},
                                           {"service": "V", "agent": "S2"}])),
                min_size=1, max_size=30))
def test_batched_and_direct_calls_leave_the_same_state(redis_url, grades):
    """The merged script (and the full script for bad grades) through the batcher
    writes what one full script call per evaluation writes, re-deliveries included."""
    import redis.asyncio as aioredis

    evs = [ev(i, g, c, a, T0 + timedelta(hours=h), ctx)
           for i, (g, c, a, h, ctx) in enumerate(grades)]
    evs += evs[::3]  # re-deliveries

    async def state_after(batched: bool) -> tuple[dict, list]:
        r = aioredis.Redis.from_url(redis_url)
        try:
            await r.flushdb()
            if batched:
                async with batcher_of(r) as batcher:
                    answers = []
                    for e in evs:  # in order: a re-delivery after its first delivery
                        answers.append(await asyncio.wait_for(
                            results.record_accepted(batcher, e, T0), 10))
            else:
                answers = [await results.record_accepted(r, e, T0) for e in evs]
            return await results_state(r), answers
        finally:
            await r.aclose()

    async def both():
        return await state_after(False), await state_after(True)

    direct, batched = asyncio.run(both())
    assert batched == direct


async def test_counts_survive_a_script_flush(aredis):
    async with batcher_of(aredis) as batcher:
        assert await results.record_accepted(batcher, ev(1))
        await aredis.script_flush()
        answers = await asyncio.wait_for(asyncio.gather(
            *(results.record_accepted(batcher, ev(i)) for i in range(2, 30))), 10)
        assert all(answers)
    r = await results.load_results(aredis, T0.date(), T0.date())
    assert sum(r.total.values()) == 29


async def test_a_failed_batch_fails_every_merged_caller(aredis):
    async with batcher_of(aredis) as batcher:
        assert await results.record_accepted(batcher, ev(1))
        # the day hash of the next evaluations' day is not a hash: the script fails
        await aredis.set(results.day(results.local_day(ev(2))), "x")
        calls = [asyncio.create_task(results.record_accepted(batcher, ev(i)))
                 for i in range(2, 6)]
        outcome = await asyncio.wait_for(asyncio.gather(*calls, return_exceptions=True), 10)
    # record_accepted logs and swallows what is not an outage: every caller answered
    assert outcome == [False] * 4
