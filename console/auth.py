"""Sign-in, roles, sessions and CSRF for the console.

Passwords: ``hashlib.scrypt`` (n=2**14, r=8, p=1), stored as
``scrypt$<salt hex>$<hash hex>``; ``pbkdf2$<iterations>$<salt>$<hash>`` is read
too. Sessions: a random token in an HttpOnly, SameSite=Strict cookie; the
server keeps ``console.keys.session(token)`` (user, role, CSRF token) with a
sliding TTL, so every gateway process sharing the Redis knows the session and
signing out ends it everywhere. Every POST carries the session's CSRF token
(form field ``_csrf`` or header ``X-CSRF-Token``); the sign-in form, before a
session exists, uses a double-submit cookie.

The middleware answers every request without a session: 302 to the sign-in
page for pages, 401 JSON for ``/console/api/…`` and other JSON requests; a
viewer's POST to an action gets 403. While Redis is away, a GET with a session
this process verified in the last 15 minutes goes on (its page then shows the
outage with the menu, the operations page shows what is down); everything else
gets the 503 page of ``console.errors``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass

from aiohttp import web

from console import keys
from console.errors import REDIS_DOWN, error_page, wants_json

COOKIE = "hcp_console"
PRE_COOKIE = "hcp_console_pre"
SUPERVISOR = "supervisor"
VIEWER = "viewer"
ROLE_LABELS = {SUPERVISOR: "主管 supervisor", VIEWER: "只读 viewer"}
OPEN_PATHS = ("/console/signin", "/console/static/")
# POSTs a viewer may make: they change nothing stored
VIEWER_POSTS = ("/console/signout", "/console/api/simulate")
OPS_PATH = "/console/ops"
RECENT_S = 15 * 60  # how long a verified session is trusted while Redis is away
RECENT_LIMIT = 1000


def hash_password(password: str, salt: bytes | None = None) -> str:
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=2 ** 14, r=8, p=1, dklen=32)
    return f"scrypt${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        kind, rest = stored.split("$", 1)
        if kind == "scrypt":
            salt, want = rest.split("$")
            got = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), n=2 ** 14, r=8,
                                 p=1, dklen=32)
        elif kind == "pbkdf2":
            rounds, salt, want = rest.split("$")
            got = hashlib.pbkdf2_hmac("sha256", password.encode(), bytes.fromhex(salt),
                                      int(rounds))
        else:
            return False
        return hmac.compare_digest(got.hex(), want)
    except ValueError:
        return False


@dataclass(frozen=True)
class User:
    name: str
    role: str

    @property
    def may_act(self) -> bool:
        return self.role == SUPERVISOR


class Sessions:
    def __init__(self, redis, users: dict[str, tuple[str, str]], ttl_s: int):
        self.redis = redis
        self.users = users  # name -> (role, hash)
        self.ttl_s = ttl_s
        # sessions this process verified lately: used only while Redis is away, for
        # GET pages (the error page keeps its menu, the operations page shows the outage)
        self._recent: OrderedDict[str, tuple[User, str, float]] = OrderedDict()

    async def sign_in(self, name: str, password: str) -> tuple[str, str] | None:
        """(token, csrf) or None. Failed attempts per user are rate limited."""
        fails = keys.signin_failures(name[:64])
        if int(await self.redis.get(fails) or 0) >= keys.SIGNIN_FAIL_LIMIT:
            return None
        entry = self.users.get(name)
        if entry is None or not verify_password(password, entry[1]):
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.incr(fails)
                pipe.expire(fails, keys.SIGNIN_FAIL_TTL_S)
                await pipe.execute()
            return None
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
        await self.redis.hset(keys.session(token), mapping={"user": name, "role": entry[0],
                                                            "csrf": csrf})
        await self.redis.expire(keys.session(token), self.ttl_s)
        return token, csrf

    async def lookup(self, token: str) -> tuple[User, str] | None:
        if not token:
            return None
        key = keys.session(token)
        raw = await self.redis.hgetall(key)
        if not raw:
            return None
        data = {k.decode(): v.decode() for k, v in raw.items()}
        if data["user"] not in self.users:  # account removed from the config
            await self.redis.delete(key)
            return None
        await self.redis.expire(key, self.ttl_s)  # sliding expiry
        user = User(data["user"], self.users[data["user"]][0])
        self._recent[key] = (user, data["csrf"], time.monotonic())
        self._recent.move_to_end(key)
        while len(self._recent) > RECENT_LIMIT:
            self._recent.popitem(last=False)
        return user, data["csrf"]

    def recent(self, token: str) -> tuple[User, str] | None:
        """A session this process verified within RECENT_S (for Redis outages only)."""
        found = self._recent.get(keys.session(token)) if token else None
        if found is None or time.monotonic() - found[2] > min(RECENT_S, self.ttl_s):
            return None
        return found[0], found[1]

    async def sign_out(self, token: str) -> None:
        self._recent.pop(keys.session(token), None)
        await self.redis.delete(keys.session(token))


def refuse(request: web.Request, status: int, message: str) -> web.Response:
    if wants_json(request):
        return web.json_response({"error": message}, status=status)
    return error_page(request, status, message)


@web.middleware
async def require_session(request: web.Request, handler):
    if request.path.startswith(OPEN_PATHS):
        return await handler(request)
    sessions: Sessions = request.config_dict["console.sessions"]
    token = request.cookies.get(COOKIE, "")
    try:
        found = await sessions.lookup(token)
    except REDIS_DOWN as exc:
        found = sessions.recent(token)
        if found is None or request.method not in ("GET", "HEAD"):
            raise  # answered by console.errors: a 503 page saying Redis is away
        request["user"], request["csrf"] = found
        if request.path != OPS_PATH:
            raise  # the 503 page, with the menu; no second wait on Redis
        request["redis_down"] = exc  # the operations page shows the outage at once
        return await handler(request)
    if found is None:
        if wants_json(request):
            return web.json_response({"error": "not signed in"}, status=401)
        raise web.HTTPFound("/console/signin")
    user, csrf = found
    request["user"], request["csrf"] = user, csrf
    if request.method not in ("GET", "HEAD"):
        sent = request.headers.get("X-CSRF-Token", "")
        if not sent and request.content_type in ("application/x-www-form-urlencoded",
                                                 "multipart/form-data"):
            sent = (await request.post()).get("_csrf", "")
        if not hmac.compare_digest(str(sent), csrf):
            return refuse(request, 403, "表单已过期或来源不明（CSRF 校验失败），请刷新页面后重试。")
        if not user.may_act and not request.path.startswith(VIEWER_POSTS):
            return refuse(request, 403, "只读账号不能操作 (viewer accounts are read-only)")
    return await handler(request)
