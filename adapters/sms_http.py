"""Generic HTTP SMS provider adapter, in the style of the Chinese cloud SMS APIs.

Sending: ``POST {base_url}/v1/sms/send`` with a templated request —

    {"PhoneNumbers": "13800138000", "SignName": "广东政务服务",
     "TemplateCode": "SMS_0001", "TemplateParam": "{\"name\":\"…\",\"code\":\"101\"}",
     "OutId": "<our message id>"}

answered ``{"Code": "OK", "BizId": "…"}``. Providers check templates, so the
text itself is not sent, only the template code and its parameters; OutId is
our stable message id, so a retried request is the same message to them.
HTTP 429 or Code ``isv.BUSINESS_LIMIT_CONTROL`` -> Throttled; 5xx, timeouts,
connection errors -> TransientError; any other Code -> PermanentError.

Signing (both directions): headers X-Hcp-Key, X-Hcp-Timestamp (unix s),
X-Hcp-Nonce and X-Hcp-Signature = base64(HMAC-SHA256(secret,
"METHOD\\nPATH\\nTIMESTAMP\\nNONCE\\nhex(SHA256(body))")). Callbacks are refused
(401) on a bad signature, a timestamp more than ``max_skew_s`` before *or after*
now, or a nonce seen before.

Replay guard (issue 14 point 4). A signed request is valid for as long as its
timestamp is inside the window [now - max_skew, now + max_skew], so its nonce
must be remembered until the timestamp leaves the window: until timestamp +
max_skew, not for max_skew after it arrived (a request stamped +290 s and
remembered 300 s from arrival was accepted again at 305 s). With a Redis client
the nonces live in Redis (``SET NX PX``, one key per nonce, expiring then), so a
gateway restart or a second gateway process forgets nothing; the key is
``REPLAY_PREFIX`` + a hash of (callback key, nonce): no phone number, bounded
size whatever the provider sends. The expiry is counted from our clock (the one
that judged the window), not Redis's. A callback whose handling fails (Redis
away) forgets its nonce again, so that the provider's retry of the very same
request is admitted. Without a Redis client (the loopback provider of the
tests, a single process) the same rule holds in process memory.

Callbacks: ``add_sms_callback_routes(app, carriers)`` adds
``POST /v1/sms/inbound/{provider}`` (MO replies) and
``POST /v1/sms/receipts/{provider}`` (delivery receipts); each carries a JSON
list. The lead wires it into the gateway app.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import logging
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import partial
from zoneinfo import ZoneInfo

import aiohttp
from aiohttp import web
from redis.exceptions import RedisError

from ratings.model import InvalidEvaluation, normalise_phone
from sms import keys
from sms.carrier import (DeliveryReceipt, DeliveryState, InboundHandler, InboundSms,
                         OutboundSms, PermanentError, ReceiptHandler, SubmitResult, Throttled,
                         TransientError)

log = logging.getLogger(__name__)

SEND_PATH = "/v1/sms/send"
THROTTLE_CODES = {"isv.BUSINESS_LIMIT_CONTROL", "Throttling.User"}


def signature(secret: str, method: str, path: str, timestamp: str, nonce: str,
              body: bytes) -> str:
    digest = hashlib.sha256(body).hexdigest()
    message = "\n".join((method.upper(), path, timestamp, nonce, digest)).encode()
    return base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest()).decode()


def signed_headers(key: str, secret: str, method: str, path: str, body: bytes) -> dict:
    timestamp, nonce = str(int(time.time())), secrets.token_hex(12)
    return {"Content-Type": "application/json; charset=utf-8", "X-Hcp-Key": key,
            "X-Hcp-Timestamp": timestamp, "X-Hcp-Nonce": nonce,
            "X-Hcp-Signature": signature(secret, method, path, timestamp, nonce, body)}


REPLAY_PREFIX = keys.CALLBACK_NONCE_PREFIX  # + sha256(callback key, nonce)[:32]; see above
MAX_NONCE_CHARS = 128


class SignatureCheck:
    """Verifies signed requests; remembers each nonce until its timestamp leaves the
    window (replay guard): in Redis when given a client, else in process memory."""

    def __init__(self, key: str, secret: str, max_skew_s: float = 300, *, redis=None,
                 clock=time.time):
        self.key, self.secret, self.max_skew_s = key, secret, max_skew_s
        self.redis, self.clock = redis, clock
        self._nonces: dict[str, float] = {}  # seen key -> when it may be forgotten

    def check(self, method: str, path: str, headers, body: bytes) -> str | None:
        """Key, window and signature (no memory): None when they hold, else why not."""
        if headers.get("X-Hcp-Key") != self.key:
            return "unknown key"
        timestamp, nonce = headers.get("X-Hcp-Timestamp", ""), headers.get("X-Hcp-Nonce", "")
        if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
            return "bad timestamp"
        if abs(self.clock() - int(timestamp)) > self.max_skew_s:
            return "timestamp outside the window"
        if not nonce or len(nonce) > MAX_NONCE_CHARS:
            return "bad nonce"
        expected = signature(self.secret, method, path, timestamp, nonce, body)
        if not hmac.compare_digest(expected.encode(),
                                   headers.get("X-Hcp-Signature", "").encode()):
            return "bad signature"
        return None

    def seen_key(self, headers) -> str:
        digest = hashlib.sha256(f"{self.key}\n{headers.get('X-Hcp-Nonce', '')}".encode())
        return REPLAY_PREFIX + digest.hexdigest()[:32]

    def _remember_for_s(self, headers) -> float:
        """Until the timestamp leaves the window (+1 s for the whole-second stamp)."""
        return int(headers["X-Hcp-Timestamp"]) + self.max_skew_s + 1 - self.clock()

    def verify(self, method: str, path: str, headers, body: bytes) -> str | None:
        """None when the request is genuine and new, else why not (process memory)."""
        refused = self.check(method, path, headers, body)
        if refused:
            return refused
        now, key = self.clock(), self.seen_key(headers)
        self._nonces = {k: until for k, until in self._nonces.items() if until > now}
        if key in self._nonces:
            return "nonce replayed"
        self._nonces[key] = now + self._remember_for_s(headers)
        return None

    async def admit(self, method: str, path: str, headers, body: bytes) -> str | None:
        """``verify`` with the nonces in Redis when there is a client (survives a
        restart, shared by processes). Redis errors propagate: the caller answers 503."""
        if self.redis is None:
            return self.verify(method, path, headers, body)
        refused = self.check(method, path, headers, body)
        if refused:
            return refused
        ttl_ms = max(1000, int(self._remember_for_s(headers) * 1000))
        if not await self.redis.set(self.seen_key(headers), b"1", nx=True, px=ttl_ms):
            return "nonce replayed"
        return None

    async def forget(self, headers) -> None:
        """The request was admitted but not handled: its retry must not be a replay."""
        key = self.seen_key(headers)
        if self.redis is None:
            self._nonces.pop(key, None)
        else:
            await self.redis.delete(key)


@dataclass(frozen=True)
class HttpProviderConfig:
    name: str
    base_url: str
    access_key: str
    secret: str
    sign_name: str
    template: str  # default template code of the reminder
    callback_key: str = ""  # key/secret the provider signs callbacks with;
    callback_secret: str = ""  # default: the same as ours
    timeout_s: float = 10.0


def national(e164: str) -> str:
    """Chinese providers take 13800138000 for +86 numbers, E.164 for the rest."""
    return e164[3:] if e164.startswith("+86") else e164


class HttpSmsCarrier:
    """``redis``: where the callbacks' nonces are remembered (the gateway's client; see
    the replay guard above); ``clock`` for the callback window (tests)."""

    def __init__(self, config: HttpProviderConfig, redis=None, clock=time.time):
        self.config = config
        self.name = config.name
        self.callbacks = SignatureCheck(config.callback_key or config.access_key,
                                        config.callback_secret or config.secret,
                                        redis=redis, clock=clock)
        self._session: aiohttp.ClientSession | None = None
        self.on_inbound: InboundHandler | None = None
        self.on_receipt: ReceiptHandler | None = None

    async def start(self, on_inbound: InboundHandler, on_receipt: ReceiptHandler) -> None:
        self.on_inbound, self.on_receipt = on_inbound, on_receipt
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self.config.timeout_s))

    async def stop(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def send(self, message: OutboundSms) -> SubmitResult:
        if self._session is None:
            raise TransientError("carrier not started")
        body = json.dumps({
            "PhoneNumbers": national(message.phone), "SignName": self.config.sign_name,
            "TemplateCode": message.template or self.config.template,
            "TemplateParam": json.dumps(message.params, ensure_ascii=False),
            "OutId": message.id}, ensure_ascii=False).encode()
        headers = signed_headers(self.config.access_key, self.config.secret, "POST",
                                 SEND_PATH, body)
        try:
            async with self._session.post(self.config.base_url.rstrip("/") + SEND_PATH,
                                          data=body, headers=headers) as resp:
                status = resp.status
                retry_after = resp.headers.get("Retry-After")
                payload = await resp.json(content_type=None) if status < 500 else {}
        except (aiohttp.ClientError, asyncio.TimeoutError, json.JSONDecodeError) as exc:
            raise TransientError(f"{self.name}: {type(exc).__name__}") from exc
        code = (payload or {}).get("Code", "")
        if status == 429 or code in THROTTLE_CODES:
            raise Throttled(f"{self.name}: {code or status}",
                            retry_after=float(retry_after) if retry_after else None)
        if status >= 500:
            raise TransientError(f"{self.name}: HTTP {status}")
        if status != 200 or code != "OK" or not payload.get("BizId"):
            raise PermanentError(f"{self.name}: HTTP {status} {code}")
        return SubmitResult(payload["BizId"], (payload["BizId"],), 1)

    # -- callbacks, called by the routes below --------------------------
    async def handle_inbound(self, items: list[dict]) -> int:
        handled = 0
        for item in items:
            try:
                phone = normalise_phone(str(item["phone_number"]))
                text = str(item["content"])
            except (KeyError, InvalidEvaluation):
                log.warning("%s: MO callback item without a valid number/content", self.name)
                continue
            await self.on_inbound(InboundSms(
                phone=phone, text=text, received_at=_time(item.get("send_time")),
                carrier_id=str(item.get("sequence_id", "")), to=str(item.get("dest_code", ""))))
            handled += 1
        return handled

    async def handle_receipts(self, items: list[dict]) -> int:
        handled = 0
        for item in items:
            biz_id = item.get("biz_id")
            if not biz_id:
                continue
            err = str(item.get("err_code", ""))
            if item.get("success") is True:
                state = DeliveryState.DELIVERED
            elif "EXPIRED" in err.upper():
                state = DeliveryState.EXPIRED
            else:
                state = DeliveryState.FAILED
            await self.on_receipt(DeliveryReceipt(str(biz_id), state, err,
                                                  _time(item.get("report_time"))))
            handled += 1
        return handled


def _time(value) -> datetime:
    """Provider times are 'yyyy-MM-dd HH:mm:ss' in Beijing time."""
    try:
        local = datetime.strptime(str(value), "%Y-%m-%d %H:%M:%S")
        return local.replace(tzinfo=ZoneInfo("Asia/Shanghai"))
    except ValueError:
        return datetime.now(timezone.utc)


def _answer(body: dict, status: int = 200) -> web.Response:
    """A JSON answer in readable UTF-8 ("成功", not \\u6210\\u529f: aiohttp's default)."""
    return web.json_response(body, status=status, dumps=partial(json.dumps, ensure_ascii=False))


def add_sms_callback_routes(app: web.Application, carriers: dict[str, HttpSmsCarrier]) -> None:
    """MO and receipt callbacks of each HTTP provider, signature-verified."""

    async def callback(request: web.Request, kind: str) -> web.Response:
        carrier = carriers.get(request.match_info["provider"])
        if carrier is None:
            return _answer({"code": 404, "msg": "unknown provider"}, status=404)
        body = await request.read()
        try:
            refused = await carrier.callbacks.admit(request.method, request.path,
                                                    request.headers, body)
        except (RedisError, OSError) as exc:
            log.warning("%s callback: replay guard unavailable: %s", carrier.name,
                        type(exc).__name__)
            return _answer({"code": 503, "msg": "try again"}, status=503)
        if refused:
            log.warning("%s callback refused: %s", carrier.name, refused)
            return _answer({"code": 401, "msg": refused}, status=401)
        try:
            items = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
            return _answer({"code": 400, "msg": "body is not JSON"}, status=400)
        if isinstance(items, dict):
            items = [items]
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            return _answer({"code": 400, "msg": "a JSON list of objects"}, status=400)
        handler = carrier.handle_inbound if kind == "inbound" else carrier.handle_receipts
        try:
            handled = await handler(items)
        except Exception as exc:
            # not handled: the provider's retry of this same request is no replay
            log.warning("%s callback not handled: %s", carrier.name, type(exc).__name__)
            with contextlib.suppress(RedisError, OSError):
                await carrier.callbacks.forget(request.headers)
            return _answer({"code": 503, "msg": "try again"}, status=503)
        return _answer({"code": 0, "msg": "成功", "handled": handled})

    async def inbound(request: web.Request) -> web.Response:
        return await callback(request, "inbound")

    async def receipts(request: web.Request) -> web.Response:
        return await callback(request, "receipts")

    app.router.add_post("/v1/sms/inbound/{provider}", inbound)
    app.router.add_post("/v1/sms/receipts/{provider}", receipts)
