"""The console in headless Debian Chromium (Playwright) against a real ``hcp serve``:
demo data posted through the real intake and submitted to a loopback core store."""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request

import pytest

from tests.console.conftest import REJECTED_ITEM, shot

# a mainland mobile number standing alone (ids are hex: their digit runs are not numbers)
PHONE = r"(?<![0-9A-Za-z])(?:\+?86)?1[3-9]\d{9}(?![0-9A-Za-z])"

pytestmark = pytest.mark.slow  # a gateway, a store process and a browser: ~1 min in all


def _get(url: str, headers: dict | None = None):
    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(urllib.request.Request(url, headers=headers or {}), timeout=10) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def test_no_page_or_json_answers_without_a_session(gateway):
    for path in ("/console/", "/console/results", "/console/cases", "/console/ops",
                 "/console/flows/hotline-rating", "/console/cases.csv"):
        status, headers, _ = _get(gateway.base + path)
        assert status == 302 and headers["Location"] == "/console/signin", path
    status, _, body = _get(gateway.base + "/console/api/summary")
    assert status == 401 and json.loads(body)["error"]
    status, _, _ = _get(gateway.base + "/console/results", {"Accept": "application/json"})
    assert status == 401
    status, _, _ = _get(gateway.base + "/console/results", {"Cookie": "hcp_console=forged"})
    assert status == 302
    req = urllib.request.Request(gateway.base + "/console/api/simulate", method="POST",
                                 data=b'{"flow":"hotline-rating","action":"start"}',
                                 headers={"Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(req, timeout=10)
    assert refused.value.code == 401


def test_wrong_password_is_refused(browser, gateway):
    context = browser.new_context()
    page = context.new_page()
    page.goto(gateway.base + "/console/signin")
    page.fill("input[name=user]", "zhang")
    page.fill("input[name=password]", "not-the-password")
    page.click("button:has-text('登录')")
    assert "用户名或密码错误" in page.content()
    assert page.goto(gateway.base + "/console/results").url.endswith("/console/signin")
    context.close()


def test_overview_results_and_funnel(signed_in, gateway):
    page = signed_in()
    assert "满意率" in page.content() and page.locator("svg.chart rect").count() > 10
    shot(page, "overview")
    page.goto(gateway.base + "/console/results")
    html = page.content()
    assert "按事项" in html and "按工作人员" in html and "440100-BDC-001" in html
    assert not re.search(PHONE, page.inner_text("body"))  # no full phone number
    shot(page, "results")
    page.goto(gateway.base + "/console/funnel?flow=hotline-rating")
    options = page.locator("select[name=v] option").all_inner_texts()
    assert len(options) == 2  # the demo ran the current version and an earlier one
    page.select_option("select[name=compare]", index=1)
    page.click("button:has-text('查看')")
    assert page.locator(".card svg.chart").count() == 2  # side by side
    assert "ask_grade" in page.content()
    shot(page, "funnel-compare")


def test_review_a_flow_diagram_issues_history_and_diff(signed_in, gateway):
    page = signed_in()
    page.click("nav >> text=流程")
    assert "12345 热线服务评价" in page.content()
    shot(page, "flows")
    page.click("text=12345 热线服务评价")
    assert page.locator(".diagram svg").count() == 1  # Graphviz SVG of the engine's data
    assert "审查意见" in page.content()
    rows = page.locator("text=版本历史 Version history >> xpath=.. >> tbody tr")
    assert rows.count() == 2
    shot(page, "flow")
    page.click("text=与上一版比较 diff")
    diff = page.inner_text("pre.diff")
    assert "ask_grade" in diff and "→" in diff
    assert "真实感受" in page.inner_text("pre.diff del")  # the earlier words, marked
    shot(page, "flow-diff")


def test_simulator_runs_the_flow_in_the_browser(signed_in, gateway):
    page = signed_in()
    page.goto(gateway.base + "/console/flows/hotline-rating/simulate")
    page.click("#sim-start")
    page.wait_for_selector("#sim-log:has-text('collect')")
    # the grade question comes first (no language menu, no confirmation: issue 11)
    assert "play ask_grade" in page.inner_text("#sim-log")
    page.wait_for_selector("#sim-node:text-is('ask_grade')")
    page.click(".key[data-key='2']")  # 满意
    page.wait_for_selector("#sim-log:has-text('submit')")
    log = page.inner_text("#sim-log")
    assert "grade=satisfied" in log and "accepted" in log
    audio = page.get_attribute("#sim-audio", "src")
    assert audio and "/console/api/simulate/audio/hotline-rating/" in audio
    answer = page.request.get(gateway.base + audio)
    assert answer.status == 200 and answer.body()[:4] == b"RIFF"
    shot(page, "simulator")
    # an SMS flow takes typed replies
    page.goto(gateway.base + "/console/flows/sms-reminder/simulate")
    page.click("#sim-start")
    page.wait_for_selector("#sim-log:has-text('sms:')")
    page.fill("#sim-text", "不满意 等太久")
    page.press("#sim-text", "Enter")
    page.wait_for_selector("#sim-log:has-text('submit')")
    assert "grade=dissatisfied" in page.inner_text("#sim-log")


def _first_case_with_voice(page, base: str) -> str:
    page.goto(base + "/console/cases")
    row = page.locator("tbody tr", has=page.locator("text=语音 voice")).first
    return row.locator("a").first.get_attribute("href")


def test_bad_rating_moves_through_its_statuses_and_the_evaluator_is_told(signed_in, gateway):
    page = signed_in()
    page.goto(gateway.base + "/console/cases")
    assert "138****" in page.content() or "139****" in page.content() \
        or "150****" in page.content()
    shot(page, "cases")
    href = _first_case_with_voice(page, gateway.base)
    page.goto(gateway.base + href)
    assert "待回访" in page.inner_text(".pill >> nth=0") or "待回访" in page.content()
    voice = page.request.get(gateway.base + href + "/voice")
    assert voice.status == 200 and voice.body()[:4] == b"RIFF"
    page.fill("textarea[name=note]", "已电话联系评价人，核实情况")
    page.select_option("select[name=verification]", "true")  # 属实: to be rectified
    page.click("button[value=called_back]")
    page.wait_for_selector("text=已电话联系评价人")
    page.click("button[value=rectifying]")
    page.wait_for_selector("button[value=rectified]")
    page.fill("textarea[name=note]", "已对窗口人员进行培训。")
    page.wait_for_selector("#fb-text:has-text('已对窗口人员进行培训')")  # the live preview
    preview = page.inner_text("#fb-text")
    assert "条短信" in page.inner_text("#fb-meta") and "。。" not in preview
    shot(page, "case-preview")
    page.click("button[value=rectified]")
    page.wait_for_selector("text=短信反馈")
    history = page.locator("text=处理记录 History >> xpath=.. >> tbody tr")
    assert history.count() == 4
    assert "zhang" in page.inner_text("text=处理记录 History >> xpath=..")
    assert page.locator("form.act").count() == 0  # closed: no more actions
    shot(page, "case")
    sent = sorted((gateway.data_dir / "sms-outbox").glob("*.json"))
    texts = [json.loads(p.read_text())["text"] for p in sent]
    assert preview in texts  # exactly the text the supervisor saw
    log = gateway.log()
    assert not re.search(PHONE, log)  # no phone number in the gateway's log
    csv = page.request.get(gateway.base + "/console/cases.csv?status=all")
    text = csv.body().decode("utf-8-sig")
    assert csv.status == 200 and "已整改" in text and "****" in text
    assert not re.search(PHONE, text)


def test_marking_a_malicious_rating_needs_a_reason_and_excludes_it(signed_in, gateway):
    page = signed_in()
    page.goto(gateway.base + "/console/cases?status=pending_callback")
    page.locator("tbody tr a").first.click()
    assert page.locator("button[value=malicious]").count() == 0  # not before a callback
    page.fill("textarea[name=note]", "回访：市民称未办理该事项")
    page.select_option("select[name=verification]", "untrue")
    page.click("button[value=called_back]")
    page.wait_for_selector("button[value=malicious]")
    page.click("button[value=malicious]")  # no note: refused, status unchanged
    assert "须在备注中写明理由" in page.inner_text(".flash.bad")
    page.fill("textarea[name=note]", "同一号码一小时内对不同事项连续差评")
    page.click("button[value=malicious]")  # the request
    page.wait_for_selector("text=剔除待审批")
    case_url = page.url.split("?")[0]
    page.click("button[value=malicious]")  # the requester cannot approve it
    assert "另一位主管" in page.inner_text(".flash.bad")
    other = signed_in("wang")  # a second supervisor approves
    other.goto(case_url)
    other.click("button[value=malicious]")
    other.wait_for_selector("text=剔除 Excluded")
    assert "同一号码一小时内" in other.content() and "wang" in other.content()
    page.goto(gateway.base + "/console/results")
    excluded = page.locator(".stat", has=page.locator("text=已剔除")).locator(".v")
    assert int(excluded.inner_text()) >= 1


def test_a_viewer_reads_but_cannot_act(signed_in, gateway):
    page = signed_in("li")
    assert "只读" in page.inner_text("header")
    page.goto(gateway.base + "/console/cases?status=pending_callback")
    href = page.locator("tbody tr a").first.get_attribute("href")
    page.goto(gateway.base + href)
    assert page.locator("form.act").count() == 0 and "只读账号" in page.content()
    csrf = page.get_attribute("meta[name=csrf-token]", "content")
    answer = page.request.post(gateway.base + href + "/move", form={
        "_csrf": csrf, "from": "pending_callback", "to": "called_back", "note": "x"})
    assert answer.status == 403
    page.reload()
    assert "待回访" in page.content()
    page.goto(gateway.base + "/console/ops")
    assert page.locator("button:has-text('重新提交')").count() == 0
    # a forged form without the session's CSRF token is refused for a supervisor too
    sup = signed_in()
    answer = sup.request.post(gateway.base + href + "/move", form={
        "from": "pending_callback", "to": "called_back", "note": "x"})
    assert answer.status == 403


def test_operations_show_the_dead_letter_and_retry_it_once(signed_in, gateway):
    page = signed_in()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        page.goto(gateway.base + "/console/ops")
        if "事项编码与办件不符" in page.content():
            break
        time.sleep(0.5)
    assert "事项编码与办件不符" in page.content()  # the store's reason
    assert "正常 OK" in page.content()
    shot(page, "ops")
    gateway.store.faults(clear_faults={})
    page.click("button:has-text('重新提交')")
    assert "已重新提交" in page.content()
    assert "事项编码与办件不符" not in page.content()
    deadline = time.monotonic() + 30
    status = None
    while time.monotonic() < deadline:
        _code, answer = gateway.api("GET", f"/v1/evaluations/{gateway.rejected_id}")
        status = answer.get("status")
        if status == "submitted":
            break
        time.sleep(0.3)
    assert status == "submitted"
    records = [k for k in gateway.store.records() if REJECTED_ITEM in k]
    assert len(records) == 1


LAYOUT_PAGES = {"overview": "/console/", "flows": "/console/flows",
                "flow": "/console/flows/hotline-rating",
                "simulator": "/console/flows/hotline-rating/simulate",
                "funnel": "/console/funnel?flow=hotline-rating", "results": "/console/results",
                "cases": "/console/cases?status=all", "ops": "/console/ops",
                "not-found": "/console/cases/" + "0" * 32}


def _inside(box, width: int) -> bool:
    return box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width + 0.5


@pytest.mark.parametrize("width,height", [(360, 740), (1366, 768)])
def test_every_page_fits_the_width_and_the_menu_is_reachable(signed_in, gateway, width, height):
    page = signed_in(viewport=(width, height))
    paths = dict(LAYOUT_PAGES)
    page.goto(gateway.base + "/console/cases?status=all")
    paths["case"] = page.locator("tbody tr a").first.get_attribute("href")
    page.goto(gateway.base + "/console/flows/hotline-rating")
    paths["flow-diff"] = page.locator("a:has-text('与上一版比较')").first.get_attribute("href")
    page.goto(gateway.base + "/console/funnel?flow=hotline-rating")
    versions = page.locator("select[name=v] option").evaluate_all("o => o.map(x => x.value)")
    paths["funnel-compare"] = (f"/console/funnel?flow=hotline-rating&v={versions[-1]}"
                               f"&compare={versions[0]}")
    for name, path in paths.items():
        page.goto(gateway.base + path)
        scroll_width = page.evaluate("document.scrollingElement.scrollWidth")
        assert scroll_width <= width, (path, scroll_width)
        toggle = page.locator(".menu-toggle")
        if width < 900:
            assert toggle.is_visible() and not page.locator("nav a").first.is_visible()
            toggle.click()
            assert toggle.get_attribute("aria-expanded") == "true"
        else:
            assert not toggle.is_visible()
        links = page.locator("nav a")
        assert links.count() == 6
        for i in range(6):
            assert links.nth(i).is_visible() and _inside(links.nth(i).bounding_box(), width), \
                (path, links.nth(i).inner_text())
        signout = page.locator("button:has-text('退出')")
        assert signout.is_visible() and _inside(signout.bounding_box(), width), path
        if width < 900 and name == "overview":
            shot(page, "phone-menu")
        if width < 900 and name != "not-found":
            toggle.click()  # folded again for the screenshot
            shot(page, f"phone-{name}")
    # the simulator's keypad keeps three keys a row on a phone
    page.goto(gateway.base + "/console/flows/hotline-rating/simulate")
    boxes = [page.locator(".key").nth(i).bounding_box() for i in range(4)]
    assert boxes[0]["y"] == boxes[1]["y"] == boxes[2]["y"] < boxes[3]["y"]
    assert boxes[0]["x"] < boxes[1]["x"] < boxes[2]["x"] and _inside(boxes[2], width)
    # a menu link works: Operations from the phone menu
    if width < 900:
        page.locator(".menu-toggle").click()
    page.click("nav >> text=运行状态")
    page.wait_for_url(gateway.base + "/console/ops")


def test_a_viewer_sees_that_there_is_a_voice_comment_but_cannot_play_it(signed_in, gateway):
    """A citizen's recording is evaluator data (seed art. 4): supervisors only."""
    page = signed_in("li")  # a viewer
    href = _first_case_with_voice(page, gateway.base)
    page.goto(gateway.base + href)
    assert "仅主管账号可收听" in page.content() and page.locator("audio").count() == 0
    voice = page.request.get(gateway.base + href + "/voice")
    assert voice.status == 403 and voice.body()[:4] != b"RIFF"
