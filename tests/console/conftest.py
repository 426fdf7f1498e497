"""The real gateway (``hcp serve`` child process) with the console, a loopback core
store process that rejects one record on purpose, and headless Debian Chromium."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from adapters.redis_server import free_port
from console.auth import hash_password
from tests.support.corestore import DEFAULT_SECRET, CoreStoreProcess

HCP = Path(sys.executable).parent / "hcp"
ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
TOKEN = "console-test-token-0123456789"
USERS = {"zhang": ("supervisor", "zhang-password-1"), "li": ("viewer", "li-password-22"),
         "wang": ("supervisor", "wang-password-3")}  # a second supervisor approves exclusions
REJECTED_ITEM = "REJECTME-0001"
SCREENSHOTS = ROOT / "docs" / "screenshots"


class Gateway:
    def __init__(self, workdir: Path, store: CoreStoreProcess, extra_env: dict | None = None):
        self.extra_env = extra_env or {}
        self.workdir = workdir
        self.data_dir = workdir / "data"
        self.port = free_port()
        self.store = store
        self.log_path = workdir / "gateway.log"
        self.proc: subprocess.Popen | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> Gateway:
        users = ",".join(f"{n}:{role}:{hash_password(pw)}" for n, (role, pw) in USERS.items())
        env = {k: v for k, v in os.environ.items() if not k.startswith("HCP_")}
        env.update({"HCP_DATA_DIR": str(self.data_dir), "HCP_HTTP_PORT": str(self.port),
                    "HCP_HTTP_TOKENS": TOKEN, "HCP_CORE_URL": self.store.url,
                    "HCP_CORE_HMAC_SECRET": DEFAULT_SECRET.decode(), "HCP_CORE_PF_API": "1",
                    "HCP_CONSOLE_ENABLED": "1", "HCP_CONSOLE_DEMO": "1",
                    "HCP_CONSOLE_USERS": users, "HCP_DRAIN_TIMEOUT_S": "3",
                    "PYTHONPATH": str(ROOT)})
        env.update(self.extra_env)
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen([str(HCP), "serve"], cwd=self.workdir, env=env,
                                         stdout=log, stderr=log)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"hcp serve exited:\n{self.log()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{self.base}/healthz", timeout=1):
                    return self
            except (urllib.error.URLError, OSError):
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"hcp serve not ready:\n{self.log()[-3000:]}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def api(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
        req = urllib.request.Request(
            f"{self.base}{path}", method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, json.loads(resp.read() or b"{}")
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read() or b"{}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    store = CoreStoreProcess().start()
    store.faults(reject_key={"substring": REJECTED_ITEM, "reason": "事项编码与办件不符"})
    gw = Gateway(tmp_path_factory.mktemp("console-gw"), store)
    try:
        gw.start()
        status, answer = gw.api("POST", "/v1/evaluations", {
            "target": {"kind": "item", "id": REJECTED_ITEM}, "grade": "satisfied",
            "channel": "api"})
        assert status in (200, 201, 202), answer
        gw.rejected_id = answer.get("evaluation_id") or answer.get("id")
        yield gw
    finally:
        gw.stop()
        store.stop()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def signed_in(browser, gateway):
    """A page signed in as ``user`` (default: the supervisor)."""
    contexts = []

    def sign_in(user: str = "zhang", viewport: tuple[int, int] = (1360, 900)):
        context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]},
                                      locale="zh-CN")
        contexts.append(context)
        page = context.new_page()
        page.goto(f"{gateway.base}/console/")
        assert page.url.endswith("/console/signin")
        page.fill("input[name=user]", user)
        page.fill("input[name=password]", USERS[user][1])
        page.click("button:has-text('登录')")
        page.wait_for_url(f"{gateway.base}/console/")
        return page

    yield sign_in
    for context in contexts:
        context.close()


def shot(page, name: str) -> None:
    """Screenshots of the main pages: docs/screenshots/ when HCP_SCREENSHOTS=1."""
    if os.environ.get("HCP_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
