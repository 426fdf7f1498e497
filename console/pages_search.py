"""Find a call or a rating by its 12345 ticket, item number or the last four digits of
the evaluator's phone, and one timeline page per call and per evaluation.

Where the data is (nothing new is written: there is no ticket index yet):

* the IVR's call summaries, stream ``ivr.outcome.CALLS_STREAM`` (one entry per call at
  its end: Call-ID, ticket, agent, flow and version, keys pressed with their offsets
  from the answer, the submissions' results, the outcome), capped by the IVR at
  ``STREAM_MAXLEN`` entries; the entry id is the time the call ended;
* the evaluation hashes ``ratings.keys.evaluation(id)`` (status, attempts, last_error,
  accepted_at, submitted_at, ``ev``: the Evaluation JSON with the call context, hence
  the ticket), found through the results' per-day guard hashes
  ``ratings.results.seen(day)`` (evaluation id -> 1 for each China day);
* the case ``ratings.results.case(id)`` and its log, when the rating was bad.

Bounds of a search (the date range of the form, 31 days by default, at most
``MAX_DAYS``): the call summaries of that range, newest first, at most ``CALLS_READ``;
the evaluations of those days, at most ``EVS_READ`` (read in pipelines of 500, matched in
a worker thread, never on the gateway's loop; a raw reply is parsed only when it holds
the query). The page says when a bound cut the search short. A ticket → evaluation ids
index written at acceptance (ratings/*) would make this one lookup.

A call's evaluations are derived, not searched: the IVR names them
``ivr.outcome.evaluation_id(Call-ID, item|staff, 1)``. A hotline evaluation finds its
call by its ``source_id`` (the Call-ID) among the summaries written within
``CALL_WINDOW_S`` after its acceptance.

Privacy: a phone number is never in a URL (the search is a POST; a full number typed in
is refused and not echoed), pages show numbers masked, and the voice comment plays for
supervisors only (a viewer gets 403, as on the case page).

Prompts played: the IVR's summary lists them with their times (``prompts``: id,
language, from, to, seconds since the call began at ``began_at``), merged here with the
keys by time. A summary written before it did so has only the keys: then the page
replays them on the flow version the call ran (``flows.simulate``) and says that it is
a replay (a time-out or an invalid key between two presses is not in the summary).
"""

from __future__ import annotations

import asyncio
import json
import re
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path

from aiohttp import web

from console import flow_catalog
from console.html import CHANNEL_LABELS, card, csrf_field, e, grade_badge, page, table
from flows.reasons import REASONS
from flows.simulate import Simulator, SimulatorError
from ivr.context import looks_like_phone
from ivr.outcome import CALLS_STREAM, evaluation_id
from ratings import cases as C
from ratings import keys as rkeys
from ratings import results
from ratings.model import CHINA, mask_phone, mask_phones_in_text

MAX_DAYS = 92
DEFAULT_DAYS = 31
CALLS_READ = 20_000  # call summaries read per search (newest first)
EVS_READ = 100_000  # evaluation records read per search
SHOWN = 100
CALL_WINDOW_S = 15 * 60  # a call's summary is written within this after its rating
STATUS_LABELS = {"accepted": "已受理·待提交 accepted", "submitted": "已提交核心库 submitted",
                 "dead": "核心库拒收 dead letter"}
OUTCOME_LABELS = {"rated": "已评价", "unrated": "未评价", "failed": "失败",
                  "duplicate": "已评价过", "rated_reason_missing": "已评价（未选原因）"}


def _t(v) -> str:
    return v.decode() if isinstance(v, bytes) else ("" if v is None else str(v))


def _fields(raw: dict) -> dict[str, str]:
    return {_t(k): _t(v) for k, v in raw.items()}


def _when(iso: str) -> str:
    try:
        return datetime.fromisoformat(iso).astimezone(CHINA).strftime("%Y-%m-%d %H:%M:%S")
    except (ValueError, TypeError):
        return iso or "—"


def _entry_time(entry_id: str) -> datetime:
    return datetime.fromtimestamp(int(entry_id.split("-")[0]) / 1000, timezone.utc)


