"""The console's audit log: who did what, when, from where.

Every sign-in (success, wrong password, throttled), sign-out, CSV export,
dead-letter retry and case status change made through the console appends one
entry to the Redis stream ``console.keys.AUDIT``:

    at      ISO 8601 UTC of the action
    user    the console user name (for a failed sign-in: the name typed, cut to 64)
    action  one of ``ACTIONS`` (e.g. ``signin.ok``, ``case.move``)
    target  what it was done to (a case id, an evaluation id, an export's filter)
    detail  a short text (the new status, the outcome), phone-like runs masked
    from    the client address as the sign-in throttle sees it: the peer, or behind a
            ``console.trusted_proxies`` proxy the address it appended to X-Forwarded-For

The stream is capped at ``AUDIT_MAXLEN`` entries (approximate trim, oldest first;
at a busy shift's ~2,000 entries a day that is about 100 days) and its TTL is
refreshed to ``AUDIT_TTL_S`` at every entry, so it lives as long as the console
is used. Each entry is also logged (logger ``console.audit``) for the operator's
log retention. An entry that cannot be written (Redis away) is logged and never
fails the action itself.

The console changes no flow definition (flows are files shipped with a release,
``console.flow_catalog``), so there is no flow-change entry; the simulator records
nothing.

Search (``/console/audit``, supervisors only): by user, action and a date range
(China local days). Stream ids are millisecond timestamps, so a date range is an id
range; at most ``AUDIT_READ`` entries of that range are read per page (newest
first), the page shows ``AUDIT_SHOWN`` matches and links to the older ones.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, time, timedelta, timezone

from aiohttp import web

from console import auth
from console.html import card, e, page, table, url
from console.pages_results import date_range
from console.keys import PREFIX
from ratings.model import CHINA, mask_phones_in_text

log = logging.getLogger("console.audit")

AUDIT = f"{PREFIX}:audit"  # stream (no phone number, no session token in an entry)
AUDIT_MAXLEN = 200_000
AUDIT_TTL_S = 400 * 24 * 3600

ACTIONS = {
    "signin.ok": "登录成功 sign-in",
    "signin.fail": "登录失败 wrong password",
    "signin.throttled": "登录受限 throttled",
    "signout": "退出 sign-out",
    "export.csv": "导出 CSV export",
    "dead.retry": "死信重提 dead-letter retry",
    "case.move": "工单状态变更 case status",
}
AUDIT_READ = 20_000  # entries of the chosen date range read for one page
AUDIT_SHOWN = 200


def _t(v) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


async def record(request: web.Request, action: str, *, target: str = "", detail: str = "",
                 user: str | None = None) -> None:
    """Append one entry; never raises (the action itself has happened)."""
    if user is None:
        found = request.get("user")
        user = found.name if found is not None else ""
    fields = {"at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "user": mask_phones_in_text(user)[:64], "action": action,
              "target": mask_phones_in_text(target)[:200],
              "detail": mask_phones_in_text(detail)[:300],
              "from": auth.client_address(request)}
    log.info("audit %s user=%s target=%s from=%s %s", action, fields["user"], fields["target"],
             fields["from"], fields["detail"])
    redis = request.app["redis"]
    try:
        async with redis.pipeline(transaction=True) as pipe:
            pipe.xadd(AUDIT, fields, maxlen=AUDIT_MAXLEN, approximate=True)
            pipe.expire(AUDIT, AUDIT_TTL_S)
            await pipe.execute()
    except Exception as exc:  # noqa: BLE001 - Redis away: logged above, the action stands
        log.warning("audit entry %s not stored (%s)", action, type(exc).__name__)


def day_range_ids(first: date, last: date) -> tuple[str, str]:
    """Stream id bounds of the China-local days first..last."""
    lo = datetime.combine(first, time(), CHINA)
    hi = datetime.combine(last + timedelta(days=1), time(), CHINA)
    return f"{int(lo.timestamp() * 1000)}-0", f"{int(hi.timestamp() * 1000) - 1}-{2**64 - 1}"


async def search(redis, first: date, last: date, user: str = "", action: str = "",
                 before: str = "") -> tuple[list[tuple[str, dict]], str, int]:
    """Matching entries newest first (at most AUDIT_SHOWN), the id to continue before
    (or ""), and how many entries were read."""
    lo, hi = day_range_ids(first, last)
    if before:
        hi = f"({before}"
    out: list[tuple[str, dict]] = []
    read = 0
    while read < AUDIT_READ:
        batch = await redis.xrevrange(AUDIT, max=hi, min=lo, count=500)
        if not batch:
            return out, "", read
        for entry_id, raw in batch:
            read += 1
            f = {_t(k): _t(v) for k, v in raw.items()}
            if user and f.get("user", "") != user:
                continue
            if action and f.get("action", "") != action:
                continue
            out.append((_t(entry_id), f))
            if len(out) >= AUDIT_SHOWN:
                return out, _t(entry_id), read
        hi = f"({_t(batch[-1][0])}"
    return out, hi[1:], read


async def audit_page(request: web.Request) -> web.Response:
    if not request["user"].may_act:
        raise web.HTTPForbidden(text="审计日志仅主管账号可查看。")
    first, last = date_range(request, 7)
    user = request.query.get("user", "")[:64]
    action = request.query.get("action", "")
    if action and action not in ACTIONS:
        raise web.HTTPBadRequest(text="没有这种操作类型。")
    before = request.query.get("before", "")
    if before and not before.replace("-", "").isdigit():
        raise web.HTTPBadRequest(text="分页参数有误。")
    found, more, read = await search(request.app["redis"], first, last, user, action, before)
    rows = []
    for _id, f in found:
        try:
            when = datetime.fromisoformat(f.get("at", "")).astimezone(CHINA)
            shown = when.strftime("%Y-%m-%d %H:%M:%S")
        except ValueError:
            shown = f.get("at", "")
        rows.append([e(shown), e(f.get("user", "")),
                     e(ACTIONS.get(f.get("action", ""), f.get("action", ""))),
                     f"<code>{e(f['target'])}</code>" if f.get("target") else "",
                     e(f.get("detail", "")),
                     e(f.get("from", ""))])
    opts = '<option value="">全部 all</option>' + "".join(
        f'<option value="{k}" {"selected" if k == action else ""}>{e(v)}</option>'
        for k, v in ACTIONS.items())
    form = (f'<form class="filters" method="get" action="/console/audit">'
            f'<label>用户 User <input name="user" value="{e(user)}" size="10"></label>'
            f'<label>操作 Action <select name="action">{opts}</select></label>'
            f'<label>从 From <input type="date" name="from" value="{first}"></label>'
            f'<label>到 To <input type="date" name="to" value="{last}"></label>'
            f'<button class="button">查询 Search</button></form>')
    older = ""
    if more:
        href = url("/console/audit", user=user, action=action, before=more,
                   **{"from": first.isoformat(), "to": last.isoformat()})
        older = f'<p><a href="{e(href)}">更早的记录 Older entries →</a></p>'
    note = (f'<p class="hint">显示 {len(found)} 条（本页读取 {read} 条）。日志保留最近 '
            f'{AUDIT_MAXLEN:,} 条。Newest first.</p>')
    body = form + card("审计日志 Audit log", note + '<div class="scroll">' + table(
        ["时间 When", "用户 User", "操作 Action", "对象 Target", "详情 Detail", "来源 From"],
        rows, "audit") + "</div>" + older)
    return page(request, "审计日志 Audit log", body, "/console/ops")


# -- wrappers for handlers in modules the audit does not own ---------------------------

async def audited_cases_csv(request: web.Request, handler) -> web.StreamResponse:
    resp = await handler(request)
    if resp.status == 200:
        await record(request, "export.csv", target="cases.csv",
                     detail=f"status={request.query.get('status', 'open')}")
    return resp


async def audited_case_move(request: web.Request, handler) -> web.StreamResponse:
    """A case step: audited when it applied (the handler redirects to the case without
    an ``error`` parameter)."""
    case_id = request.match_info.get("case_id", "")
    form = await request.post()
    try:
        return await handler(request)
    except web.HTTPSeeOther as done:
        if "error=" not in (done.location or ""):
            await record(request, "case.move", target=case_id,
                         detail=f"{form.get('from', '')} → {form.get('to', '')}")
        raise
