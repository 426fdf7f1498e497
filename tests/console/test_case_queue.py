"""The bad-rating queue pages through every case with a visible total (it stopped
silently at 200: issue 13)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from ratings import results
from ratings.grades import Grade
from ratings.model import Channel, Evaluation, Target, TargetKind
from tests.console.test_app_inprocess import serve, sign_in

CASE_LINK = re.compile(r'href="/console/cases/([0-9a-f]{32})"')


async def _ids_over_pages(session, status: str, per: int) -> tuple[list[str], list[str]]:
    ids, totals, page_no = [], [], 1
    while True:
        async with session.get("/console/cases", params={"status": status, "page": page_no,
                                                         "per": per}) as resp:
            assert resp.status == 200
            html = await resp.text()
        totals.append(re.search(r"共 <b>(\d+)</b> 条", html).group(1))
        found = list(dict.fromkeys(CASE_LINK.findall(html)))
        assert len(found) <= per
        ids += found
        if 'rel=next' not in html:
            return ids, totals
        page_no += 1


async def test_231_open_cases_page_through_all_with_a_total(aredis, tmp_path):
    now = datetime.now(timezone.utc)
    for i in range(231):
        ev = Evaluation(target=Target(TargetKind.ITEM, f"Q-{i}"), channel=Channel.HOTLINE,
                        grade=Grade.VERY_DISSATISFIED if i % 2 else Grade.DISSATISFIED,
                        assessed_at=now - timedelta(minutes=i), reasons=("attitude",),
                        phone="+8613912345678")
        await results.record_accepted(aredis, ev)
    server = await serve(aredis, tmp_path)
    try:
        session, _csrf = await sign_in(server, "sup")
        ids, totals = await _ids_over_pages(session, "open", 50)
        assert len(ids) == len(set(ids)) == 231 and set(totals) == {"231"}
        async with session.get("/console/cases?status=open&page=5&per=50") as resp:
            html = await resp.text()
        assert "第 201–231 条" in html and "第 5/5 页" in html and "rel=prev" in html
        assert len(set(CASE_LINK.findall(html))) == 31
        ids_all, totals = await _ids_over_pages(session, "all", 100)
        assert sorted(ids_all) == sorted(ids) and set(totals) == {"231"}
        ids_pending, totals = await _ids_over_pages(session, "pending_callback", 200)
        assert sorted(ids_pending) == sorted(ids) and set(totals) == {"231"}
        async with session.get("/console/cases?page=x") as resp:
            assert resp.status == 400 and "页码" in await resp.text()
        await session.close()
    finally:
        await server.close()