def _ids(first: date, last: date) -> tuple[str, str]:
    lo = datetime.combine(first, time(), CHINA)
    hi = datetime.combine(last + timedelta(days=1), time(), CHINA)
    return f"{int(lo.timestamp() * 1000)}", f"{int(hi.timestamp() * 1000) - 1}"


# -- the query -------------------------------------------------------------------------

class Query:
    """What was typed: a ticket / item / call id, or the last four digits of a phone."""

    def __init__(self, text: str):
        self.text = text.strip()[:64]
        self.last4 = self.text if re.fullmatch(r"\d{4}", self.text) else ""
        digits = re.sub(r"\D", "", self.text)
        self.refused = bool(len(digits) >= 7 and looks_like_phone(self.text))

    def matches_call(self, f: dict[str, str]) -> bool:
        return self.text in (f.get("ticket"), f.get("call_id"))

    def matches_ev(self, ev: dict) -> bool:
        target = ev.get("target") or {}
        ctx = ev.get("context") or {}
        if self.text in (ctx.get("ticket"), ctx.get("call_record"), ctx.get("work_order"),
                         target.get("id"), ev.get("source_id"), ev.get("id")):
            return True
        if self.text in (target.get("items") or ()):
            return True
        return bool(self.last4 and (ev.get("phone") or "").endswith(self.last4))


def _match_evs(query: Query, raws: list[tuple[str, bytes | None]]) -> list[dict]:
    """In a worker thread: the evaluations (parsed) that match."""
    needle = (query.last4 or query.text).encode()
    out = []
    for ev_id, raw in raws:
        if not raw or needle not in raw:
            continue
        try:
            ev = json.loads(raw)
        except ValueError:
            continue
        if query.matches_ev(ev):
            ev["_id"] = ev_id
            out.append(ev)
    return out


async def search(redis, query: Query, first: date, last: date) -> dict:
    """Calls and evaluations of first..last that match, with what bounded the search."""
    lo, hi = _ids(first, last)
    calls: list[tuple[str, dict]] = []
    read_calls, cut = 0, []
    if not query.last4:  # the summaries hold no phone number
        while read_calls < CALLS_READ:
            batch = await redis.xrevrange(CALLS_STREAM, max=hi, min=lo, count=1000)
            if not batch:
                break
            for entry_id, raw in batch:
                read_calls += 1
                f = _fields(raw)
                if query.matches_call(f):
                    calls.append((_t(entry_id), f))
            hi = f"({_t(batch[-1][0])}"
        else:
            cut.append(f"来电摘要只读了最近 {CALLS_READ:,} 条 (call summaries)")
    evs: list[dict] = []
    read_evs = 0
    day = last
    while day >= first and read_evs < EVS_READ:
        ids = [_t(x) for x in await redis.hkeys(results.seen(day.isoformat()))]
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500][:EVS_READ - read_evs]
            if not chunk:
                break
            async with redis.pipeline(transaction=False) as pipe:
                for ev_id in chunk:
                    pipe.hget(rkeys.evaluation(ev_id), "ev")
                raws = await pipe.execute()
            read_evs += len(chunk)
            evs += await asyncio.to_thread(_match_evs, query, list(zip(chunk, raws, strict=True)))
        day -= timedelta(days=1)
    if day >= first:
        cut.append(f"评价记录只读了 {EVS_READ:,} 条，{first}–{day} 未查 (evaluations)")
    return {"calls": calls, "evs": evs, "read_calls": read_calls, "read_evs": read_evs,
            "cut": cut}


# -- pages -----------------------------------------------------------------------------

def search_form(request: web.Request, text: str = "", first: date | None = None,
                last: date | None = None) -> str:
    today = datetime.now(CHINA).date()
    first = first or today - timedelta(days=DEFAULT_DAYS - 1)
    last = last or today
    return (f'<form class="filters search-form" method="post" action="/console/search">'
            f'{csrf_field(request)}'
            f'<label>工单号 / 事项号 / 号码后四位 Ticket, item or last 4 digits'
            f'<input name="q" value="{e(text)}" required maxlength="64" '
            f'autocomplete="off" placeholder="例如 GD20261208001 或 5678"></label>'
            f'<label>从 From <input type="date" name="from" value="{first}"></label>'
            f'<label>到 To <input type="date" name="to" value="{last}"></label>'
            f'<button class="button">查找 Find</button></form>')


