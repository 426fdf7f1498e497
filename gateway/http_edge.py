"""The HTTP edge: what a client can cost the server before it has proven anything.

Theory of operation
-------------------
The API, the SMS callbacks and the console share one aiohttp listener, which
``Gateway`` starts with ``EdgeRunner`` instead of a plain ``web.AppRunner``. A
slow or hostile client must cost a bounded number of seconds, sockets and bytes,
whatever it sends, and must not keep real callers waiting. Four bounds:

1. **Request head** (``http.head_timeout_s``). From the moment a connection
   opens, or its previous answer was sent, a complete request head must arrive
   within this time, else the connection is closed. aiohttp (3.14) has no
   setting named so, but its keep-alive timer is exactly this bound: it is armed
   when the connection is made and after each answer, it is *not* re-armed by
   bytes that arrive (a head trickled one byte a second does not extend it), and
   when it fires while the handler still waits for a complete head it closes the
   connection (``RequestHandler._process_keepalive``). So the setting is passed
   as ``keepalive_timeout``; it is also how long an idle keep-alive connection
   stays open. (Without it aiohttp's AppRunner keeps a silent connection for
   3630 s: the probe saw 30 of 30 half-sent heads still open after 90 s.)
   ``tests/gateway/test_slow_clients.py`` holds aiohttp to this.

2. **Request body** (``http.body_timeout_s``). aiohttp has no body read timeout
   at all: a handler awaiting ``request.read()`` waits for ever for a body sent
   one byte a minute. ``GuardedServer`` arms a timer when a request with an
   unfinished body reaches the app; if the body is still incomplete when it
   fires, the request's payload stream is failed with ``BodyTimeout`` (a 408,
   turned into the API's JSON error shape by ``json_errors_middleware``; it is
   also a ``TimeoutError``, so that aiohttp's lingering read of the unread rest
   ends quietly), and the connection is closed after that answer.

3. **Open connections** (``http.max_connections``). When one more connection
   than allowed opens, the connection that has waited longest for a request head
   (connections whose request is being handled are never chosen) is closed to
   make room; only when every connection is busy is the newcomer closed. So a
   slowloris cannot hold the listener's sockets: its oldest sockets are dropped
   first, and a real caller, who sends its head at once, is the newest.

4. **Compressed bodies** (``http.max_body_bytes``). aiohttp would inflate a
   ``Content-Encoding: gzip`` body by itself, while the body is read, and also
   when nobody reads it (a 401 answered, it reads the rest away): a 58 KB body
   inflated to 60 MB. ``EdgeRunner`` turns that off (``auto_decompress=False``)
   and puts ``inflate_middleware`` right after the API's ``auth_middleware``:
   an unauthenticated /v1 call is answered before a byte is inflated, and an
   authenticated one is inflated to at most ``max_body_bytes`` (413 with the
   reason past it; 400 for a broken stream; 415 for an encoding other than
   gzip/deflate). Handlers then see the plain body, whichever way they read it.

These make the gateway safe without a reverse proxy (docker/ ships none). One in
front may add the same bounds per client address: in nginx ``client_header_timeout``
(1), ``client_body_timeout`` (2, but between two reads, not for the whole body),
``keepalive_timeout``, ``limit_conn`` (3), ``client_max_body_size`` (4, raw bytes:
it does not inflate); the gateway's own bounds still hold behind it.
"""

from __future__ import annotations

import asyncio
import logging
import zlib
from dataclasses import dataclass

from aiohttp import StreamReader, web
from aiohttp.web_protocol import RequestHandler

from gateway.config import Setting, parsers, register_settings
from gateway.http_api import auth_middleware, error_response

log = logging.getLogger("gateway.http_edge")

