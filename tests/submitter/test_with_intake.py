"""The real intake feeds the real submitter: the outbox contract end to end."""

from __future__ import annotations

from ratings.grades import Grade
from ratings.intake import Intake
from ratings.model import Channel, TargetKind
from tests.submitter.conftest import Running, fast_submitter, make_ev, outbox_empty, wait_for


async def test_intake_to_store(aredis, store, http_store):
    intake = Intake(aredis, phone_secret=b"s")
    item = make_ev("I2", channel=Channel.SMS)
    theme = make_ev("T1", kind=TargetKind.THEME, items=("I1", "I2", "I3"),
                    grade=Grade.VERY_DISSATISFIED, comment="材料反复提交")
    batch = make_ev("B1", kind=TargetKind.BATCH, items=("I4", "I5"))
    for ev in (item, theme, batch):
        assert (await intake.accept(ev)).accepted
    async with Running(fast_submitter(aredis, http_store)):
        await wait_for(lambda: outbox_empty(aredis))
    assert sorted(store.records) == sorted([
        f"{item.id}:I2", f"{theme.id}:I1", f"{theme.id}:I3",  # I2 rated on its own
        f"{batch.id}:I4", f"{batch.id}:I5"])
    assert store.records[f"{item.id}:I2"]["pf"] == 7
    assert store.records[f"{theme.id}:I1"]["satisfaction"] == 1
    st = await intake.status(theme.id)
    assert st["status"] == "submitted" and st["attempts"] == 1