def _dates(form) -> tuple[date, date]:
    today = datetime.now(CHINA).date()
    try:
        last = date.fromisoformat(str(form.get("to") or today.isoformat()))
        first = date.fromisoformat(str(form.get("from") or
                                       (last - timedelta(days=DEFAULT_DAYS - 1)).isoformat()))
    except ValueError:
        raise web.HTTPBadRequest(
            text="日期格式有误：请按 年-月-日 填写，例如 2026-12-01。") from None
    if first > last:
        first, last = last, first
    return max(first, last - timedelta(days=MAX_DAYS - 1)), last


async def search_page(request: web.Request) -> web.Response:
    if request.method == "GET":
        body = card("查找来电或评价 Find a call or a rating", search_form(request)
                    + '<p class="hint">按 12345 工单号、事项编号（办件号）、通话编号，或评价人号码'
                    "后四位查找。号码只按后四位查找，页面中一律脱敏显示。</p>")
        return page(request, "查找 Find", body)
    form = await request.post()
    query = Query(str(form.get("q", "")))
    first, last = _dates(form)
    if query.refused or not query.text:
        msg = ("请只输入号码的后四位：完整号码不会被查找或显示。"
               "Type only the last four digits of a phone number." if query.refused
               else "请输入工单号、事项号或号码后四位。")
        body = (f'<div class="flash bad">{e(msg)}</div>'
                + card("查找 Find", search_form(request, "", first, last)))
        resp = page(request, "查找 Find", body)
        resp.set_status(400)
        return resp
    found = await search(request.app["redis"], query, first, last)
    shown_text = query.text if not query.last4 else f"号码后四位 {query.last4}"
    rows = []
    call_evs: set[str] = set()
    for entry_id, f in found["calls"][:SHOWN]:
        ids = {evaluation_id(f.get("call_id", ""), t, 1) for t in ("item", "staff")}
        call_evs |= ids
        rows.append([f'<a href="/console/calls/{e(entry_id)}">来电 call</a>',
                     e(_when(_entry_time(entry_id).isoformat())),
                     e(f.get("ticket") or "—"), CHANNEL_LABELS["hotline"],
                     e(OUTCOME_LABELS.get(f.get("outcome", ""), f.get("outcome", ""))),
                     e(", ".join(json.loads(f.get("submitted") or "[]")) or "—"), "—",
                     f'<a href="/console/calls/{e(entry_id)}">时间线 Timeline</a>'])
    for ev in sorted(found["evs"], key=lambda x: x.get("assessed_at", ""), reverse=True):
        if ev["_id"] in call_evs:
            continue  # shown through its call
        if len(rows) >= SHOWN:
            break
        ctx = ev.get("context") or {}
        rows.append([f'<a href="/console/evaluations/{e(ev["_id"])}">评价 rating</a>',
                     e(_when(ev.get("assessed_at", ""))),
                     e(ctx.get("ticket") or (ev.get("target") or {}).get("id") or "—"),
                     CHANNEL_LABELS.get(ev.get("channel"), e(ev.get("channel"))),
                     grade_badge(ev.get("grade", "satisfied")), "—",
                     e(mask_phone(ev.get("phone")) if ev.get("phone") else "—"),
                     f'<a href="/console/evaluations/{e(ev["_id"])}">时间线 Timeline</a>'])
    cut = "".join(f'<p class="flash">{e(x)}</p>' for x in found["cut"])
    note = (f'<p class="hint">{first} 至 {last}：读取来电摘要 {found["read_calls"]:,} 条、'
            f'评价记录 {found["read_evs"]:,} 条；找到 {len(found["calls"])} 通来电、'
            f'{len(found["evs"])} 条评价。</p>')
    body = (card("查找 Find", search_form(request, query.text if not query.last4 else "",
                                         first, last))
            + card(f"“{e(shown_text)}” 的结果 Results", cut + note + table(
                ["类型 Kind", "时间 When", "工单/事项 Ticket", "渠道 Channel",
                 "结果 Outcome / 评价", "提交 Submissions", "号码 Phone", ""], rows)))
    return page(request, "查找结果 Results", body)


