"""Results (grade distribution over time, by channel, service item, staff) and the funnel."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta

from aiohttp import web

from console import charts, flow_catalog
from console.html import CHANNEL_LABELS, card, e, page, pct, stat, table, url
from ratings import results
from ratings.grades import Grade
from ratings.model import CHINA

MAX_DAYS = 366
# the funnel: kinds drawn (when either compared version has them) and the table's columns
# after entered, hang-ups and the hang-up rate (first: no horizontal scroll to reach them)
CHART_KINDS = ("entered", "invalid", "no_input", "timeout", "hangup", "completed")
TABLE_KINDS = tuple(k for k in results.FUNNEL_KINDS if k not in ("entered", "hangup"))
NONE_LABEL = {results.NONE: "未标注 none"}


def date_range(request: web.Request, default_days: int = 30) -> tuple[date, date]:
    today = datetime.now(CHINA).date()
    try:
        last = date.fromisoformat(request.query.get("to") or today.isoformat())
        first = date.fromisoformat(request.query.get("from")
                                   or (last - timedelta(days=default_days - 1)).isoformat())
    except ValueError:
        raise web.HTTPBadRequest(
            text="日期格式有误：请按 年-月-日 填写，例如 2026-12-01。") from None
    if first > last:
        first, last = last, first
    first = max(first, last - timedelta(days=MAX_DAYS - 1))
    return first, last


def _range_form(path: str, first: date, last: date, extra: str = "") -> str:
    return (f'<form class="filters" method="get" action="{path}">{extra}'
            f'<label>从 From <input type="date" name="from" value="{first}"></label>'
            f'<label>到 To <input type="date" name="to" value="{last}"></label>'
            f'<button class="button">查询 Apply</button></form>')


def _grade_table(rows: dict[str, Counter], labels: dict[str, str] | None = None,
                 limit: int = 50) -> str:
    labels = labels or {}
    out = []
    for name, counts in sorted(rows.items(), key=lambda kv: -sum(kv[1].values()))[:limit]:
        total = sum(counts.values())
        bad = sum(counts.get(g.id, 0) for g in Grade if g.is_bad)
        mean = sum(Grade.from_id(g).score * v for g, v in counts.items()) / total if total else 0
        out.append([e(labels.get(name, name))] + [str(counts.get(g.id, 0)) for g in Grade]
                   + [str(total), f"{mean:.2f}", pct(bad / total if total else None)])
    return table(["", *[e(g.name_zh) for g in Grade], "合计 Total", "均分 Score",
                  "差评率 Bad"], out, "num")


async def results_page(request: web.Request) -> web.Response:
    first, last = date_range(request)
    r = await results.load_results(request.app["redis"], first, last)
    total = r.total
    n = sum(total.values())
    bad = sum(total.get(g.id, 0) for g in Grade if g.is_bad)
    head = ('<div class="stats">'
            + stat("评价总数 Evaluations", n)
            + stat("满意率 Satisfied", pct(r.satisfaction()), "非常满意+满意+基本满意")
            + stat("平均分 Mean score", f"{r.mean_score():.2f}" if n else "—", "满分 10")
            + stat("差评 Bad ratings", bad, "不满意+非常不满意", "bad" if bad else "")
            + stat("已剔除 Excluded", sum(r.excluded.values()), "误评/恶意差评")
            + stat("追加评价 Follow-ups", sum(r.follow_ups.values()))
            + "</div>")
    body = (_range_form("/console/results", first, last) + head
            + card("每日评价分布 Grades per day", charts.stacked_columns(r.by_day))
            + '<div class="two">'
            + card("按渠道 By channel",
                   charts.stacked_bars(r.by_channel, CHANNEL_LABELS, width=480)
                   + _grade_table(r.by_channel, CHANNEL_LABELS))
            + card("按事项 By service item (taskCode)",
                   charts.stacked_bars(r.by_task, NONE_LABEL, width=480)
                   + _grade_table(r.by_task, NONE_LABEL))
            + "</div>"
            + card("按工作人员 By staff member（仅对工作人员的评价 staff ratings only）",
                   charts.stacked_bars(r.by_staff, NONE_LABEL, width=1000)
                   + _grade_table(r.by_staff, NONE_LABEL)))
    return page(request, "评价结果 Results", body, "/console/results")


async def overview_page(request: web.Request) -> web.Response:
    redis = request.app["redis"]
    first, last = date_range(request, 14)
    r = await results.load_results(redis, first, last)
    counts = await request.app["cases"].counts()
    n = sum(r.total.values())
    open_cases = counts["pending_callback"] + counts["called_back"] + counts["rectifying"]
    head = ('<div class="stats">'
            + stat("近14天评价 Evaluations (14 d)", n)
            + stat("满意率 Satisfied", pct(r.satisfaction()))
            + stat("待处理差评 Open cases", open_cases,
                   '<a href="/console/cases?status=open">查看 view</a>')
            + stat("超期 Overdue", counts["overdue"],
                   f'未回访 {counts.get("overdue_callback", counts["overdue"])} · '
                   f'整改超期 {counts.get("overdue_rectification", 0)}',
                   "bad" if counts["overdue"] else "")
            + "</div>")
    body = (head + card("近14天评价分布 Grades, last 14 days",
                        charts.stacked_columns(r.by_day))
            + '<div class="two">'
            + card("按渠道 By channel",
                   charts.stacked_bars(r.by_channel, CHANNEL_LABELS, width=480))
            + card("评价最多的事项 Items with most ratings",
                   charts.stacked_bars(r.by_task, NONE_LABEL, width=480, limit=6))
            + "</div>")
    return page(request, "总览 Overview", body, "/console/")


async def funnel_page(request: web.Request) -> web.Response:
    redis = request.app["redis"]
    shipped = await flow_catalog.ashipped()
    flow_id = request.query.get("flow") or next(iter(sorted(shipped)), "")
    versions = [v for v in await flow_catalog.versions(redis, flow_id) if v.in_stats]
    chosen = request.query.get("v") or (versions[-1].version if versions else "")
    compare = request.query.get("compare", "")
    flow_opts = "".join(f'<option value="{e(f)}" {"selected" if f == flow_id else ""}>'
                        f'{e(fl.name)}</option>' for f, (fl, _t) in sorted(shipped.items()))

    def vopts(selected: str, blank: bool) -> str:
        opts = ['<option value="">—</option>'] if blank else []
        opts += [f'<option value="{e(v.version)}" {"selected" if v.version == selected else ""}>'
                 f'{e(v.version[:12])}{" (当前)" if v.shipped else ""}</option>'
                 for v in versions]
        return "".join(opts)

    form = (f'<form class="filters" method="get" action="/console/funnel">'
            f'<label>流程 Flow <select name="flow">{flow_opts}</select></label>'
            f'<label>版本 Version <select name="v">{vopts(chosen, False)}</select></label>'
            f'<label>对比 Compare with <select name="compare">{vopts(compare, True)}'
            f'</select></label><button class="button">查看 Show</button></form>')
    columns = [v for v in [chosen] + ([compare] if compare and compare != chosen else [])
               if v]
    flow = shipped.get(flow_id, (None, ""))[0]
    node_order = list(flow.nodes) if flow else []
    loaded = {v: await results.load_funnel(redis, flow_id, v) for v in columns}
    # the kinds either version has (an SMS flow's time-outs, a call's hang-ups), one
    # scale for both charts so the same bar length is the same count
    kinds = tuple(k for k in CHART_KINDS if k in ("entered", "completed") or any(
        c.get(k, 0) for counts in loaded.values() for c in counts.values()))
    top = max([charts.funnel_top(counts, kinds) for counts in loaded.values()] + [1])
    blocks = []
    for version, counts in loaded.items():
        nodes = [n for n in node_order if n in counts] + sorted(
            n for n in counts if n not in node_order)
        rows = []
        for node in nodes:
            c = counts[node]
            entered = c.get("entered", 0)
            rows.append([f"<code>{e(node)}</code>", str(entered), str(c.get("hangup", 0)),
                         pct(c.get("hangup", 0) / entered if entered else None)]
                        + [str(c.get(k, 0)) for k in TABLE_KINDS])
        blocks.append(card(
            f"版本 <code>{e(version[:12])}</code>",
            charts.funnel_bars(nodes, counts, kinds, width=900 if len(columns) == 1 else 520,
                               top=top)
            + table(["节点 Node", e(charts.FUNNEL_LABELS["entered"]),
                     e(charts.FUNNEL_LABELS["hangup"]), "挂机率 Hang-up",
                     *[e(charts.FUNNEL_LABELS[k]) for k in TABLE_KINDS]], rows, "num")))
    if not blocks:
        blocks.append(card("无统计 No statistics", '<p class="empty">该流程尚无统计数据。</p>'))
    diff_link = ""
    if len(columns) == 2:
        href = url(f"/console/flows/{flow_id}/diff", a=columns[1], b=columns[0])
        diff_link = (f'<p><a href="{e(href)}">'
                     "查看两个版本的差异 Read the diff of these versions</a></p>")
    body = form + diff_link + f'<div class="{"two" if len(blocks) == 2 else ""}">' \
        + "".join(blocks) + "</div>"
    return page(request, "漏斗 Funnel", body, "/console/funnel")
