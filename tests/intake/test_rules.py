"""One test per rule of seed art. 14, against the real redis-server."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from ratings import keys
from ratings.intake import MESSAGES
from ratings.model import Channel, InvalidEvaluation
from tests.intake.helpers import WINDOW, make_ev


async def outbox(aredis) -> list[dict]:
    entries = await aredis.xrange(keys.OUTBOX) if await aredis.exists(keys.OUTBOX) else []
    return [{k.decode(): v.decode() for k, v in fields.items()} for _, fields in entries]


async def snapshot(aredis) -> dict:
    """Every key with its type and content: to show that a refusal wrote nothing."""
    state = {}
    for key in await aredis.keys("*"):
        kind = (await aredis.type(key)).decode()
        if kind == "string":
            state[key] = await aredis.get(key)
        elif kind == "hash":
            state[key] = await aredis.hgetall(key)
        elif kind == "stream":
            state[key] = await aredis.xrange(key)
    return state


async def test_first_evaluation_accepted_with_status_and_outbox(intake, aredis):
    ev = make_ev(target_id="P1")
    result = await intake.accept(ev)
    assert result.accepted and result.reason is None and result.evaluation_id == ev.id
    assert result.message == MESSAGES[None]
    status = await intake.status(ev.id)
    assert status["status"] == "accepted" and status["attempts"] == 0
    assert status["evaluation"] == ev.to_dict() and status["covers"] == ["P1"]
    assert status["accepted_at"] == "2026-11-27T10:00:00+00:00"
    assert status["submitted_at"] is None and status["last_error"] is None
    [entry] = await outbox(aredis)
    assert entry["id"] == ev.id and json.loads(entry["covers"]) == ["P1"]
    assert json.loads(entry["ev"]) == ev.to_dict()
    assert await intake.is_evaluated("P1") and not await intake.is_evaluated("P2")


async def test_one_first_evaluation_per_item_across_channels(intake, aredis):
    first = await intake.accept(make_ev(target_id="P1", channel=Channel.HOTLINE))
    before = await snapshot(aredis)
    second = make_ev(target_id="P1", channel=Channel.SMS)
    result = await intake.accept(second)
    assert not result.accepted and result.reason == "already_evaluated"
    assert result.evaluation_id == first.evaluation_id
    assert result.message == MESSAGES["already_evaluated"]
    assert await snapshot(aredis) == before  # a refusal writes nothing
    assert await intake.status(second.id) is None


async def test_replay_of_the_same_evaluation_is_accepted_once(intake, aredis):
    ev = make_ev(target_id="P1")
    await intake.accept(ev)
    again = await intake.accept(ev)
    assert again.accepted and again.evaluation_id == ev.id
    assert len(await outbox(aredis)) == 1


async def test_staff_once_per_visit_independent_of_item(intake):
    assert (await intake.accept(make_ev(target_id="P1"))).accepted
    assert (await intake.accept(make_ev("staff", "V1", staff="S1"))).accepted
    assert (await intake.accept(make_ev("staff", "V1", staff="S2"))).accepted
    assert (await intake.accept(make_ev("staff", "V2", staff="S1"))).accepted
    again = await intake.accept(make_ev("staff", "V1", staff="S1", channel=Channel.HOTLINE))
    assert again.reason == "already_evaluated"
    # a staff rating is not an item rating
    assert not await intake.is_evaluated("V1")


async def test_staff_key_is_unambiguous(intake):
    """A visit id may hold ':'; a staff id may not (its projectNo "staff:<staff>:<visit>"
    would be ambiguous), so ("a:b", "c") and ("a", "b:c") cannot both exist."""
    assert (await intake.accept(make_ev("staff", "a:b", staff="c"))).accepted
    assert (await intake.accept(make_ev("staff", "a", staff="b"))).accepted
    with pytest.raises(InvalidEvaluation) as err:
        make_ev("staff", "a", staff="b:c")
    assert err.value.field == "target.staff_id"


async def test_a_call_is_rated_on_its_own_not_as_the_item(intake, aredis):
    """一次一评: a call about ticket P1 leaves the item's one evaluation (and so its
    reminder, which asks is_evaluated) alone; a second call about P1 is rated too."""
    first = make_ev("call", "HL-1")
    assert (await intake.accept(first)).accepted
    assert await aredis.get(keys.call("HL-1")) == first.id.encode()
    assert not await intake.is_evaluated("P1") and not await intake.is_evaluated("HL-1")
    assert (await intake.accept(make_ev("call", "HL-2"))).accepted
    again = await intake.accept(make_ev("call", "HL-1"))
    assert again.reason == "already_evaluated" and again.evaluation_id == first.id
    item = make_ev("item", "P1")
    assert (await intake.accept(item)).accepted
    assert (await intake.accept(make_ev("item", "HL-1"))).accepted  # an item id is not a call
    [*_, entry] = await outbox(aredis)
    assert json.loads(entry["covers"]) == ["HL-1"]
    follow = make_ev("call", "HL-1", assess=2)
    assert (await intake.accept(follow)).accepted
    assert (await intake.accept(make_ev("call", "HL-1", assess=2))).reason == \
        "follow_up_already_given"


async def test_batch_claims_batch_and_every_item(intake, aredis):
    batch = make_ev("batch", "B1", items=("P1", "P2", "P3"))
    assert (await intake.accept(batch)).accepted
    for item in ("P1", "P2", "P3"):
        assert await intake.is_evaluated(item)
        refused = await intake.accept(make_ev(target_id=item))
        assert refused.reason == "already_evaluated" and refused.evaluation_id == batch.id
    again = await intake.accept(make_ev("batch", "B1", items=("P1", "P2", "P3")))
    assert again.reason == "already_evaluated"
    [entry] = await outbox(aredis)
    assert json.loads(entry["covers"]) == ["P1", "P2", "P3"]


async def test_batch_overlapping_a_rated_item_is_refused_whole(intake, aredis):
    single = await intake.accept(make_ev(target_id="P2"))
    before = await snapshot(aredis)
    result = await intake.accept(make_ev("batch", "B1", items=("P1", "P2", "P3")))
    assert not result.accepted and result.reason == "already_evaluated"
    assert result.evaluation_id == single.evaluation_id
    assert await snapshot(aredis) == before
    assert not await intake.is_evaluated("P1") and not await intake.is_evaluated("P3")


async def test_theme_covers_only_items_not_rated_on_their_own(intake, aredis):
    await intake.accept(make_ev(target_id="P2"))
    theme = make_ev("theme", "T1", items=("P1", "P2", "P3"))
    assert (await intake.accept(theme)).accepted
    assert (await intake.status(theme.id))["covers"] == ["P1", "P3"]
    entry = (await outbox(aredis))[-1]
    assert entry["id"] == theme.id and json.loads(entry["covers"]) == ["P1", "P3"]
    # an item rated after its theme is refused: the theme already covers it
    later = await intake.accept(make_ev(target_id="P3"))
    assert later.reason == "already_evaluated" and later.evaluation_id == theme.id
    assert (await intake.accept(make_ev("theme", "T1", items=("P1", "P2", "P3")))).reason \
        == "already_evaluated"


async def test_theme_whose_items_are_all_rated_is_refused(intake, aredis):
    await intake.accept(make_ev("batch", "B1", items=("P1", "P2")))
    before = await snapshot(aredis)
    result = await intake.accept(make_ev("theme", "T1", items=("P1", "P2")))
    assert result.reason == "already_evaluated"
    assert await snapshot(aredis) == before


async def test_follow_up_once_inside_the_window(intake, clock, aredis):
    first = make_ev(target_id="P1")
    await intake.accept(first)
    clock.advance(WINDOW)  # the window is inclusive
    follow = make_ev(target_id="P1", assess=2)
    result = await intake.accept(follow)
    assert result.accepted and result.evaluation_id == follow.id
    assert (await intake.status(follow.id))["evaluation"]["assess_number"] == 2
    again = await intake.accept(make_ev(target_id="P1", assess=2))
    assert again.reason == "follow_up_already_given" and again.evaluation_id == follow.id
    assert again.message == MESSAGES["follow_up_already_given"]
    assert [e["id"] for e in await outbox(aredis)] == [first.id, follow.id]


async def test_follow_up_after_the_window_is_refused(intake, clock, aredis):
    first = await intake.accept(make_ev(target_id="P1"))
    clock.advance(WINDOW + timedelta(milliseconds=1))
    before = await snapshot(aredis)
    result = await intake.accept(make_ev(target_id="P1", assess=2))
    assert result.reason == "follow_up_window_closed"
    assert result.evaluation_id == first.evaluation_id
    assert await snapshot(aredis) == before


async def test_follow_up_needs_a_first_evaluation(intake, aredis):
    result = await intake.accept(make_ev(target_id="P9", assess=2))
    assert result.reason == "no_first_evaluation"
    assert result.message == MESSAGES["no_first_evaluation"]
    assert await aredis.dbsize() == 0


async def test_follow_up_of_a_batch_covers_its_items(intake, aredis):
    await intake.accept(make_ev("batch", "B1", items=("P1", "P2")))
    follow = make_ev("batch", "B1", items=("P1", "P2"), assess=2)
    assert (await intake.accept(follow)).accepted
    assert (await intake.status(follow.id))["covers"] == ["P1", "P2"]
    # the batch evaluation has had its one follow-up, whichever target names it
    assert (await intake.accept(make_ev(target_id="P1", assess=2))).reason \
        == "follow_up_already_given"


async def test_follow_up_of_a_theme_covers_what_the_theme_covered(intake):
    await intake.accept(make_ev(target_id="P1"))
    await intake.accept(make_ev("theme", "T1", items=("P1", "P2")))
    follow = make_ev("theme", "T1", items=("P1", "P2"), assess=2)
    assert (await intake.accept(follow)).accepted
    assert (await intake.status(follow.id))["covers"] == ["P2"]
    # P1 was rated on its own: its own follow-up is still open
    assert (await intake.accept(make_ev(target_id="P1", assess=2))).accepted


async def test_follow_up_of_a_staff_rating(intake):
    await intake.accept(make_ev("staff", "V1", staff="S1"))
    assert (await intake.accept(make_ev("staff", "V1", staff="S1", assess=2))).accepted
    assert (await intake.accept(make_ev("staff", "V1", staff="S2", assess=2))).reason \
        == "no_first_evaluation"


async def test_status_of_unknown_evaluation_is_none(intake):
    assert await intake.status("nope") is None


async def test_outbox_group_exists_for_the_submitter(intake, aredis):
    await keys.ensure_outbox_group(aredis)  # before the first accept: creates it
    await keys.ensure_outbox_group(aredis)  # idempotent
    ev = make_ev(target_id="P1")
    await intake.accept(ev)
    groups = await aredis.xinfo_groups(keys.OUTBOX)
    assert [g["name"] for g in groups] == [keys.OUTBOX_GROUP.encode()]
    read = await aredis.xreadgroup(keys.OUTBOX_GROUP, "c1", {keys.OUTBOX: ">"})
    [(_, [(_, fields)])] = read
    assert fields[b"id"] == ev.id.encode()


async def test_the_script_creates_the_group_when_no_one_else_did(intake, aredis):
    await intake.accept(make_ev(target_id="P1"))
    read = await aredis.xreadgroup(keys.OUTBOX_GROUP, "c1", {keys.OUTBOX: ">"})
    assert len(read[0][1]) == 1


async def test_works_with_decoded_responses(redis_url, clock):
    import redis.asyncio as aioredis

    from ratings.intake import Intake

    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    try:
        intake = Intake(client, b"s", clock=clock)
        ev = make_ev(target_id="P1")
        assert (await intake.accept(ev)).accepted
        assert (await intake.accept(make_ev(target_id="P1"))).evaluation_id == ev.id
        assert (await intake.status(ev.id))["covers"] == ["P1"]
    finally:
        await client.aclose()


async def test_an_evaluation_id_is_used_once(intake, aredis):
    first = make_ev(target_id="P1")
    await intake.accept(first)
    before = await snapshot(aredis)
    reused = make_ev(target_id="P2").with_id(first.id)
    result = await intake.accept(reused)
    assert result.reason == "already_evaluated" and result.evaluation_id == first.id
    follow = make_ev(target_id="P1", assess=2).with_id(first.id)
    assert (await intake.accept(follow)).reason == "already_evaluated"
    assert await snapshot(aredis) == before
    assert not await intake.is_evaluated("P2")


async def test_status_passes_through_fields_the_submitter_adds(intake, aredis):
    ev = make_ev(target_id="P1")
    await intake.accept(ev)
    await aredis.hset(keys.evaluation(ev.id), mapping={
        "status": "dead", "attempts": 3, "last_error": "bad taskCode",
        "store_reason": "unknown taskCode"})
    status = await intake.status(ev.id)
    assert status["status"] == "dead" and status["attempts"] == 3
    assert status["last_error"] == "bad taskCode"
    assert status["store_reason"] == "unknown taskCode"
    assert "ev" not in status and status["evaluation"]["id"] == ev.id
