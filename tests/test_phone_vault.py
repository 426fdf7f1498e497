"""Phone numbers at rest are sealed (seed art. 4; issue 10 point 13)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from ratings.phone_vault import PhoneVault, SealedValueError, is_sealed
from sms.completions import Completion
from sms.reminders import Reminders

SECRET = b"an installation's phone secret"


def test_a_sealed_number_opens_with_the_same_secret_only():
    vault = PhoneVault(SECRET)
    sealed = vault.seal("+8613800138000")
    assert is_sealed(sealed) and "138" not in sealed and "8000" not in sealed
    assert vault.open(sealed) == "+8613800138000"
    assert vault.seal("+8613800138000") != sealed  # a fresh nonce: records do not match
    with pytest.raises(SealedValueError):
        PhoneVault(b"another installation's secret").open(sealed)
    with pytest.raises(SealedValueError):
        vault.open(sealed[:-4] + "AAAA")  # damaged
    assert vault.open("+8613800138000") == "+8613800138000"  # written before sealing
    assert vault.seal("") == "" and vault.open("") == ""


async def redis_dump(aredis) -> str:
    """Every key and value in Redis, as text (hashes, strings, sets, zsets, streams)."""
    out = []
    async for key in aredis.scan_iter():
        kind = (await aredis.type(key)).decode()
        value = {"hash": aredis.hgetall, "string": aredis.get, "set": aredis.smembers,
                 "zset": lambda k: aredis.zrange(k, 0, -1, withscores=True),
                 "stream": aredis.xrange, "list": lambda k: aredis.lrange(k, 0, -1)}[kind]
        out.append(f"{key!r} {await value(key)!r}")
    return "\n".join(out)


async def test_a_pending_reminder_keeps_no_number_in_clear(aredis):
    reminders = Reminders(aredis, SECRET)
    completion = Completion("I-1", "S-1", "居住证签注", "广州市公安局", "+8613800138000",
                            datetime(2026, 11, 27, 1, 30, tzinfo=timezone.utc))
    scheduled = await reminders.schedule(completion)
    dump = await redis_dump(aredis)
    assert "13800138000" not in dump and "138001" not in dump and "38000" not in dump, dump
    reminder = await reminders.get(scheduled.reminder_id)
    assert reminder.phone == "+8613800138000"  # the dispatcher still texts the number
    assert [r.id for r in await reminders.for_phone("+8613800138000")] == ["i:I-1"]
