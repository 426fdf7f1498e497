"""The optional 7-day system-default policy, against real Redis and the real intake."""

from __future__ import annotations

from ratings import keys as rkeys
from ratings.intake import Intake
from sms import keys
from sms.default_policy import DefaultRater, DefaultRatingPolicy
from sms.reminders import Reminders

from .conftest import SECRET
from .test_reminders import completion

WEEK = DefaultRatingPolicy().after_s


async def test_off_by_default(aredis, clock):
    assert DefaultRatingPolicy().enabled is False
    reminders = Reminders(aredis, SECRET, clock=clock)
    await reminders.schedule(completion())
    assert await aredis.zcard(keys.DEFAULTS) == 0


async def test_unrated_item_gets_basically_satisfied_once(aredis, clock):
    reminders = Reminders(aredis, SECRET, clock=clock, default_after_s=WEEK)
    intake = Intake(aredis, SECRET)
    await reminders.schedule(completion(item="A", at=None))
    await reminders.schedule(completion(item="B"))
    await reminders.schedule(completion(item="A"))  # re-post: still one
    assert await aredis.zcard(keys.DEFAULTS) == 2
    rater = DefaultRater(reminders, intake)
    clock.advance(WEEK - 48 * 3600)
    assert await rater.run_due() == 0
    clock.advance(5 * 24 * 3600)
    ev_b = await aredis.get(rkeys.item("B"))
    assert ev_b is None
    from datetime import datetime, timezone

    from ratings.grades import Grade
    from ratings.model import Channel, Evaluation, Target, TargetKind
    await intake.accept(Evaluation(Target(TargetKind.ITEM, "B"), Channel.SMS, Grade.SATISFIED,
                                   datetime.now(timezone.utc)))
    assert await rater.run_due() == 2
    assert rater.outcomes == {"defaulted": 1, "rated": 1}
    status = await intake.status((await aredis.get(rkeys.item("A"))).decode())
    assert status["evaluation"]["grade"] == "basically_satisfied"
    ctx = status["evaluation"]["context"]
    assert ctx["system_default"] == "true" and ctx["task_code"] and ctx["service"]
    assert await rater.run_due() == 0
    assert await aredis.zcard(keys.DEFAULTS) == 0
