"""Sign-in, roles, sessions and CSRF for the console.

Passwords: ``hashlib.scrypt`` (n=2**14, r=8, p=1), stored as
``scrypt$<salt hex>$<hash hex>``; ``pbkdf2$<iterations>$<salt>$<hash>`` is read
too. A password is checked in a worker thread (two at a time), never on the
event loop; an unknown user name is checked against a dummy hash of the same
kind, so known and unknown names cost the same time.

Sign-in throttle: failures are counted per (client address, user name) pair,
not per user, so nobody can lock a supervisor out from elsewhere. The first
THROTTLE_FREE failures of a pair cost nothing more; after that each attempt of
the pair waits a backoff (1 s, 2 s, 4 s … at most THROTTLE_MAX_S) counted from
its last failure, refused at once (429, its own message) before any hashing
while it runs; a success forgets the pair, and so do 15 quiet minutes.

Sessions: a random token in an HttpOnly, SameSite=Strict cookie; the
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

import asyncio
import hashlib
import hmac
import ipaddress
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
VIEWER_POSTS = ("/console/signout", "/console/api/simulate", "/console/search")
THROTTLE_FREE = 5  # failures of one (address, user) pair before the backoff starts
THROTTLE_MAX_S = 300
HASHING_AT_ONCE = 2  # scrypt takes ~50 ms and 16 MB: at most this many threads at once
OPS_PATH = "/console/ops"
RECENT_S = 15 * 60  # how long a verified session is trusted while Redis is away
RECENT_LIMIT = 1000


def from_proxy(request: web.Request) -> bool:
    """The peer is one of ``console.trusted_proxies``."""
    try:
        peer = ipaddress.ip_address(request.remote or "")
    except ValueError:
        return False
    return any(peer in net for net in request.app["trusted_proxies"])


def client_address(request: web.Request) -> str:
    """The peer, or behind a trusted proxy the address it appended to X-Forwarded-For
    (what the sign-in throttle counts and the audit log records)."""
    forwarded = request.headers.get("X-Forwarded-For", "")
    if forwarded and from_proxy(request):
        return forwarded.split(",")[-1].strip()[:64]
    return request.remote or ""


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


# Record one failed sign-in of a pair and set its backoff, in one step.
_FAILED_LUA = """
-- KEYS[1] throttle hash; ARGV[1] now (s), ARGV[2] free failures, ARGV[3] max backoff s,
-- ARGV[4] ttl s
local fails = redis.call('HINCRBY', KEYS[1], 'fails', 1)
local over = fails - tonumber(ARGV[2])
if over >= 0 then
  local wait = math.min(2 ^ over, tonumber(ARGV[3]))
  redis.call('HSET', KEYS[1], 'next_at', tostring(tonumber(ARGV[1]) + wait))
end
redis.call('EXPIRE', KEYS[1], ARGV[4])
return fails
"""


class Throttled(Exception):
    """Too many failed sign-ins of this user from this address: wait ``retry_after`` s."""

    def __init__(self, retry_after: float):
        super().__init__(f"retry after {retry_after:.0f} s")
        self.retry_after = retry_after


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
        self._failed = redis.register_script(_FAILED_LUA)
        self._hashing = asyncio.Semaphore(HASHING_AT_ONCE)
        self._dummy: str | None = None  # a hash to check unknown names against
        # sessions this process verified lately: used only while Redis is away, for
        # GET pages (the error page keeps its menu, the operations page shows the outage)
        self._recent: OrderedDict[str, tuple[User, str, float]] = OrderedDict()

    async def _check(self, password: str, stored: str) -> bool:
        async with self._hashing:
            return await asyncio.to_thread(verify_password, password, stored)

    async def sign_in(self, name: str, password: str, client: str = ""
                      ) -> tuple[str, str] | None:
        """(token, csrf), or None for a wrong name or password; raises Throttled while
        this (client, name) pair is in its backoff."""
        throttle = keys.signin_throttle(client, name[:64])
        next_at = await self.redis.hget(throttle, "next_at")
        if next_at is not None and float(next_at) > time.time():
            raise Throttled(float(next_at) - time.time())
        if self._dummy is None:  # made at the first sign-in of any name: no first-time tell
            self._dummy = await asyncio.to_thread(hash_password, secrets.token_hex(16))
        entry = self.users.get(name)
        stored = self._dummy if entry is None else entry[1]
        ok = await self._check(password, stored)
        if entry is None or not ok:
            await self._failed(keys=[throttle], args=[time.time(), THROTTLE_FREE,
                                                      THROTTLE_MAX_S, keys.SIGNIN_THROTTLE_TTL_S])
            return None
        await self.redis.delete(throttle)
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
            return web.json_response({"error": "未登录 not signed in"}, status=401)
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
