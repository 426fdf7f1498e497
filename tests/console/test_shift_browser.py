"""Issue 13 points 1, 4 and 7 in headless Chromium against a real ``hcp serve`` (demo data
through the real intake): the header's search and the rating timeline, the audit log,
the simulator with call context; at desktop 1366x768 and phone 360x740 widths."""

from __future__ import annotations

import re
import time

import pytest

from tests.console.conftest import REJECTED_ITEM, USERS, shot
from tests.console.test_browser import PHONE

pytestmark = pytest.mark.slow

WIDTHS = [(360, 740), (1366, 768)]


def _fits(page, width: int) -> None:
    scroll_width = page.evaluate("document.scrollingElement.scrollWidth")
    assert scroll_width <= width, (page.url, scroll_width)


def _header_search(page, text: str, width: int) -> None:
    if width < 900:
        page.click(".menu-toggle")
    page.fill("header .top-search input[name=q]", text)
    page.click("header .top-search button")
    page.wait_for_url("**/console/search")


@pytest.mark.parametrize("width,height", WIDTHS)
def test_the_header_search_finds_ratings_by_item_and_last_four_digits(signed_in, gateway,
                                                                      width, height):
    page = signed_in(viewport=(width, height))
    # the rating the store refuses: found by its item number, its timeline says so
    _header_search(page, REJECTED_ITEM, width)
    _fits(page, width)
    assert "找到 0 通来电、1 条评价" in page.inner_text("main")
    page.click("a:has-text('时间线')")
    deadline = time.monotonic() + 30
    while "核心库拒收" not in page.inner_text("main") and time.monotonic() < deadline:
        time.sleep(0.5)
        page.reload()
    text = page.inner_text("main")
    assert "核心库拒收" in text and "事项编码与办件不符" in text and "attempts: 1" in text
    _fits(page, width)
    shot(page, "timeline-dead-letter" if width > 900 else "phone-timeline-dead-letter")
    # by the last four digits of a phone seen masked on the queue: no digits in a URL
    page.goto(gateway.base + "/console/cases?status=all")
    masked = re.search(r"1\d\d\*{4}(\d{4})", page.inner_text("main"))
    last4 = masked.group(1)
    _header_search(page, last4, width)
    assert last4 not in page.url and f"号码后四位 {last4}" in page.inner_text("main")
    rows = page.locator("main tbody tr")
    assert rows.count() >= 1
    assert all(p.endswith(last4) for p in re.findall(r"1\d\d\*{4}\d{4}",
                                                     page.inner_text("main tbody")))
    assert not re.search(PHONE, page.content())
    _fits(page, width)
    shot(page, "search-results" if width > 900 else "phone-search-results")
    # a full number is refused and not echoed
    page.goto(gateway.base + "/console/search")
    page.fill("main input[name=q]", "13812345678")
    page.click("main button:has-text('查找')")
    assert "只输入号码的后四位" in page.inner_text("main")
    assert "13812345678" not in page.content()


def test_a_rating_timeline_with_its_case_and_voice_comment(signed_in, gateway):
    page = signed_in(viewport=(1366, 768))
    page.goto(gateway.base + "/console/cases")
    href = page.locator("tbody tr", has=page.locator("text=语音 voice")).first \
        .locator("a").first.get_attribute("href")
    ev_id = href.rsplit("/", 1)[1]
    page.goto(f"{gateway.base}/console/evaluations/{ev_id}")
    text = page.inner_text("main")
    assert "语音留言" in text and "待回访" in text and "核心库答复" in text
    src = page.get_attribute("ol.timeline audio", "src")
    assert page.request.get(gateway.base + src).body()[:4] == b"RIFF"
    assert not re.search(PHONE, page.content())
    shot(page, "timeline-rating")
    viewer = signed_in("li", viewport=(360, 740))
    viewer.goto(f"{gateway.base}/console/evaluations/{ev_id}")
    assert "仅主管账号可收听" in viewer.inner_text("main") and viewer.locator("audio").count() == 0
    assert viewer.request.get(gateway.base + src).status == 403
    _fits(viewer, 360)