register_settings(
    Setting("http.head_timeout_s", "HCP_HTTP_HEAD_TIMEOUT_S", parsers.positive_float, 10.0,
            "Seconds a connection has, from opening or from its previous answer, to send "
            "a complete request head; else it is closed (also the keep-alive idle time)."),
    Setting("http.body_timeout_s", "HCP_HTTP_BODY_TIMEOUT_S", parsers.positive_float, 30.0,
            "Seconds a request has, from its head, to send its whole body; else 408 and "
            "the connection is closed."),
    Setting("http.max_connections", "HCP_HTTP_MAX_CONNECTIONS", parsers.positive_int, 512,
            "Open HTTP connections; past it the one waiting longest for a request head "
            "is closed to make room."),
)

INFLATABLE = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS,
              "deflate": zlib.MAX_WBITS}


@dataclass(frozen=True)
class EdgeLimits:
    head_timeout_s: float = 10.0
    body_timeout_s: float = 30.0
    max_connections: int = 512
    max_body_bytes: int = 65536

    @classmethod
    def from_config(cls, config) -> EdgeLimits:
        # .extra: a config loaded before this module registered its settings has the
        # defaults
        return cls(head_timeout_s=config.extra.get("http.head_timeout_s", cls.head_timeout_s),
                   body_timeout_s=config.extra.get("http.body_timeout_s", cls.body_timeout_s),
                   max_connections=config.extra.get("http.max_connections",
                                                    cls.max_connections),
                   max_body_bytes=config.http_max_body_bytes)


class BodyTimeout(web.HTTPRequestTimeout, TimeoutError):
    """408 for a body that did not arrive in time. Also a ``TimeoutError``: aiohttp's
    lingering read (of a body the handler left unread) ends on one without logging."""


class EdgeRunner(web.AppRunner):
    """``web.AppRunner`` with the four bounds of this module (see its docstring)."""

    def __init__(self, app: web.Application, limits: EdgeLimits, **kwargs):
        install_inflate(app, limits.max_body_bytes)
        super().__init__(app, keepalive_timeout=limits.head_timeout_s,
                         auto_decompress=False, **kwargs)
        self.limits = limits

    async def _make_server(self) -> web.Server:  # BaseRunner's hook for the server
        return GuardedServer(await super()._make_server(), self.limits)


class GuardedServer(web.Server):
    """aiohttp's low-level server, plus bounds 2 and 3: which connections wait for a
    head (and since when), a body timer per request, shedding past the limit."""

    def __init__(self, server: web.Server, limits: EdgeLimits):
        # the same server, rebuilt around our request handler; _kwargs are the
        # RequestHandler options the AppRunner gathered (keepalive_timeout, ...)
        super().__init__(self._handle, request_factory=server.request_factory,
                         handler_cancellation=server.handler_cancellation,
                         **server._kwargs)
        self._app_handler = server.request_handler
        self.limits = limits
        self._since: dict[RequestHandler, float | None] = {}  # None: a request in hand
        self.shed = 0  # connections closed to make room (for tests and logs)
        self.body_timeouts = 0

    # -- connections ---------------------------------------------------------
    def connection_made(self, handler: RequestHandler, transport: asyncio.Transport) -> None:
        super().connection_made(handler, transport)
        loop = asyncio.get_running_loop()
        self._since[handler] = loop.time()
        if len(self._since) > self.limits.max_connections:
            self._make_room(handler, loop)

    def connection_lost(self, handler: RequestHandler, exc: BaseException | None = None
                        ) -> None:
        super().connection_lost(handler, exc)
        self._since.pop(handler, None)

    def _make_room(self, newcomer: RequestHandler, loop: asyncio.AbstractEventLoop) -> None:
        waiting = [(since, i, h) for i, (h, since) in enumerate(self._since.items())
                   if since is not None and h is not newcomer]
        victim = min(waiting)[2] if waiting else newcomer
        self._since.pop(victim, None)
        self.shed += 1
        if self.shed == 1 or self.shed % 100 == 0:
            log.warning("http.connections_shed", extra={
                "shed": self.shed, "limit": self.limits.max_connections})
        # not inside the newcomer's connection_made (it still sets itself up)
        loop.call_soon(victim.force_close)

    # -- requests ------------------------------------------------------------
    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        protocol = request.protocol
        if protocol in self._since:
            self._since[protocol] = None
        timer = None
        if request.body_exists and not request.content.is_eof():
            timer = asyncio.get_running_loop().call_later(
                self.limits.body_timeout_s, self._body_too_slow, request)
        try:
            return await self._app_handler(request)
        finally:
            if timer is not None:
                timer.cancel()
            if protocol in self._since:
                self._since[protocol] = asyncio.get_running_loop().time()

    def _body_too_slow(self, request: web.BaseRequest) -> None:
        if request.content.is_eof():
            return
        self.body_timeouts += 1
        request.protocol.close()  # no keep-alive after this answer
        request.content.set_exception(BodyTimeout(
            reason=f"the body did not arrive within {self.limits.body_timeout_s:g} s"))


