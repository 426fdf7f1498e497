"""Server-side HTML: the page layout, escaping helpers and small widgets.

Every value that comes from data goes through ``e()`` (html.escape); pages are
built from these helpers, so no template engine and no front-end build.
"""

from __future__ import annotations

import html
from pathlib import Path
from string import Template
from urllib.parse import urlencode

from aiohttp import web

from ratings.grades import Grade

LAYOUT = Template((Path(__file__).parent / "templates" / "layout.html").read_text("utf-8"))
NAV = (("/console/", "总览", "Overview"), ("/console/flows", "流程", "Flows"),
       ("/console/funnel", "漏斗", "Funnel"), ("/console/results", "评价结果", "Results"),
       ("/console/cases", "差评工单", "Bad ratings"), ("/console/ops", "运行状态", "Operations"))
GRADE_COLORS = {"very_satisfied": "#1f8a4c", "satisfied": "#62b36f",
                "basically_satisfied": "#c9b458", "dissatisfied": "#e07b39",
                "very_dissatisfied": "#c0392b"}
CHANNEL_LABELS = {"hotline": "热线按键 hotline", "sms": "短信 SMS", "api": "接口 API"}


def e(value) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def url(path: str, **params) -> str:
    query = urlencode({k: v for k, v in params.items() if v not in (None, "")})
    return f"{path}?{query}" if query else path


def page(request: web.Request, title: str, body: str, active: str = "") -> web.Response:
    user = request.get("user")
    nav = "".join(
        f'<a class="{"on" if href == active else ""}" href="{href}">{zh}'
        f'<small>{en}</small></a>' for href, zh, en in NAV)
    who = ""
    if user is not None:
        role = "主管" if user.may_act else "只读"
        who = (f'<span class="who">{e(user.name)} · {role}</span>'
               f'<form method="post" action="/console/signout" class="inline">'
               f'{csrf_field(request)}<button class="link">退出 Sign out</button></form>')
    # on a phone the menu and sign-out fold behind this button (console.js toggles it)
    menu = ('<button type="button" class="menu-toggle" aria-controls="site-nav" '
            'aria-expanded="false">菜单 Menu</button>' if user is not None else "")
    # the search box (console.pages_search): a POST, so no digits of a phone in a URL
    search = ('<form class="top-search" method="post" action="/console/search" '
              f'role="search">{csrf_field(request)}<input name="q" maxlength="64" required '
              'aria-label="查找工单号、事项号或号码后四位" placeholder="工单号 / 号码后四位" '
              'autocomplete="off"><button class="button small">查找</button></form>'
              '<a class="top-search-link" href="/console/search">查找</a>'
              if user is not None else "")
    text = LAYOUT.substitute(title=e(title), nav=nav if user else "", who=who, body=body,
                             menu=menu, csrf=e(request.get("csrf", "")), search=search)
    return web.Response(text=text, content_type="text/html", charset="utf-8",
                        headers={"Cache-Control": "no-store",
                                 "Content-Security-Policy":
                                     "default-src 'self'; img-src 'self' data:; "
                                     "style-src 'self' 'unsafe-inline'; media-src 'self'",
                                 "X-Frame-Options": "DENY",
                                 "Referrer-Policy": "same-origin"})


def csrf_field(request: web.Request) -> str:
    return f'<input type="hidden" name="_csrf" value="{e(request.get("csrf", ""))}">'


def table(headers: list[str], rows: list[list[str]], cls: str = "") -> str:
    """``rows`` hold HTML already escaped by the caller."""
    head = "".join(f"<th>{h}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    if not rows:
        body = f'<tr><td colspan="{len(headers)}" class="empty">暂无数据 No data</td></tr>'
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def card(title: str, body: str, extra: str = "") -> str:
    return f'<section class="card {extra}"><h2>{title}</h2>{body}</section>'


def stat(label: str, value, note: str = "", tone: str = "") -> str:
    return (f'<div class="stat {tone}"><div class="v">{e(value)}</div>'
            f'<div class="l">{label}</div><div class="n">{note}</div></div>')


def grade_badge(grade_id: str) -> str:
    g = Grade.from_id(grade_id)
    # colours in console.css (.badge.g-<grade>): text contrast >= 4.5:1 (WCAG AA), tested
    return f'<span class="badge g-{g.id}">{e(g.name_zh)}</span>'


def pct(x: float | None) -> str:
    return "—" if x is None else f"{x * 100:.1f}%"
