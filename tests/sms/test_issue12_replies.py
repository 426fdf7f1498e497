"""Issue 12 through a conversation (real Redis, the real intake, the shipped flow, the file
carrier): a grade with an opt-out is recorded and then the number opts out; a sentence
about something else is no opt-out; reported pressure is flagged, never graded."""

from __future__ import annotations

from sms import keys
from sms.status_api import flagged_replies

from .conftest import PHONE
from .test_conversation import remind, world  # noqa: F401  (fixture)


async def test_grade_then_opt_out(world):  # noqa: F811
    await remind(world, "ITEM-1")
    outcome = await world.reply("满意 TD")
    assert outcome.endswith("+opted_out"), outcome
    assert (await world.evaluation("ITEM-1"))["grade"] == "satisfied"
    assert await world.optouts.is_opted_out(PHONE)
    assert "不再发送" in world.texts()[-1]


async def test_a_bad_grade_about_the_future_is_no_opt_out(world):  # noqa: F811
    await remind(world, "ITEM-1")
    await world.reply("5 以后别再发生这种事")
    ev = await world.evaluation("ITEM-1")
    assert ev["grade"] == "very_dissatisfied" and "别再发生" in ev["comment"]
    assert not await world.optouts.is_opted_out(PHONE)


async def test_reported_pressure_is_flagged_and_asked_again(world):  # noqa: F811
    await remind(world, "ITEM-1")
    await world.reply("窗口的人叫我回满意")
    assert await world.evaluation("ITEM-1") is None
    assert "未能识别" in world.texts()[-1]  # the flow asks again
    flagged = await flagged_replies(world.redis)
    assert [f["text"] for f in flagged] == ["窗口的人叫我回满意"]
    assert flagged[0]["detail"] == "pressure" and flagged[0]["reminders"] == "i:ITEM-1"
    assert PHONE not in str(flagged) and PHONE[3:] not in str(flagged)
    assert await world.redis.ttl(keys.FLAGGED) > 0
