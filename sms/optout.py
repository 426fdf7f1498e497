"""Opt-out (TD/退订/T/R): a number that opted out gets no further reminder, ever.

Stored as a set of phone refs (HMAC), never the number. ``add`` says whether the
number is new, so the confirmation text goes out exactly once.
"""

from __future__ import annotations

from redis.asyncio import Redis

from sms import keys


class OptOuts:
    def __init__(self, redis: Redis, phone_secret: bytes):
        self.redis = redis
        self.secret = phone_secret

    def _ref(self, phone: str) -> str:
        return keys.phone_ref(self.secret, phone)

    async def add(self, phone: str) -> bool:
        """Record the opt-out; True the first time (send the confirmation then only)."""
        return bool(await self.redis.sadd(keys.OPTOUT, self._ref(phone)))

    async def remove(self, phone: str) -> bool:
        return bool(await self.redis.srem(keys.OPTOUT, self._ref(phone)))

    async def is_opted_out(self, phone: str) -> bool:
        return bool(await self.redis.sismember(keys.OPTOUT, self._ref(phone)))
