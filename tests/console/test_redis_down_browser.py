"""Redis away under a real ``hcp serve`` (external Redis of the test's own, stopped):
Chromium gets the readable 503 page within seconds on every page, the operations page
shows the outage, and the console works again when Redis is back."""

from __future__ import annotations

import time

import pytest

from adapters.redis_server import RedisServer
from tests.console.conftest import USERS, Gateway, shot
from tests.support.corestore import CoreStoreProcess

pytestmark = pytest.mark.slow
ANSWER_WITHIN_S = 5.0  # connect 1 s + command 1.5 s, plus a loaded machine


@pytest.fixture
def gateway_on_own_redis(tmp_path):
    redis_server = RedisServer(tmp_path / "redis").start()
    store = CoreStoreProcess().start()
    (tmp_path / "gw").mkdir()
    gw = Gateway(tmp_path / "gw", store, {"HCP_REDIS_URL": redis_server.url,
                                          "HCP_CONSOLE_DEMO": "0"})
    try:
        gw.start()
        yield gw, redis_server
    finally:
        gw.stop()
        store.stop()
        redis_server.stop()


def _sign_in(browser, gw, width, height):
    context = browser.new_context(viewport={"width": width, "height": height}, locale="zh-CN")
    page = context.new_page()
    page.goto(gw.base + "/console/signin")
    page.fill("input[name=user]", "zhang")
    page.fill("input[name=password]", USERS["zhang"][1])
    page.click("button:has-text('登录')")
    page.wait_for_url(gw.base + "/console/")
    return context, page


def test_chromium_sees_a_readable_page_quickly_while_redis_is_stopped(browser,
                                                                      gateway_on_own_redis):
    gw, redis_server = gateway_on_own_redis
    desk, page = _sign_in(browser, gw, 1366, 768)
    phone_context, phone = _sign_in(browser, gw, 360, 740)
    try:
        redis_server.stop()
        took = {}
        for path in ("/console/", "/console/cases", "/console/results", "/console/ops",
                     "/console/flows/hotline-rating"):
            started = time.monotonic()
            answer = page.goto(gw.base + path)
            took[path] = time.monotonic() - started
            assert took[path] < ANSWER_WITHIN_S, (path, took[path])
            assert answer.status == 503, (path, answer.status)
            assert "Redis 不可用" in page.inner_text("main"), path
            if path == "/console/ops":  # what else it knows: the core store, live calls
                assert "核心评价库" in page.inner_text("main")
                shot(page, "ops-redis-down")
        page.goto(gw.base + "/console/cases")
        shot(page, "redis-down")
        phone.goto(gw.base + "/console/ops")
        assert phone.evaluate("document.scrollingElement.scrollWidth") <= 360
        assert "Redis 不可用" in phone.inner_text("main")
        shot(phone, "phone-redis-down")
        # a browser without a session gets the sign-in page, and signing in says why not
        fresh = browser.new_context()
        anon = fresh.new_page()
        anon.goto(gw.base + "/console/signin")
        anon.fill("input[name=user]", "zhang")
        anon.fill("input[name=password]", USERS["zhang"][1])
        anon.click("button:has-text('登录')")
        anon.wait_for_selector("text=Redis 不可用")
        fresh.close()
        redis_server.start()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if page.goto(gw.base + "/console/cases").status == 200:
                break
            time.sleep(0.5)
        assert "差评工单" in page.inner_text("main")
        print("answer times with Redis stopped:", {k: round(v, 2) for k, v in took.items()})
    finally:
        desk.close()
        phone_context.close()