# -- timelines -------------------------------------------------------------------------

async def _call_entry(redis, entry_id: str) -> dict | None:
    if not re.fullmatch(r"\d{1,15}-\d{1,10}", entry_id):
        return None
    got = await redis.xrange(CALLS_STREAM, min=entry_id, max=entry_id, count=1)
    return _fields(got[0][1]) if got else None


async def _call_of(redis, call_id: str, accepted_at: str) -> str | None:
    """The summary entry of the call ``call_id`` rated at ``accepted_at``."""
    try:
        at = datetime.fromisoformat(accepted_at)
    except (TypeError, ValueError):
        return None
    lo = int(at.timestamp() * 1000) - 60_000
    hi = lo + (CALL_WINDOW_S + 60) * 1000
    for entry_id, raw in await redis.xrange(CALLS_STREAM, min=lo, max=hi, count=5000):
        if _t(raw.get(b"call_id", raw.get("call_id"))) == call_id:
            return _t(entry_id)
    return None


async def _replay(redis, f: dict[str, str]) -> list[str]:
    """The prompts the recorded keys lead to on the flow version the call ran."""
    flow = await flow_catalog.load_version(redis, f.get("flow", ""), f.get("flow_version", ""))
    if flow is None:
        return []
    ctx = {k: f[k] for k in ("ticket", "agent") if f.get(k)}
    if ctx.get("agent"):
        ctx["staff_id"] = ctx["agent"]

    def run() -> list[str]:
        sim = Simulator(flow, context=ctx)
        lines = sim.begin()
        for digit, *_rest in json.loads(f.get("digits") or "[]"):
            if sim.ended:
                break
            lines.append(f"> {digit}")
            try:
                lines += sim.feed(str(digit))
            except SimulatorError:
                break
        return [x for x in lines if x.startswith(("play", "> "))]

    return await asyncio.to_thread(run)


def _step(when: str, what: str, detail: str = "", tone: str = "") -> str:
    return (f'<li class="{tone}"><span class="t">{e(when)}</span>'
            f'<span class="w">{what}</span>'
            + (f'<span class="d">{detail}</span>' if detail else "") + "</li>")


