"""Inline SVG charts, drawn on the server (no JavaScript, no CDN).

``stacked_columns``: one column per day, stacked by grade. ``stacked_bars``:
one horizontal bar per row (channel, service item, staff), stacked by grade,
with the total at the end. ``funnel_bars``: per node, bars for each count kind.
Colours come from ``console.html.GRADE_COLORS``; every shape has a <title>, so
hovering shows the figure.
"""

from __future__ import annotations

from collections import Counter

from console.html import GRADE_COLORS, e
from ratings.grades import Grade

GRADES = [g.id for g in Grade]
FONT = 'font-family="Noto Sans CJK SC, WenQuanYi Micro Hei, sans-serif"'


def legend() -> str:
    items = "".join(
        f'<span><i style="background:{GRADE_COLORS[g.id]}"></i>{e(g.name_zh)}</span>'
        for g in Grade)
    return f'<div class="legend">{items}</div>'


def stacked_columns(series: dict[str, Counter], width: int = 760, height: int = 220) -> str:
    days = list(series)
    if not days:
        return '<p class="empty">暂无数据</p>'
    top = max([sum(c.values()) for c in series.values()] + [1])
    top = -(-top // 4) * 4  # a multiple of 4: whole numbers on the axis
    left, bottom, pad = 36, 28, 8
    inner_w, inner_h = width - left - pad, height - bottom - pad
    step = inner_w / len(days)
    bar = max(min(step * 0.7, 40), 2)
    parts = [f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" {FONT}>']
    for i in range(5):  # grid lines and axis labels
        v = top * i / 4
        y = pad + inner_h - inner_h * i / 4
        parts.append(f'<line x1="{left}" x2="{width - pad}" y1="{y:.1f}" y2="{y:.1f}" '
                     f'class="grid"/><text x="{left - 4}" y="{y + 4:.1f}" class="axis" '
                     f'text-anchor="end">{v:.0f}</text>')
    every = max(1, len(days) // 10)
    for n, d in enumerate(days):
        x = left + n * step + (step - bar) / 2
        y = pad + inner_h
        for g in reversed(GRADES):  # bad grades at the bottom, where the eye starts
            v = series[d].get(g, 0)
            if not v:
                continue
            h = inner_h * v / top
            y -= h
            parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                         f'fill="{GRADE_COLORS[g]}"><title>{e(d)} '
                         f'{e(Grade.from_id(g).name_zh)}: {v}</title></rect>')
        if n % every == 0:
            parts.append(f'<text x="{x + bar / 2:.1f}" y="{height - 10}" class="axis" '
                         f'text-anchor="middle">{e(d[5:])}</text>')
    parts.append("</svg>")
    return "".join(parts) + legend()


def stacked_bars(rows: dict[str, Counter], labels: dict[str, str] | None = None,
                 width: int = 600, limit: int = 15) -> str:
    """Rows sorted by total, largest first; the share of bad grades in the label."""
    labels = labels or {}
    ordered = sorted(rows.items(), key=lambda kv: -sum(kv[1].values()))[:limit]
    if not ordered:
        return '<p class="empty">暂无数据</p>'
    row_h, label_w, pad = 26, 150, 110
    height = row_h * len(ordered) + 8
    top = max(sum(c.values()) for _, c in ordered) or 1
    inner = width - label_w - pad
    parts = [f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" {FONT}>']
    for n, (name, counts) in enumerate(ordered):
        y = 4 + n * row_h
        total = sum(counts.values())
        bad = sum(counts.get(g.id, 0) for g in Grade if g.is_bad)
        parts.append(f'<text x="{label_w - 8}" y="{y + 16}" class="label" text-anchor="end">'
                     f'{e(labels.get(name, name))}</text>')
        x = float(label_w)
        for g in GRADES:
            v = counts.get(g, 0)
            if not v:
                continue
            w = inner * v / top
            parts.append(f'<rect x="{x:.1f}" y="{y + 3}" width="{w:.1f}" height="{row_h - 8}" '
                         f'fill="{GRADE_COLORS[g]}"><title>{e(labels.get(name, name))} '
                         f'{e(Grade.from_id(g).name_zh)}: {v}</title></rect>')
            x += w
        share = f" · 差评 {bad / total * 100:.0f}%" if total and bad else ""
        parts.append(f'<text x="{x + 6:.1f}" y="{y + 16}" class="value">{total}{share}</text>')
    parts.append("</svg>")
    return "".join(parts)


FUNNEL_COLORS = {"entered": "#2f6db5", "digit": "#62b36f", "invalid": "#e07b39",
                 "no_input": "#c9b458", "timeout": "#a1887f", "hangup": "#c0392b",
                 "completed": "#1f8a4c"}
FUNNEL_LABELS = {"entered": "进入 entered", "digit": "按键 digit", "invalid": "无效 invalid",
                 "no_input": "未输入 no input", "timeout": "超时 timeout",
                 "hangup": "挂机 hangup", "completed": "完成 completed"}


def funnel_top(counts: dict[str, Counter], kinds: tuple[str, ...]) -> int:
    """The largest count drawn: pass one ``top`` to charts put side by side."""
    return max([c.get(k, 0) for c in counts.values() for k in kinds] + [1])


def funnel_bars(nodes: list[str], counts: dict[str, Counter], kinds: tuple[str, ...],
                width: int = 900, top: int | None = None) -> str:
    """Bars per node and kind; ``top`` (the value of a full-width bar) shared by charts
    that are compared, so the same length means the same count."""
    if not nodes:
        return '<p class="empty">暂无统计</p>'
    top = max(top or 0, funnel_top(counts, kinds))
    row_h, label_w = 9, 150
    group_h = row_h * len(kinds) + 8
    height = group_h * len(nodes) + 4
    inner = width - label_w - 50
    parts = [f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" {FONT}>']
    for n, node in enumerate(nodes):
        y0 = 4 + n * group_h
        parts.append(f'<text x="{label_w - 8}" y="{y0 + group_h / 2:.1f}" class="label" '
                     f'text-anchor="end">{e(node)}</text>')
        for k, kind in enumerate(kinds):
            v = counts.get(node, Counter()).get(kind, 0)
            w = inner * v / top
            y = y0 + k * row_h
            parts.append(f'<rect x="{label_w}" y="{y}" width="{max(w, 0.5):.1f}" '
                         f'height="{row_h - 3}" fill="{FUNNEL_COLORS[kind]}"><title>{e(node)} '
                         f'{e(FUNNEL_LABELS[kind])}: {v}</title></rect>'
                         + (f'<text x="{label_w + w + 4:.1f}" y="{y + row_h - 1}" '
                            f'class="small">{v}</text>' if v else ""))
    parts.append("</svg>")
    legend_html = "".join(f'<span><i style="background:{FUNNEL_COLORS[k]}"></i>'
                          f'{e(FUNNEL_LABELS[k])}</span>' for k in kinds)
    return "".join(parts) + f'<div class="legend">{legend_html}</div>'
