"""Readable error pages (Chinese first) for every console route, and Redis outages.

The console's pages are for supervisors, not for programs: an unknown case, an
unknown flow, a bad date, a refused action or an unexpected failure answers an
HTML page in the layout (title, what happened, what to do, a way back), with the
navigation when the request has a session. JSON callers (``/console/api/…`` or
``Accept: application/json``) keep JSON.

Redis away (refused, hung, loading): the console's own client has short
timeouts (``redis_client``), so a page answers within about two seconds with a
503 page that says Redis is unreachable, how long the attempt took and where to
look; it never hangs and never answers a raw 500.
"""

from __future__ import annotations

import asyncio
import logging
import time

from aiohttp import web
from redis.asyncio import BlockingConnectionPool, Redis
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

from console.html import card, e, page

log = logging.getLogger("console")

# What "Redis is away" looks like to a command (MaxConnectionsError and
# BusyLoadingError are ConnectionErrors; asyncio's TimeoutError from a wait_for).
REDIS_DOWN = (RedisConnectionError, RedisTimeoutError, asyncio.TimeoutError)
CONNECT_TIMEOUT_S = 1.0
COMMAND_TIMEOUT_S = 1.5

TITLES = {400: "请求有误", 403: "无权操作", 404: "页面不存在", 405: "不支持的操作",
          409: "状态已变化", 413: "内容过大", 500: "内部错误", 503: "暂时不可用"}
HINTS = {400: "请检查输入后重试。", 403: "如需操作，请联系主管账号。",
         404: "请从菜单重新进入，或检查链接。", 500: "请稍后重试；如果反复出现，请联系运维人员。",
         503: "请稍后重试。"}


def redis_client(url: str, pool_factory=None) -> Redis:
    """The console's own Redis client: short timeouts, one reconnect, a bounded pool.

    The gateway's shared client retries and waits for Redis (right for the
    intake); a page must rather say at once that Redis is away. ``pool_factory``:
    the gateway's (``Context.redis_pool``, sentinel URLs too), else from_url."""
    pool = (pool_factory or BlockingConnectionPool.from_url)(
        url, max_connections=16, timeout=COMMAND_TIMEOUT_S,
        socket_connect_timeout=CONNECT_TIMEOUT_S, socket_timeout=COMMAND_TIMEOUT_S,
        retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)))
    return Redis(connection_pool=pool)


def error_page(request: web.Request, status: int, message: str, title: str = "",
               detail: str = "") -> web.Response:
    """An HTML error page in the console's layout (``message`` plain text)."""
    title = title or TITLES.get(status, "出错了")
    hint = HINTS.get(status, "")
    back = ('<p><a class="button" href="/console/">返回总览</a> '
            + ('<a href="/console/ops">查看运行状态</a>' if status == 503 else "") + "</p>"
            if request.get("user") else
            '<p><a class="button" href="/console/signin">登录</a></p>')
    body = card(f"{e(title)} <small class='sub'>HTTP {status}</small>",
                f'<p class="error-message">{e(message)}</p>'
                + (f'<p class="hint">{e(detail)}</p>' if detail else "")
                + (f'<p class="hint">{e(hint)}</p>' if hint else "") + back, "error")
    resp = page(request, title, body)
    resp.set_status(status)
    return resp


def wants_json(request: web.Request) -> bool:
    accept = request.headers.get("Accept", "")
    return (request.path.startswith("/console/api/")
            or "application/json" in accept and "text/html" not in accept)


def redis_down(request: web.Request, exc: BaseException, took_s: float) -> web.Response:
    log.warning("console: %s %s: Redis unavailable (%s) after %.2f s", request.method,
                request.path, type(exc).__name__, took_s)
    if wants_json(request):
        return web.json_response({"error": "Redis 不可用 redis unavailable"}, status=503)
    return error_page(
        request, 503, "评价数据库 Redis 暂时无法连接，页面数据无法读取。",
        title="Redis 不可用",
        detail=f"{type(exc).__name__}，用时 {took_s:.1f} 秒。评价受理会在 Redis 恢复后继续；"
               "请查看运行状态页或联系运维人员。")


def _message(exc: web.HTTPException) -> str:
    text = exc.text or ""
    if not text or text.startswith(f"{exc.status}:"):  # aiohttp's default ("404: Not Found")
        return {404: "没有这个页面。", 405: "该地址不支持这个操作。"}.get(
            exc.status, TITLES.get(exc.status, "请求未能完成。"))
    return text


@web.middleware
async def readable_errors(request: web.Request, handler):
    started = time.monotonic()
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        if wants_json(request):
            return web.json_response({"error": _message(exc)}, status=exc.status)
        return error_page(request, exc.status, _message(exc))
    except REDIS_DOWN as exc:
        return redis_down(request, exc, time.monotonic() - started)
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("console: %s %s failed", request.method, request.path)
        if wants_json(request):
            return web.json_response({"error": "内部错误 internal error"}, status=500)
        return error_page(request, 500, "处理这个页面时出错了。")
