"""Random sequences across channels, items, batches, themes, staff and follow-ups.

Hypothesis draws a small world (items, batches and themes over those items, staff
visits) and a sequence of evaluations, clock ticks and replays. The pure model in
rules_model.py says accept or refuse; the real intake on redis-server must agree
on every step, and the outbox must hold exactly the accepted evaluations.
"""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import redis.asyncio as aioredis
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from ratings import keys
from ratings.intake import Intake
from ratings.model import Channel
from tests.intake.helpers import WINDOW, Clock, make_ev
from tests.intake.rules_model import RulesModel

ITEMS = [f"P{i}" for i in range(6)]
TICKS = [timedelta(0), timedelta(hours=1), timedelta(days=7), WINDOW,
         WINDOW + timedelta(milliseconds=1)]


@st.composite
def worlds(draw):
    groups = st.lists(st.sampled_from(ITEMS), min_size=2, max_size=4, unique=True)
    batches = {f"B{i}": tuple(draw(groups)) for i in range(2)}
    themes = {f"T{i}": tuple(draw(groups)) for i in range(2)}
    step = st.one_of(
        st.tuples(st.just("ev"),
                  st.sampled_from(["item", "item", "batch", "theme", "staff"]),
                  st.integers(0, 5), st.sampled_from([1, 1, 2]),
                  st.sampled_from(list(Channel))),
        st.tuples(st.just("tick"), st.sampled_from(TICKS)),
        st.tuples(st.just("replay"), st.integers(0, 100)),
    )
    return batches, themes, draw(st.lists(step, min_size=1, max_size=40))


def build(step, batches, themes):
    _, kind, n, assess, channel = step
    if kind == "item":
        return make_ev("item", ITEMS[n], assess=assess, channel=channel)
    if kind == "batch":
        bid = f"B{n % 2}"
        return make_ev("batch", bid, batches[bid], assess=assess, channel=channel)
    if kind == "theme":
        tid = f"T{n % 2}"
        return make_ev("theme", tid, themes[tid], assess=assess, channel=channel)
    return make_ev("staff", f"V{n % 2}", staff=f"S{n // 3}", assess=assess, channel=channel)


async def run(url: str, world) -> None:
    batches, themes, steps = world
    client = aioredis.Redis.from_url(url)
    try:
        await client.flushall()
        clock = Clock()
        intake = Intake(client, b"s", follow_up_window=WINDOW, clock=clock)
        model = RulesModel(window_ms=int(WINDOW.total_seconds() * 1000))
        sent = []
        for step in steps:
            if step[0] == "tick":
                clock.advance(step[1])
                continue
            if step[0] == "replay":
                if not sent:
                    continue
                ev = sent[step[1] % len(sent)]
            else:
                ev = build(step, batches, themes)
                sent.append(ev)
            expected = model.decide(ev, int(clock.now.timestamp() * 1000))
            got = await intake.accept(ev)
            assert (got.accepted, got.reason, got.evaluation_id) == \
                (expected.accepted, expected.reason, expected.evaluation_id), (ev, expected)
            if expected.new:
                assert (await intake.status(ev.id))["covers"] == expected.covers
        entries = await client.xrange(keys.OUTBOX) if model.outbox else []
        assert [(f[b"id"].decode(), json.loads(f[b"covers"])) for _, f in entries] == \
            model.outbox
        assert len(await client.keys(keys.evaluation("*"))) == len(model.outbox)
        for item in ITEMS:
            assert await intake.is_evaluated(item) == (("item", item) in model.holders)
    finally:
        await client.aclose()


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(world=worlds())
@example(world=({"B0": ("P0", "P1"), "B1": ("P2", "P3")}, {"T0": ("P1", "P4"), "T1": ("P5", "P0")},
                [("ev", "item", 0, 1, Channel.SMS), ("tick", WINDOW),
                 ("ev", "item", 0, 2, Channel.HOTLINE), ("ev", "batch", 1, 1, Channel.SMS),
                 ("tick", WINDOW + timedelta(milliseconds=1)),
                 ("ev", "batch", 1, 2, Channel.SMS), ("ev", "theme", 0, 1, Channel.API),
                 ("ev", "theme", 0, 2, Channel.SMS), ("replay", 0)]))
def test_intake_agrees_with_the_rules_model(redis_server, world):
    asyncio.run(run(redis_server.url, world))
