"""Operations: active calls, outbox, dead letters (with retry), SMS, Redis and store health."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

import aiohttp
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families
from console import audit
from console.errors import REDIS_DOWN
from console.html import card, csrf_field, e, page, stat, table, url
from ratings import keys as rkeys
from ratings.model import CHINA
from sms import keys as skeys

log = logging.getLogger("console.ops")
SMS_SCAN_LIMIT = 50_000  # message records read for the SMS figures (30-day TTL)
DEAD_SHOWN = 50
HEALTH_TIMEOUT_S = 2.5  # the gateway's probes (Redis ping, core store) on this page

# Re-queue a dead-lettered evaluation: only while its status is still "dead", in
# one script: status back to accepted, a new outbox entry with the same id, ev
# and covers (the store's idempotency key is the evaluation id + item, so a
# record the store did take is answered DUPLICATE), and the dead entry removed.
RETRY_LUA = """
-- KEYS[1] evaluation hash, KEYS[2] outbox, KEYS[3] dead stream; ARGV[1] dead entry id,
-- ARGV[2] evaluation id, ARGV[3] now iso
if redis.call('HGET', KEYS[1], 'status') ~= 'dead' then
  redis.call('XDEL', KEYS[3], ARGV[1])
  return 0
end
local ev = redis.call('HGET', KEYS[1], 'ev')
if not ev then return -1 end
local covers = redis.call('HGET', KEYS[1], 'covers') or ''
redis.call('XADD', KEYS[2], '*', 'id', ARGV[2], 'ev', ev, 'covers', covers)
redis.call('HSET', KEYS[1], 'status', 'accepted', 'requeued_at', ARGV[3])
redis.call('XDEL', KEYS[3], ARGV[1])
return 1
"""


def _t(v) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def pool_active_calls(registry) -> int | None:
    """Live calls of the IVR pool this gateway runs (``hcp_ivr_pool_active_calls``)."""
    if registry is None:
        return None
    found = None
    for family in registry.collect():
        if family.name == "hcp_ivr_pool_active_calls":
            found = (found or 0) + int(sum(s.value for s in family.samples))
    return found


async def active_calls(urls: tuple[str, ...], registry=None) -> tuple[int | None, list[str]]:
    """Calls of the in-process IVR pool plus hcp_ivr_active_calls of external workers."""
    pooled = pool_active_calls(registry)
    if not urls:
        return pooled, []
    total, problems = pooled or 0, []
    timeout = aiohttp.ClientTimeout(total=2)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        for u in urls:
            try:
                async with session.get(u) as resp:
                    text = await resp.text()
                for family in text_string_to_metric_families(text):
                    if family.name == "hcp_ivr_active_calls":
                        total += int(sum(s.value for s in family.samples))
            except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as exc:
                problems.append(f"{u}: {type(exc).__name__}")
    return total, problems


async def sms_figures(redis) -> dict[str, int]:
    out = {"sent": 0, "delivered": 0, "failed": 0, "scanned": 0}
    keys_seen = []
    async for key in redis.scan_iter(match=f"{skeys.PREFIX}:msg:*", count=1000):
        keys_seen.append(key)
        if len(keys_seen) >= SMS_SCAN_LIMIT:
            break
    for i in range(0, len(keys_seen), 500):
        async with redis.pipeline(transaction=False) as pipe:
            for key in keys_seen[i:i + 500]:
                pipe.hgetall(key)
            for rec in await pipe.execute():
                states = [_t(v) for k, v in rec.items() if _t(k).startswith("s:")]
                if not states:
                    continue
                out["scanned"] += 1
                if any(s in ("failed", "expired") for s in states):
                    out["failed"] += 1
                elif all(s == "delivered" for s in states):
                    out["delivered"] += 1
                else:
                    out["sent"] += 1
    out["optouts"] = int(await redis.scard(skeys.OPTOUT))
    out["due"] = int(await redis.zcard(skeys.DUE))
    return out


async def ops_page(request: web.Request) -> web.Response:
    if request.get("redis_down") is not None:  # found by the session check just now
        return await _ops_without_redis(request, request["redis_down"])
    try:
        return await _ops_page(request)
    except REDIS_DOWN as exc:
        return await _ops_without_redis(request, exc)


async def _health(app) -> dict:
    """The gateway's probes, bounded: a hung Redis must not hold the page."""
    try:
        return await asyncio.wait_for(app["health"](), HEALTH_TIMEOUT_S)
    except asyncio.TimeoutError:
        return {"redis": "probe timed out", "store": None, "store_unknown": True}


async def _ops_without_redis(request: web.Request, exc: BaseException) -> web.Response:
    """What this process still knows while Redis is away: the outage itself, the core
    store's probe and the live calls; the outbox and dead letters live in Redis."""
    log.warning("operations page: Redis unavailable (%s)", type(exc).__name__)
    app = request.app
    calls, call_problems = await active_calls(app["ivr_metrics_urls"], app["metrics_registry"])
    health = await _health(app)
    store = ("未知：探测超时 unknown (probe timed out)" if health.get("store_unknown")
             else health.get("store") or "")
    rows = [["Redis", _ok("down"), e(f"无法连接 unreachable: {type(exc).__name__}。"
                                      "待提交、死信与短信数字暂不可读。")],
            ["核心评价库 Core store", _ok(health.get("store") or health.get("store_unknown")),
             e(store)]]
    rows += [["IVR metrics", _ok(p), e(p)] for p in call_problems]
    body = ('<div class="flash bad">Redis 不可用：评价受理与提交在 Redis 恢复后继续，'
            '本页只显示无需 Redis 的状态。Redis is unreachable.</div>'
            '<div class="stats">'
            + stat("进行中通话 Active calls", "—" if calls is None else calls, "IVR workers")
            + stat("Redis", "不可用", type(exc).__name__, "bad") + "</div>"
            + card("健康状况 Health", table(["组件 Part", "状态", "详情 Detail"], rows)))
    resp = page(request, "运行状态 Operations", body, "/console/ops")
    resp.set_status(503)
    return resp


