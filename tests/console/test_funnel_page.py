"""The funnel page: hang-ups next to the entries (no sideways scroll to reach them), the
SMS chart draws time-outs, and two compared versions share one scale (issue 13)."""

from __future__ import annotations

import re

from ratings.funnel import funnel, funnel_versions
from tests.console.test_app_inprocess import serve, sign_in


async def _stats(aredis, flow_id, version, counts, first_seen):
    await aredis.hset(funnel(flow_id, version), mapping={
        f"{node}|{kind}": v for node, kinds in counts.items() for kind, v in kinds.items()})
    await aredis.zadd(funnel_versions(flow_id), {version: first_seen})


def _bar_widths(svg: str) -> dict[str, float]:
    """'<node> <label>' -> drawn width."""
    return {m.group(2): float(m.group(1)) for m in re.finditer(
        r'<rect x="\d+" y="[\d.]+" width="([\d.]+)"[^>]*><title>([^<:]+):', svg)}


async def test_sms_time_outs_drawn_and_compared_versions_share_a_scale(aredis, tmp_path):
    await _stats(aredis, "sms-reminder", "a" * 12, {
        "ask": {"entered": 100, "timeout": 60, "completed": 40}}, 1)
    await _stats(aredis, "sms-reminder", "b" * 12, {
        "ask": {"entered": 50, "timeout": 10, "completed": 40}}, 2)
    server = await serve(aredis, tmp_path)
    try:
        session, _csrf = await sign_in(server, "sup")
        async with session.get("/console/funnel", params={
                "flow": "sms-reminder", "v": "b" * 12, "compare": "a" * 12}) as resp:
            assert resp.status == 200
            html = await resp.text()
        charts = re.findall(r"<svg class=\"chart\".*?</svg>", html, re.S)
        assert len(charts) == 2
        newer, older = (_bar_widths(c) for c in charts)
        assert "ask 超时 timeout" in newer and "ask 超时 timeout" in older  # drawn
        # one scale: 40 completed is the same length in both; 100 entered is the full width
        assert newer["ask 完成 completed"] == older["ask 完成 completed"]
        assert older["ask 进入 entered"] == 2 * newer["ask 进入 entered"]
        head = re.search(r"<thead><tr>(.*?)</tr></thead>", html).group(1)
        columns = re.findall(r"<th>(.*?)</th>", head)
        assert columns[1:4] == ["进入 entered", "挂机 hangup", "挂机率 Hang-up"]
        await session.close()
    finally:
        await server.close()