@pytest.mark.parametrize("width,height", WIDTHS)
def test_the_audit_log_shows_sign_ins_exports_and_refusals(browser, signed_in, gateway,
                                                           width, height):
    context = browser.new_context(viewport={"width": width, "height": height})
    bad = context.new_page()
    bad.goto(gateway.base + "/console/signin")
    bad.fill("input[name=user]", "li")
    bad.fill("input[name=password]", "not-the-password")
    bad.click("button:has-text('登录')")
    context.close()
    page = signed_in(viewport=(width, height))
    assert page.request.get(gateway.base + "/console/cases.csv?status=all").status == 200
    page.goto(gateway.base + "/console/ops")
    page.click("a:has-text('审计日志')")
    page.wait_for_url("**/console/audit")
    text = page.inner_text("main table")
    assert "登录成功" in text and "导出 CSV" in text and "登录失败" in text
    assert "127.0.0.1" in text and "zhang" in text
    _fits(page, width)
    shot(page, "audit" if width > 900 else "phone-audit")
    page.select_option("select[name=action]", "signin.fail")
    page.click("button:has-text('查询')")
    rows = page.locator("main tbody tr")
    assert rows.count() >= 1 and all("登录失败" in t for t in rows.all_inner_texts())
    page.fill("input[name=user]", "nobody")
    page.click("button:has-text('查询')")
    assert "暂无数据" in page.inner_text("main tbody")
    viewer = signed_in("li", viewport=(width, height))
    viewer.goto(gateway.base + "/console/ops")
    assert viewer.locator("a:has-text('审计日志')").count() == 0
    assert viewer.goto(gateway.base + "/console/audit").status == 403


@pytest.mark.parametrize("width,height", WIDTHS)
def test_the_simulator_takes_the_call_context(signed_in, gateway, width, height):
    page = signed_in(viewport=(width, height))
    page.goto(gateway.base + "/console/flows/hotline-rating/simulate")
    _fits(page, width)
    page.fill("#sim-ticket", "GD20261208001")
    page.fill("#sim-agent", "A1024")
    page.fill("#sim-trunk", "12345")
    page.select_option("#sim-lang", "yue")
    page.click("#sim-start")
    page.wait_for_selector("#sim-log:has-text('collect')")
    log = page.inner_text("#sim-log")
    assert "ticket=GD20261208001" in log and "staff_id=A1024" in log and "lang=yue" in log
    assert "(yue)" in log  # the Cantonese prompt
    page.click(".key[data-key='2']")  # 满意
    page.wait_for_selector("#sim-node:text-is('offer_staff_rating')")
    assert "评价话务员" in page.inner_text("#sim-log")  # the agent question
    _fits(page, width)
    shot(page, "simulator-context" if width > 900 else "phone-simulator-context")
    # no agent: no agent question; a phone number as ticket is refused as the IVR does
    page.fill("#sim-agent", "")
    page.fill("#sim-ticket", "13812345678")
    page.click("#sim-start")
    page.wait_for_selector("#sim-log:has-text('collect')")
    assert "ticket_refused=phone_like" in page.inner_text("#sim-log")
    page.click(".key[data-key='2']")
    page.wait_for_selector("#sim-status:text-is('completed')")
    assert "评价话务员" not in page.inner_text("#sim-log")


def test_a_viewer_may_search_but_not_read_the_audit(signed_in, gateway):
    page = signed_in("li", viewport=(1366, 768))
    _header_search(page, REJECTED_ITEM, 1366)
    assert "1 条评价" in page.inner_text("main")
    assert USERS["li"][0] == "viewer"


def test_between_phone_and_wide_screen_the_header_links_to_the_search(signed_in, gateway):
    page = signed_in(viewport=(1024, 768))
    _fits(page, 1024)
    assert not page.locator("header .top-search").is_visible()
    page.click("header a.top-search-link")
    page.wait_for_url("**/console/search")
    page.fill("main input[name=q]", REJECTED_ITEM)
    page.click("main button:has-text('查找')")
    assert "1 条评价" in page.inner_text("main")
    _fits(page, 1024)