# -- compressed bodies -----------------------------------------------------------
def install_inflate(app: web.Application, max_body_bytes: int) -> None:
    """Put ``inflate_middleware`` right after ``auth_middleware`` (before the app is
    frozen); on an app without it, first."""
    middlewares = app.middlewares
    after = middlewares.index(auth_middleware) + 1 if auth_middleware in middlewares else 0
    middlewares.insert(after, inflate_middleware(max_body_bytes))


class InflateRefused(ValueError):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def inflate(raw: bytes, encoding: str, limit: int) -> bytes:
    """``raw`` decoded per ``encoding`` (gzip or deflate), never more than ``limit``
    bytes produced; ``InflateRefused`` otherwise."""
    wbits = INFLATABLE.get(encoding)
    if wbits is None:
        raise InflateRefused(415, "unsupported_encoding",
                             f"Content-Encoding {encoding[:40]!r} is not supported "
                             "(gzip, deflate or none)")
    if encoding == "deflate" and raw[:1] and raw[0] & 0x0F != 8:
        wbits = -zlib.MAX_WBITS  # raw deflate without the zlib header, as aiohttp allows
    inflater = zlib.decompressobj(wbits)
    too_large = InflateRefused(413, "body_too_large",
                               f"the body decompresses to more than {limit} bytes")
    try:
        body = inflater.decompress(raw, limit + 1)
        if len(body) > limit or inflater.unconsumed_tail:
            raise too_large
        body += inflater.flush(limit + 1 - len(body))
    except zlib.error:
        raise InflateRefused(400, "invalid_encoding",
                             f"the body is not valid {encoding} data") from None
    if len(body) > limit:
        raise too_large
    if not inflater.eof or inflater.unused_data:
        raise InflateRefused(400, "invalid_encoding",
                             f"the body is not one complete {encoding} stream")
    return body


def inflate_middleware(limit: int):
    @web.middleware
    async def inflate_body(request: web.Request, handler):
        encoding = request.headers.get("Content-Encoding", "").strip().lower()
        if encoding in ("", "identity") or not request.body_exists:
            return await handler(request)
        plain = request.clone(headers=_plain_headers(request))
        try:
            raw = await request.read()  # the compressed bytes, bounded by client_max_size
        except web.HTTPRequestEntityTooLarge:
            return error_response(413, "body_too_large",
                                  f"the body is larger than {limit} bytes", "body")
        try:
            body = inflate(raw, encoding, limit)
        except InflateRefused as exc:
            return error_response(exc.status, exc.code, exc.message, "body")
        stream = StreamReader(request.protocol, max(2 ** 16, len(body)),  # never pauses
                              loop=asyncio.get_running_loop())
        stream.feed_data(body)
        stream.feed_eof()
        plain._payload = stream  # the handler reads the plain body (read, post, content)
        return await handler(plain)

    return inflate_body


def _plain_headers(request: web.Request):
    headers = request.headers.copy()
    headers.popall("Content-Encoding", None)
    headers.popall("Transfer-Encoding", None)
    headers.popall("Content-Length", None)
    return headers
