"""Privacy and expiry of everything the intake writes (seed art. 4; arq-style TTLs)."""

from __future__ import annotations

from datetime import timedelta

from ratings import keys
from ratings.model import Channel, normalise_phone
from tests.intake.helpers import make_ev

PHONES = ["138 0013 8000", "+86 139-1234-5678", "020 8888 6666"]


async def fill(intake, clock) -> None:
    """One of each kind of write: item, batch, theme, staff and follow-ups, with phones."""
    phones = [normalise_phone(p) for p in PHONES]
    evs = [
        make_ev(target_id="P1", phone=phones[0], channel=Channel.SMS),
        make_ev("batch", "B1", ("P2", "P3"), phone=phones[1], channel=Channel.HOTLINE),
        make_ev("theme", "T1", ("P3", "P4"), phone=phones[2]),
        make_ev("staff", "V1", staff="S1", phone=phones[0], channel=Channel.HOTLINE),
    ]
    for ev in evs:
        assert (await intake.accept(ev)).accepted
    clock.advance(timedelta(days=1))
    for ev in evs:
        follow = make_ev(ev.target.kind.value, ev.target.id, ev.target.items,
                         ev.target.staff_id, assess=2, phone=ev.phone)
        assert (await intake.accept(follow)).accepted


def digits_forms(raw: str) -> set[str]:
    e164 = normalise_phone(raw)
    national = e164[3:]
    return {e164, national, e164.lstrip("+"), national.lstrip("0")}


async def test_no_key_contains_a_phone_number(intake, clock, aredis):
    await fill(intake, clock)
    names = [k.decode() for k in await aredis.keys("*")]
    assert len(names) > 10
    for raw in PHONES:
        for form in digits_forms(raw):
            assert not [n for n in names if form in n], form


async def test_every_key_but_the_outbox_stream_expires(intake, clock, aredis):
    await fill(intake, clock)
    names = await aredis.keys("*")
    streams = [n for n in names if await aredis.type(n) == b"stream"]
    assert streams == [keys.OUTBOX.encode()]
    for name in names:
        if name in streams:
            continue
        ttl = await aredis.ttl(name)
        assert ttl > 0, name


async def test_every_key_shares_one_hash_tag(intake, clock, aredis):
    await fill(intake, clock)
    for name in await aredis.keys("*"):
        assert name.startswith(b"{hcp}:"), name


async def test_one_round_trip_per_evaluation(intake, aredis):
    """Count the commands the client sends: EVALSHA once per accept (after loading)."""
    sent = []
    original = aredis.execute_command

    async def counting(*args, **kwargs):
        sent.append(args[0])
        return await original(*args, **kwargs)

    aredis.execute_command = counting
    await intake.accept(make_ev(target_id="P0"))  # may load the script first
    sent.clear()
    for i in range(1, 21):
        await intake.accept(make_ev(target_id=f"P{i}"))
    assert sent == ["EVALSHA"] * 20