async def _evaluation_steps(request: web.Request, ev_id: str) -> tuple[list[str], dict | None]:
    """Timeline items of one evaluation: rating, submission, store's answer, case."""
    redis = request.app["redis"]
    rec = _fields(await redis.hgetall(rkeys.evaluation(ev_id)))
    if not rec:
        return [], None
    ev = json.loads(rec.get("ev") or "{}")
    steps = []
    target = ev.get("target") or {}
    who = "话务员 agent " + target.get("staff_id", "") if target.get("kind") == "staff" \
        else {"call": "本次来电 this call", "item": "事项 item"}.get(target.get("kind"), "")
    reasons = "、".join(f"{REASONS.get(r, '')} {r}".strip() for r in ev.get("reasons") or []) \
        or "—"
    comment = mask_phones_in_text(ev.get("comment") or "")
    detail = (f"{e(who)} <code>{e(target.get('id', ''))}</code> · 原因 reasons: {e(reasons)}"
              + (f" · 意见 comment: {e(comment)}" if comment else ""))
    if (ev.get("context") or {}).get("comment_by") == "system":
        detail += " <span class='pill muted'>系统说明 system note</span>"
    steps.append(_step(_when(ev.get("assessed_at", "")),
                       f"评价 {grade_badge(ev.get('grade', 'satisfied'))}", detail))
    if ev.get("voice_comment"):
        if request["user"].may_act:
            player = (f'<audio controls preload="none" '
                      f'src="/console/evaluations/{e(ev_id)}/voice"></audio>')
        else:
            player = '<span class="pill muted">仅主管账号可收听 supervisors only</span>'
        steps.append(_step(_when(ev.get("assessed_at", "")), "语音留言 voice comment", player))
    steps.append(_step(_when(rec.get("accepted_at", "")), "受理 accepted",
                       f"评价编号 <code>{e(ev_id)}</code> · 渠道 "
                       f"{CHANNEL_LABELS.get(ev.get('channel'), e(ev.get('channel')))}"))
    status = rec.get("status", "")
    tone = {"dead": "bad", "submitted": "ok"}.get(status, "")
    answer = (f"状态 status: {e(STATUS_LABELS.get(status, status))} · 提交次数 attempts: "
              f"{e(rec.get('attempts') or '0')}"
              + (f" · 最后错误 last error: {e(mask_phones_in_text(rec['last_error']))}"
                 if rec.get("last_error") else "")
              + (f" · 重新提交 requeued {e(_when(rec['requeued_at']))}"
                 if rec.get("requeued_at") else ""))
    steps.append(_step(_when(rec.get("submitted_at") or rec.get("accepted_at", "")),
                       "核心库答复 store's answer", answer, tone))
    case = await request.app["cases"].get(ev_id)
    if case is not None:
        for h in await request.app["cases"].history(ev_id):
            label = C.LABELS.get(h.get("to", ""), h.get("to", ""))
            steps.append(_step(_when(h.get("at", "")), f"工单 case → {e(label)}",
                               e(f'{h.get("by", "")}：{mask_phones_in_text(h.get("note", ""))}')))
        steps.append(_step("", f'<a href="/console/cases/{e(ev_id)}">工单 Case</a>',
                           f"当前状态 {e(case['status_label'])}"))
    return steps, ev


async def call_timeline(request: web.Request) -> web.Response:
    entry_id = request.match_info["entry_id"]
    redis = request.app["redis"]
    f = await _call_entry(redis, entry_id)
    if f is None:
        raise web.HTTPNotFound(text="没有这通来电的记录（IVR 摘要可能已超出保存条数）。")
    ended = _entry_time(entry_id)
    digits = json.loads(f.get("digits") or "[]")
    steps = [_step("+0.0 s", "来电接通 call answered",
                   f"工单 ticket <code>{e(f.get('ticket') or '—')}</code> · 话务员 agent "
                   f"<code>{e(f.get('agent') or '—')}</code> · 流程 <code>{e(f.get('flow'))}"
                   f"</code> <code>{e(f.get('flow_version', '')[:12])}</code>"
                   + (" · <span class='pill warn'>无工单上下文 context missing</span>"
                      if f.get("context_missing") == "true" else ""))]
    recorded = json.loads(f.get("prompts") or "[]")
    replay = [] if recorded else await _replay(redis, f)
    if f.get("began_at"):
        steps[0] = steps[0].replace('"t">+0.0 s<', f'"t">{e(_when(f["began_at"]))}<', 1)
    timed = sorted([(p[2], 0, p) for p in recorded] + [(d[2], 1, d) for d in digits
                                                       if recorded and len(d) > 2])
    for at, kind, item in timed:
        if kind == 0:
            steps.append(_step(f"+{at:.1f} s", "播放 prompt",
                               f"<code>{e(item[0])}</code> {e(item[1])} · 听了 heard "
                               f"{item[3] - item[2]:.1f} s"))
        else:
            steps.append(_step(f"+{at:.1f} s", f"按键 key <b>{e(item[0])}</b> "
                                               f"({e(item[1])})"))
    presses = iter(digits)
    for line in replay:
        if line.startswith("> "):
            press = next(presses, None)
            when = f"+{press[2]:.1f} s" if press and len(press) > 2 else ""
            how = f" ({e(press[1])})" if press and len(press) > 1 else ""
            steps.append(_step(when, f"按键 key <b>{e(line[2:])}</b>{how}"))
        else:
            prompt = line.split(":", 1)
            steps.append(_step("", "播放 prompt", e(prompt[1].strip() if len(prompt) > 1
                                                    else line)))
    if not replay and not recorded:
        steps += [_step(f"+{d[2]:.1f} s" if len(d) > 2 else "", f"按键 key <b>{e(d[0])}</b>")
                  for d in digits]
    ev_steps = []
    for target in ("item", "staff"):
        ev_id = evaluation_id(f.get("call_id", ""), target, 1)
        got, _ev = await _evaluation_steps(request, ev_id)
        ev_steps += got
    outcome = OUTCOME_LABELS.get(f.get("outcome", ""), f.get("outcome", ""))
    submitted = ", ".join(json.loads(f.get("submitted") or "[]")) or "—"
    steps.append(_step(_when(ended.isoformat()), "通话结束 call ended",
                       f"结果 outcome: {e(outcome)} · 提交 submissions: {e(submitted)}"
                       f" · 会话 session: {e(f.get('status'))}"))
    hint = ('<p class="hint">提示音按记录的按键在该流程版本上重放得出（IVR 摘要未记录提示音；'
            "按键之间的超时或无效按键不在摘要中）。Prompts replayed from the keys.</p>")
    body = (card("来电时间线 Call timeline", '<ol class="timeline">' + "".join(steps) + "</ol>"
                 + (hint if replay else ""))
            + card("评价与提交 Ratings and submission",
                   '<ol class="timeline">' + "".join(ev_steps) + "</ol>" if ev_steps else
                   '<p class="empty">这通来电没有受理的评价。No rating was accepted.</p>'))
    return page(request, f"来电 · 工单 {f.get('ticket') or '—'}", body)