async def _ops_page(request: web.Request) -> web.Response:
    app = request.app
    redis = app["redis"]
    calls, call_problems = await active_calls(app["ivr_metrics_urls"], app["metrics_registry"])
    outbox_len = await redis.xlen(rkeys.OUTBOX)
    try:
        pending = (await redis.xpending(rkeys.OUTBOX, rkeys.OUTBOX_GROUP))["pending"]
    except Exception:  # noqa: BLE001 - no group yet: nothing pending
        pending = 0
    dead_len = await redis.xlen(rkeys.DEAD)
    dead = await redis.xrevrange(rkeys.DEAD, count=DEAD_SHOWN)
    sms = await sms_figures(redis)
    health = await _health(app)
    info = await redis.info()
    stats = ('<div class="stats">'
             + stat("进行中通话 Active calls", "—" if calls is None else calls,
                    "本进程未运行 IVR 池，且未配置指标地址" if calls is None else "IVR workers")
             + stat("待提交 Outbox", outbox_len, f"处理中 pending {pending}")
             + stat("死信 Dead letters", dead_len, "核心库拒收", "bad" if dead_len else "")
             + stat("短信 已发送 SMS sent", sms["sent"] + sms["delivered"] + sms["failed"],
                    f'送达 {sms["delivered"]} · 失败 {sms["failed"]}',
                    "bad" if sms["failed"] else "")
             + stat("退订 Opt-outs", sms["optouts"], f'待发提醒 due {sms["due"]}')
             + "</div>")
    rows = []
    for entry_id, fields in dead:
        f = {_t(k): _t(v) for k, v in fields.items()}
        action = ""
        if request["user"].may_act:
            action = (f'<form method="post" action="/console/ops/dead/{e(_t(entry_id))}/retry">'
                      f'{csrf_field(request)}'
                      f'<input type="hidden" name="id" value="{e(f.get("id"))}">'
                      '<button class="button small">重新提交 Retry</button></form>')
        when = f.get("dead_at", "")
        when = datetime.fromisoformat(when).astimezone(CHINA).strftime("%m-%d %H:%M") \
            if when else ""
        rows.append([f"<code>{e(f.get('id', '')[:12])}</code>", e(when),
                     e(f.get("status", "")), e(f.get("reason", "")), action])
    health_rows = [
        ["Redis", _ok(health.get("redis")), e(f'{_t(info.get("redis_version", ""))} · 内存 '
                                              f'{_t(info.get("used_memory_human", ""))} · 连接 '
                                              f'{info.get("connected_clients", "")} · AOF '
                                              f'{"on" if info.get("aof_enabled") else "off"}')],
        ["核心评价库 Core store", _ok(health.get("store")), e(health.get("store") or "")],
    ]
    for p in call_problems:
        health_rows.append(["IVR metrics", _ok(p), e(p)])
    flash = f'<div class="flash">{e(request.query["msg"])}</div>' if request.query.get("msg") \
        else ""
    links = ('<p class="links"><a href="/console/search">查找来电或评价 Find a call</a>'
             + (' · <a href="/console/audit">审计日志 Audit log</a>'
                if request["user"].may_act else "") + "</p>")
    body = (flash + links + stats
            + card("健康状况 Health", table(["组件 Part", "状态", "详情 Detail"], health_rows))
            + card(f"死信 Dead letters (最近 {DEAD_SHOWN})",
                   table(["评价 Evaluation", "时间 When", "HTTP", "核心库原因 Store's reason", ""],
                         rows)))
    return page(request, "运行状态 Operations", body, "/console/ops")


def _ok(problem) -> str:
    return ('<span class="pill ok">正常 OK</span>' if not problem
            else '<span class="pill bad">异常</span>')


async def dead_retry(request: web.Request) -> web.Response:
    entry_id = request.match_info["entry_id"]
    form = await request.post()
    ev_id = str(form.get("id", ""))
    redis = request.app["redis"]
    script = request.app["retry_script"]
    done = int(await script(keys=[rkeys.evaluation(ev_id), rkeys.OUTBOX, rkeys.DEAD],
                            args=[entry_id, ev_id, datetime.now(CHINA).isoformat()]))
    await rkeys.ensure_outbox_group(redis)
    msg = {1: "已重新提交 Re-queued", 0: "该评价已不在死信中 Already re-queued",
           -1: "评价记录已过期，无法重提 Record expired"}[done]
    log.info("dead letter %s retry by %s: %s", ev_id, request["user"].name, done)
    await audit.record(request, "dead.retry", target=ev_id,
                       detail={1: "requeued", 0: "already requeued", -1: "expired"}[done])
    raise web.HTTPSeeOther(url("/console/ops", msg=msg))
