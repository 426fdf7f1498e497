"""Behind a TLS-terminating proxy: Secure cookies (console.secure_cookie, or
X-Forwarded-Proto from a trusted proxy), the throttle counts the forwarded client
address; the CSV export quotes cells that start with TAB or CR as well (issue 14)."""

from __future__ import annotations

import csv
import io
import ipaddress
import re
from datetime import datetime, timezone

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer

from console import auth
from console.app import make_app
from console.pages_cases import _csv_safe
from ratings import results
from ratings.grades import Grade
from ratings.model import Channel, Evaluation, Target, TargetKind
from tests.console.test_app_inprocess import PASSWORDS, sign_in, users

LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"),)


async def _serve(aredis, tmp_path, **kw):
    root = web.Application()
    root.add_subapp("/console/", make_app(aredis, users(), data_dir=tmp_path, **kw))
    server = TestServer(root)
    await server.start_server()
    return server


async def _signin(server, password, headers=None):
    """(status, the session cookie's Set-Cookie header or '')"""
    async with aiohttp.ClientSession(base_url=str(server.make_url("")),
                                     cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        async with session.get("/console/signin", headers=headers) as resp:
            pre = re.search(r'name="_pre" value="([^"]+)"', await resp.text()).group(1)
            pre_cookie = resp.headers.get("Set-Cookie", "")
        # a Secure cookie is not sent back over plain http: the browser behind the proxy
        # speaks https, so the test hands it back itself
        headers = {**(headers or {}), "Cookie": f"{auth.PRE_COOKIE}={pre}"}
        async with session.post("/console/signin", allow_redirects=False, headers=headers,
                                data={"_pre": pre, "user": "sup", "password": password}) as resp:
            cookies = [c for c in resp.headers.getall("Set-Cookie", [])
                       if c.startswith(auth.COOKIE + "=")]
            return resp.status, (cookies[0] if cookies else ""), pre_cookie


def _secure(set_cookie: str) -> bool:
    return "secure" in [p.strip().lower() for p in set_cookie.split(";")]


async def test_cookies_are_secure_behind_a_tls_proxy(aredis, tmp_path):
    https = {"X-Forwarded-Proto": "https"}
    server = await _serve(aredis, tmp_path)  # no trusted proxy: the header is ignored
    try:
        status, cookie, pre = await _signin(server, PASSWORDS["sup"], https)
        assert status == 303 and cookie and not _secure(cookie) and not _secure(pre)
    finally:
        await server.close()
    server = await _serve(aredis, tmp_path, trusted_proxies=LOOPBACK)
    try:
        status, cookie, pre = await _signin(server, PASSWORDS["sup"], https)
        assert status == 303 and _secure(cookie) and _secure(pre)
        status, cookie, _pre = await _signin(server, PASSWORDS["sup"],
                                             {"X-Forwarded-Proto": "http"})
        assert status == 303 and not _secure(cookie)
    finally:
        await server.close()
    server = await _serve(aredis, tmp_path, secure_cookie=True)
    try:
        status, cookie, _pre = await _signin(server, PASSWORDS["sup"])
        assert status == 303 and _secure(cookie)
    finally:
        await server.close()


async def test_the_throttle_counts_the_forwarded_address_only_from_a_trusted_proxy(
        aredis, tmp_path):
    attacker = {"X-Forwarded-For": "198.51.100.1, 203.0.113.9"}  # the proxy appended .9
    server = await _serve(aredis, tmp_path, trusted_proxies=LOOPBACK)
    try:
        for _ in range(auth.THROTTLE_FREE):
            assert (await _signin(server, "wrong", attacker))[0] == 401
        assert (await _signin(server, PASSWORDS["sup"], attacker))[0] == 429
        own = {"X-Forwarded-For": "192.0.2.44"}
        assert (await _signin(server, PASSWORDS["sup"], own))[0] == 303
    finally:
        await server.close()
    await aredis.flushall()
    server = await _serve(aredis, tmp_path)  # untrusted: a forged header changes nothing
    try:
        for n in range(auth.THROTTLE_FREE):
            forged = {"X-Forwarded-For": f"192.0.2.{n}"}
            assert (await _signin(server, "wrong", forged))[0] == 401
        assert (await _signin(server, PASSWORDS["sup"], {"X-Forwarded-For": "192.0.2.99"}))[0] \
            == 429
    finally:
        await server.close()


def test_csv_cells_starting_a_formula_are_quoted():
    for value in ("=1+2", "+1", "-1", "@SUM(A1)", "\t=1+2", "\r=1+2"):
        assert _csv_safe(value) == "'" + value
    for value in ("1+2", "正常备注", "", " =x"):
        assert _csv_safe(value) == value


async def test_the_export_quotes_a_comment_starting_with_a_tab(aredis, tmp_path):
    ev = Evaluation(target=Target(TargetKind.ITEM, "P-7"), channel=Channel.SMS,
                    grade=Grade.VERY_DISSATISFIED, assessed_at=datetime.now(timezone.utc),
                    comment="\t=HYPERLINK(\"http://x\")", phone="+8613912345678")
    await results.record_accepted(aredis, ev)
    server = await _serve(aredis, tmp_path)
    try:
        session, _csrf = await sign_in(server, "sup")
        async with session.get("/console/cases.csv?status=all") as resp:
            text = (await resp.read()).decode("utf-8-sig")
        rows = list(csv.reader(io.StringIO(text)))
        comment = rows[1][rows[0].index("文字评价")]
        assert comment.startswith("'\t=HYPERLINK")
        await session.close()
    finally:
        await server.close()


def test_the_settings_rows_register_with_the_gateways_config(tmp_path, monkeypatch):
    from console import settings
    from gateway import config as config_module
    from gateway.config import Setting, load, parsers, register_settings

    monkeypatch.setattr(config_module, "_EXTRA_SETTINGS", [])
    register_settings(*(Setting(n, env, p if callable(p) else getattr(parsers, p), d, doc)
                        for n, env, p, d, doc in settings.SETTINGS))
    config = load(env={"HCP_CONSOLE_SECURE_COOKIE": "true",
                       "HCP_CONSOLE_TRUSTED_PROXIES": "127.0.0.1, 10.0.0.0/8"}, cwd=tmp_path)
    assert settings.setting(config, "console.secure_cookie") is True
    assert settings.setting(config, "console.trusted_proxies") == (
        ipaddress.ip_network("127.0.0.1/32"), ipaddress.ip_network("10.0.0.0/8"))
    monkeypatch.setattr(config_module, "_EXTRA_SETTINGS", [])
    plain = load(env={}, cwd=tmp_path)  # not registered: the defaults
    assert settings.setting(plain, "console.trusted_proxies") == ()
    assert settings.setting(plain, "console.secure_cookie") is False