async def evaluation_timeline(request: web.Request) -> web.Response:
    ev_id = request.match_info["ev_id"]
    if not re.fullmatch(r"[0-9A-Za-z_-]{1,64}", ev_id):
        raise web.HTTPNotFound(text="没有这条评价。")
    steps, ev = await _evaluation_steps(request, ev_id)
    if ev is None:
        raise web.HTTPNotFound(text="没有这条评价（记录可能已过保存期）。")
    ctx = ev.get("context") or {}
    call_link = ""
    if ev.get("channel") == "hotline" and ev.get("source_id"):
        entry = await _call_of(request.app["redis"], ev["source_id"],
                               _fields(await request.app["redis"].hgetall(
                                   rkeys.evaluation(ev_id))).get("accepted_at", ""))
        if entry:
            call_link = (f'<p><a class="button" href="/console/calls/{e(entry)}">'
                         "来电时间线 The call's timeline</a></p>")
    facts = (f'<dl class="facts"><dt>工单 Ticket</dt><dd>{e(ctx.get("ticket") or "—")}</dd>'
             f'<dt>号码 Phone</dt><dd>{e(mask_phone(ev.get("phone")) if ev.get("phone") else "—")}'
             f'</dd><dt>流程 Flow</dt><dd>{e(ev.get("flow_id") or "—")} '
             f'<code>{e((ev.get("flow_version") or "")[:12])}</code></dd></dl>')
    body = card("评价时间线 Rating timeline", facts + call_link + '<ol class="timeline">'
                + "".join(steps) + "</ol>")
    return page(request, f"评价 · {ctx.get('ticket') or ev_id[:12]}", body)


async def evaluation_voice(request: web.Request) -> web.StreamResponse:
    if not request["user"].may_act:  # a citizen's voice is evaluator data (seed art. 4)
        raise web.HTTPForbidden(text="仅主管账号可收听语音留言。")
    ev_id = request.match_info["ev_id"]
    raw = await request.app["redis"].hget(rkeys.evaluation(ev_id), "ev")
    voice = (json.loads(raw).get("voice_comment") if raw else None) or ""
    if not voice:
        raise web.HTTPNotFound(text="这条评价没有语音留言。")
    root = Path(request.app["data_dir"]).resolve()
    path = (root / voice).resolve()
    if root not in path.parents or path.suffix.lower() != ".wav" or not path.is_file():
        raise web.HTTPNotFound(text="录音文件不存在（可能已过保存期限被删除）。")
    return web.FileResponse(path, headers={"Content-Type": "audio/wav",
                                           "Cache-Control": "private, no-store"})
