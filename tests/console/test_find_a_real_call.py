"""A real call placed with SIPp (scripts/demo-call) against ``hcp serve`` with its IVR
worker, then found in the console by its ticket in Chromium: the call's timeline shows
the keys pressed, the prompts, the grades, the reason, the submissions and the store's
answer, and the case the bad grade opened."""

from __future__ import annotations

import json
import re
import subprocess
import time

import pytest

from console.auth import hash_password
from tests.console.conftest import shot
from tests.console.test_browser import PHONE
from tests.e2e_ivr.harness import serve
from tests.ivr.sipp import REPO

pytestmark = pytest.mark.slow  # a whole keypad call (~30 s) and a browser

TICKET = "GD2026-CONSOLE-7"
SUPERVISOR = ("wang", "wang-password-1")


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    users = f"{SUPERVISOR[0]}:supervisor:{hash_password(SUPERVISOR[1])}"
    yield from serve(tmp_path_factory.mktemp("console-call"),
                     {"HCP_CONSOLE_ENABLED": "1", "HCP_CONSOLE_USERS": users})


def _sign_in(browser, base: str, viewport: tuple[int, int]):
    context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]},
                                  locale="zh-CN")
    page = context.new_page()
    page.goto(base + "/console/signin")
    page.fill("input[name=user]", SUPERVISOR[0])
    page.fill("input[name=password]", SUPERVISOR[1])
    page.click("button:has-text('登录')")
    page.wait_for_url(base + "/console/")
    return context, page


def test_a_real_call_is_found_by_its_ticket_with_its_timeline(served, browser):
    # 不满意 (4), reason 1 (efficiency), rate the agent (1), 满意 (2)
    proc = subprocess.run(
        [str(REPO / "scripts" / "demo-call"), "--digits", "4112", "--ticket", TICKET,
         "--agent", "A77", "--host", f"127.0.0.1:{served.sip_port}", "--json"],
        capture_output=True, text=True, timeout=150, env=served.env)
    assert proc.returncode == 0, proc.stdout + proc.stderr + served.log()[-2000:]
    outcome = json.loads(proc.stdout)
    assert [k for k, _t in outcome["keys"]] == ["4", "1", "1", "2"]
    base = f"http://127.0.0.1:{served.http_port}"
    for width, height in ((1366, 768), (360, 740)):
        context, page = _sign_in(browser, base, (width, height))
        if width < 900:
            page.click(".menu-toggle")
        page.fill("header .top-search input[name=q]", TICKET)
        page.click("header .top-search button")
        page.wait_for_url("**/console/search")
        assert "找到 1 通来电" in page.inner_text("main")
        page.click("main a:has-text('时间线')")
        page.wait_for_url(re.compile(r".*/console/calls/\d+-\d+$"))
        deadline = time.monotonic() + 30
        while page.inner_text("main").count("已提交核心库") < 2 and time.monotonic() < deadline:
            time.sleep(0.5)
            page.reload()
        text = page.inner_text("main")
        keys = re.findall(r"按键 key (\d)", text)
        assert keys == ["4", "1", "1", "2"], text
        assert text.count("播放 prompt") >= 4  # grade, reason, staff offer, staff grade …
        # as the IVR recorded them, with their times: not a replay of the keys
        assert "听了 heard" in text and "replayed" not in text, text
        assert TICKET in text and "A77" in text
        assert "不满意" in text and "满意" in text and "efficiency" in text
        assert text.count("已提交核心库") == 2 and "attempts: 1" in text
        assert "待回访" in text  # the case the bad grade opened
        assert "提交 submissions: accepted, accepted" in text
        assert not re.search(PHONE, page.content())
        assert page.evaluate("document.scrollingElement.scrollWidth") <= width
        shot(page, "call-timeline" if width > 900 else "phone-call-timeline")
        context.close()
