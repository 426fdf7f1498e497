"""Sign-in against a real Redis: failures throttle the (address, user) pair with a
backoff instead of locking the account; known and unknown names do the same hashing;
passwords are checked off the event loop (issue 14 point 5)."""

from __future__ import annotations

import asyncio
import re
import threading
import time

import aiohttp

from console import auth, keys
from console.auth import Sessions, Throttled
from tests.console.test_app_inprocess import PASSWORDS, serve, sign_in, users

GOOD = PASSWORDS["sup"]


async def _fail(sessions, client, n, name="sup"):
    for _ in range(n):
        assert await sessions.sign_in(name, "wrong-password", client) is None


async def test_failures_throttle_the_pair_with_a_backoff_not_the_account(aredis):
    sessions = Sessions(aredis, users(), 3600)
    await _fail(sessions, "203.0.113.9", auth.THROTTLE_FREE)  # the attacker's address
    try:
        await sessions.sign_in("sup", GOOD, "203.0.113.9")
        raise AssertionError("the attacker's address is not throttled")
    except Throttled as exc:
        assert 0 < exc.retry_after <= 1.0
    # the supervisor at her own desk is not locked out
    assert await sessions.sign_in("sup", GOOD, "198.51.100.7") is not None
    # and even at the attacker's address a wait is enough (no 15-minute lock)
    await asyncio.sleep(1.05)
    assert await sessions.sign_in("sup", GOOD, "203.0.113.9") is not None
    assert not await aredis.exists(keys.signin_throttle("203.0.113.9", "sup"))  # forgotten


async def test_the_backoff_doubles_and_is_capped(aredis, monkeypatch):
    monkeypatch.setattr(auth, "THROTTLE_MAX_S", 8)
    sessions = Sessions(aredis, users(), 3600)
    waits = []
    for _ in range(auth.THROTTLE_FREE + 5):
        key = keys.signin_throttle("203.0.113.9", "sup")
        await aredis.hdel(key, "next_at")  # let the next failure through, note its wait
        started = time.time()
        await _fail(sessions, "203.0.113.9", 1)
        next_at = await aredis.hget(key, "next_at")
        waits.append(round(float(next_at) - started) if next_at else 0)
    assert waits == [0] * (auth.THROTTLE_FREE - 1) + [1, 2, 4, 8, 8, 8]
    assert 0 < await aredis.ttl(key) <= keys.SIGNIN_THROTTLE_TTL_S
    # a throttled attempt does no hashing at all
    checked = []
    monkeypatch.setattr(auth, "verify_password", lambda *a: checked.append(a) or False)
    try:
        await sessions.sign_in("sup", GOOD, "203.0.113.9")
        raise AssertionError("not throttled")
    except Throttled:
        pass
    assert checked == []


async def test_known_and_unknown_names_hash_the_same_off_the_loop(aredis, monkeypatch):
    sessions = Sessions(aredis, users(), 3600)
    calls = []
    real = auth.verify_password

    def spy(password, stored):
        calls.append((stored.split("$")[0], threading.current_thread() is
                      threading.main_thread()))
        return real(password, stored)

    monkeypatch.setattr(auth, "verify_password", spy)
    assert await sessions.sign_in("sup", "wrong-password", "192.0.2.1") is None
    assert await sessions.sign_in("nobody", "wrong-password", "192.0.2.1") is None
    assert await sessions.sign_in("nobody", GOOD, "192.0.2.1") is None
    assert await sessions.sign_in("sup", GOOD, "192.0.2.1") is not None
    assert calls == [("scrypt", False)] * 4  # one scrypt each, always in a worker thread
    # the unknown name counts against its pair like a known one
    assert int(await aredis.hget(keys.signin_throttle("192.0.2.1", "nobody"), "fails")) == 2


async def test_the_sign_in_page_says_throttled_not_wrong_password(aredis, tmp_path):
    server = await serve(aredis, tmp_path)
    try:
        session = aiohttp.ClientSession(base_url=str(server.make_url("")),
                                        cookie_jar=aiohttp.CookieJar(unsafe=True))
        async with session.get("/console/signin") as resp:
            pre = re.search(r'name="_pre" value="([^"]+)"', await resp.text()).group(1)
        answers = []
        for password in ["wrong"] * auth.THROTTLE_FREE + [GOOD]:
            async with session.post("/console/signin", allow_redirects=False, data={
                    "_pre": pre, "user": "sup", "password": password}) as resp:
                answers.append((resp.status, await resp.text(),
                                resp.headers.get("Retry-After")))
        assert all(s == 401 and "用户名或密码错误" in t for s, t, _r in answers[:-1])
        status, text, retry_after = answers[-1]
        assert status == 429 and "尝试次数过多" in text and "用户名或密码错误" not in text
        assert retry_after == "1"
        await session.close()
        await asyncio.sleep(1.05)  # a backoff, not a lock: after the wait she signs in
        again, _csrf = await sign_in(server, "sup")
        await again.close()
    finally:
        await server.close()
