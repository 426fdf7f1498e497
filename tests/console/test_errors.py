"""Console routes answer readable HTML error pages in Chinese (unknown case, unknown flow,
bad date, unknown page, refused status change), JSON callers keep JSON, and the grade
badges' text contrast passes WCAG AA (4.5:1) as computed from console.css."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path

import pytest

from console.html import grade_badge
from ratings import results
from ratings.grades import Grade
from ratings.model import Channel, Evaluation, Target, TargetKind
from tests.console.test_app_inprocess import serve, sign_in

CSS = Path(__file__).resolve().parents[2] / "console" / "static" / "console.css"
CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.mark.parametrize("path,status,words", [
    ("/console/cases/" + "f" * 32, 404, "没有编号为"),
    ("/console/cases/" + "f" * 32 + "/voice", 404, "没有语音留言"),
    ("/console/flows/no-such-flow", 404, "没有名为“no-such-flow”的流程"),
    ("/console/flows/no-such-flow/simulate", 404, "没有名为"),
    ("/console/results?from=2026-13-45", 400, "日期格式有误"),
    ("/console/?to=yesterday", 400, "日期格式有误"),
    ("/console/no-such-page", 404, "没有这个页面"),
])
async def test_errors_are_readable_pages_in_chinese(aredis, tmp_path, path, status, words):
    server = await serve(aredis, tmp_path)
    try:
        session, _csrf = await sign_in(server, "sup")
        async with session.get(path) as resp:
            text = await resp.text()
            assert resp.status == status and resp.content_type == "text/html", text[:300]
        assert words in text and 'class="card error"' in text
        assert "运行状态" in text and "返回总览" in text  # the menu and a way back
        assert "{" not in text.split("<main>")[1].split("</main>")[0]  # no JSON in the page
        async with session.get(path, headers={"Accept": "application/json"}) as resp:
            assert resp.status == status and resp.content_type == "application/json"
        await session.close()
    finally:
        await server.close()


async def test_a_refused_status_change_is_explained_in_chinese(aredis, tmp_path):
    ev = Evaluation(target=Target(TargetKind.ITEM, "P-1"), channel=Channel.HOTLINE,
                    grade=Grade.DISSATISFIED, assessed_at=datetime.now(timezone.utc),
                    reasons=("attitude",), phone="+8613912345678")
    await results.record_accepted(aredis, ev)
    server = await serve(aredis, tmp_path)
    try:
        session, csrf = await sign_in(server, "sup")
        async with session.post(f"/console/cases/{ev.id}/move", data={
                "_csrf": csrf, "from": "pending_callback", "to": "malicious"}) as resp:
            text = await resp.text()  # excluded only after a callback (issue 10)
        assert "当前状态下不能进行这个操作" in text and "not allowed" not in text
        async with session.post(f"/console/cases/{ev.id}/move", data={
                "_csrf": csrf, "from": "pending_callback", "to": "called_back",
                "verification": "untrue"}) as resp:
            text = await resp.text()
        assert "须在备注中写明理由" in text and "needs" not in text  # untrue: say why
        async with session.post(f"/console/cases/{ev.id}/move", data={
                "_csrf": csrf, "from": "pending_callback", "to": "called_back"}) as resp:
            assert resp.status == 200
        async with session.post(f"/console/cases/{ev.id}/move", data={  # a second supervisor
                "_csrf": csrf, "from": "pending_callback", "to": "called_back"}) as resp:
            text = await resp.text()
        assert "已被他人处理（现为“已回访”）" in text and "already" not in text
        async with session.post(f"/console/cases/{ev.id}/move", data={  # no CSRF token
                "from": "called_back", "to": "rectifying"}) as resp:
            text = await resp.text()
            assert resp.status == 403 and resp.content_type == "text/html"
        assert "CSRF" in text and CJK.search(text.split("<main>")[1])
        await session.close()
    finally:
        await server.close()


def _luminance(hex_colour: str) -> float:
    channels = [int(hex_colour.lstrip("#")[i:i + 2], 16) / 255 for i in (0, 2, 4)]
    lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def contrast(a: str, b: str) -> float:
    hi, lo = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_grade_badges_have_text_contrast_of_at_least_4_5():
    assert round(contrast("#e07b39", "#ffffff"), 2) == 2.97  # the old 不满意 badge
    css = CSS.read_text()
    for grade in Grade:
        assert f"g-{grade.id}" in grade_badge(grade.id)
        rule = re.search(r"\.badge\.g-" + grade.id + r"\s*\{([^}]*)\}", css)
        assert rule, grade.id
        background = re.search(r"background:\s*(#[0-9a-fA-F]{6})", rule.group(1)).group(1)
        colour = re.search(r"(?<![-\w])color:\s*(#[0-9a-fA-F]{3,6})", rule.group(1)).group(1)
        colour = colour if len(colour) == 7 else "#" + "".join(c * 2 for c in colour[1:])
        assert contrast(background, colour) >= 4.5, (grade.id, background, colour)
