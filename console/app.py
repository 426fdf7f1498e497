"""The console as an aiohttp sub-app mounted at /console, and its gateway component.

``make_app`` builds the sub-app from explicit parts (Redis client, users,
carrier, health probe …) so tests can run it in-process; ``ConsoleComponent``
builds it from the gateway's ``Context``, mounts it on the HTTP app, keeps the
flow definitions seen, and runs the funnel aggregator in the background.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import socket
from pathlib import Path

from aiohttp import web

from console import (audit, auth, errors, flow_catalog, pages_cases, pages_flows, pages_ops,
                     pages_results, pages_search)
from console import settings as console_settings
from console.html import e, page
from flows.loader import SHIPPED_DIR
from ivr.context import ContextMapping
from ivr.prompts import PromptLibrary
from ratings import cases as case_mod
from ratings.cases import Cases
from ratings.workdays import WorkCalendar
from ratings.results import FunnelAggregator
from sms.carrier import CARRIER_APP_KEY
from sms.texts import DEFAULT_SIGNATURE

log = logging.getLogger("console")
STATIC = Path(__file__).parent / "static"
# Where the SMS channel component may publish its carrier on the gateway's HTTP app;
# without it the console texts through the embedded file outbox (adapters/sms_file.py).
SMS_CARRIER_KEY = CARRIER_APP_KEY  # an aiohttp AppKey, set by adapters/sms_channel.py


async def signin_form(request: web.Request, error: str = "") -> web.Response:
    pre = request.cookies.get(auth.PRE_COOKIE) or secrets.token_urlsafe(24)
    flash = f'<div class="flash bad">{e(error)}</div>' if error else ""
    body = f"""
<form method="post" action="/console/signin" class="signin card">
  {flash}
  <input type="hidden" name="_pre" value="{e(pre)}">
  <label>用户名 User<input name="user" autocomplete="username" required autofocus></label>
  <label>密码 Password<input name="password" type="password" autocomplete="current-password"
   required></label>
  <button class="button">登录 Sign in</button>
</form>"""
    resp = page(request, "登录 Sign in", body)
    resp.set_cookie(auth.PRE_COOKIE, pre, httponly=True, samesite="Strict", path="/console",
                    secure=is_secure(request))
    if error:
        resp.set_status(401)
    return resp


async def signin(request: web.Request) -> web.Response:
    if request.method == "GET":
        return await signin_form(request)
    form = await request.post()
    pre = request.cookies.get(auth.PRE_COOKIE, "")
    if not pre or not secrets.compare_digest(pre, str(form.get("_pre", ""))):
        return errors.error_page(request, 403, "登录表单已过期，请刷新页面后重新登录。")
    name = str(form.get("user", ""))
    try:
        got = await request.app["console.sessions"].sign_in(
            name, str(form.get("password", "")), client_address(request))
    except auth.Throttled as exc:
        wait = max(1, round(exc.retry_after))
        resp = await signin_form(request, f"尝试次数过多：请 {wait} 秒后再试。这不是账号锁定，"
                                          f"其他地址不受影响。Too many attempts: wait {wait} s.")
        resp.set_status(429)
        resp.headers["Retry-After"] = str(wait)
        await audit.record(request, "signin.throttled", user=name, detail=f"wait {wait} s")
        return resp
    if got is None:
        await audit.record(request, "signin.fail", user=name)
        return await signin_form(request, "用户名或密码错误 Wrong user or password")
    token, _csrf = got
    await audit.record(request, "signin.ok", user=name)
    resp = web.HTTPSeeOther("/console/")
    resp.set_cookie(auth.COOKIE, token, httponly=True, samesite="Strict", path="/console",
                    max_age=request.app["console.sessions"].ttl_s,
                    secure=is_secure(request))
    resp.del_cookie(auth.PRE_COOKIE, path="/console")
    raise resp


_from_proxy = auth.from_proxy
client_address = auth.client_address


def is_secure(request: web.Request) -> bool:
    """Cookies get Secure over TLS, with console.secure_cookie, or when a trusted proxy
    says the browser used https (X-Forwarded-Proto)."""
    if request.secure or request.app["secure_cookie"]:
        return True
    proto = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
    return proto == "https" and _from_proxy(request)


async def signout(request: web.Request) -> web.Response:
    await request.app["console.sessions"].sign_out(request.cookies.get(auth.COOKIE, ""))
    await audit.record(request, "signout")
    resp = web.HTTPSeeOther("/console/signin")
    resp.del_cookie(auth.COOKIE, path="/console")
    raise resp


async def api_summary(request: web.Request) -> web.Response:
    """A small JSON view for dashboards; answers only with a session."""
    counts = await request.app["cases"].counts()
    return web.json_response({"user": request["user"].name, "cases": counts})


async def _no_health():
    return {"redis": None, "store": None}


def make_app(redis, users: dict[str, tuple[str, str]], *, data_dir: str | Path,
             session_ttl_s: int = 8 * 3600, carrier=None, health=None,
             ivr_metrics_urls: tuple[str, ...] = (), metrics_registry=None,
             find_carrier=None, secure_cookie: bool = False,
             trusted_proxies: tuple = (), sms_signature: str = DEFAULT_SIGNATURE,
             sim_context: ContextMapping | None = None) -> web.Application:
    app = web.Application(middlewares=[errors.readable_errors, auth.require_session])
    app["secure_cookie"] = secure_cookie
    app["sms_signature"] = sms_signature  # of the 已整改 text (console.feedback)
    app["trusted_proxies"] = tuple(trusted_proxies)
    app["redis"] = redis
    app["console.sessions"] = auth.Sessions(redis, users, session_ttl_s)
    app["cases"] = Cases(redis)
    app["data_dir"] = str(data_dir)
    if carrier is None:
        from adapters.sms_file import FileCarrier  # the embedded default: send only

        carrier = FileCarrier(data_dir)
    app["carrier"] = carrier
    # the SMS channel's own carrier, when the process runs one (see ConsoleComponent)
    app["find_carrier"] = find_carrier or (lambda: None)
    app["health"] = health or _no_health
    app["ivr_metrics_urls"] = tuple(ivr_metrics_urls)
    app["metrics_registry"] = metrics_registry  # the gateway's (IVR pool gauge)
    app["sim_context"] = sim_context or ContextMapping()  # how the IVR reads an INVITE
    app["prompts"] = PromptLibrary(Path(data_dir) / "prompts", SHIPPED_DIR)  # the IVR's cache
    app["retry_script"] = redis.register_script(pages_ops.RETRY_LUA)
    r = app.router
    r.add_get("/", pages_results.overview_page)
    r.add_route("*", "/signin", signin)
    r.add_post("/signout", signout)
    r.add_get("/flows", pages_flows.flows_list)
    r.add_get("/flows/{flow_id}", pages_flows.flow_detail)
    r.add_get("/flows/{flow_id}/diff", pages_flows.flow_diff)
    r.add_get("/flows/{flow_id}/simulate", pages_flows.simulate_page)
    r.add_post("/api/simulate", pages_flows.simulate_api)
    r.add_get("/api/simulate/audio/{flow_id}/{n:\\d+}", pages_flows.simulate_audio)
    r.add_get("/api/summary", api_summary)
    r.add_get("/funnel", pages_results.funnel_page)
    r.add_get("/results", pages_results.results_page)
    r.add_get("/cases", pages_cases.cases_list)
    r.add_get("/cases.csv", _wrapped(audit.audited_cases_csv, pages_cases.cases_csv))
    r.add_get("/cases/{case_id}", pages_cases.case_detail)
    r.add_post("/cases/{case_id}/move", _wrapped(audit.audited_case_move, pages_cases.case_move))
    r.add_get("/api/cases/{case_id}/feedback", pages_cases.feedback_preview)
    r.add_get("/cases/{case_id}/voice", pages_cases.case_voice)
    r.add_get("/ops", pages_ops.ops_page)
    r.add_post("/ops/dead/{entry_id}/retry", pages_ops.dead_retry)
    r.add_get("/audit", audit.audit_page)
    r.add_route("*", "/search", pages_search.search_page)
    r.add_get("/calls/{entry_id}", pages_search.call_timeline)
    r.add_get("/evaluations/{ev_id}", pages_search.evaluation_timeline)
    r.add_get("/evaluations/{ev_id}/voice", pages_search.evaluation_voice)
    r.add_static("/static", STATIC)
    return app


def _wrapped(wrapper, handler):
    """``handler`` (of a module the audit does not own) with its audit entry."""
    async def run(request: web.Request) -> web.StreamResponse:
        return await wrapper(request, handler)

    return run


def admin_password_path(data_dir) -> Path:
    """The generated admin password's file (used without ``console.users``)."""
    return Path(data_dir) / "secrets" / "console_admin"


def users_from_config(config) -> dict[str, tuple[str, str]]:
    """name -> (role, hash); without configured users, a generated admin password."""
    users = {name: (role, hashed) for name, role, hashed in config["console.users"]}
    if users:
        return users
    path = admin_password_path(config.data_dir)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(12) + "\n")
        log.info("console: generated the admin password into %s", path)
    return {"admin": (auth.SUPERVISOR, auth.hash_password(path.read_text().strip()))}


def _sms_signature(config) -> str:
    """The SMS channel's signature (``sms.http.sign_name``), as in its other texts."""
    try:
        return config["sms.http.sign_name"] or DEFAULT_SIGNATURE
    except KeyError:  # the SMS settings not registered in this process
        return DEFAULT_SIGNATURE


def _context_map(config) -> ContextMapping:
    """The IVR workers' context map for the simulator (``console.ivr_context_map``)."""
    path = console_settings.setting(config, "console.ivr_context_map")
    if not path:
        return ContextMapping()
    return ContextMapping.from_dict(json.loads(Path(path).read_text("utf-8")))


class ConsoleComponent:
    """Mounts /console on the gateway's HTTP app; runs the funnel aggregator."""

    name = "console"

    def __init__(self, ctx, health=None):
        self.ctx = ctx
        config = ctx.config
        case_mod.configure(case_mod.CaseSettings(
            config["console.callback_working_days"],
            WorkCalendar.from_file(config["console.workday_overrides"])))
        # the console's own client: short timeouts, so a page says at once that Redis
        # is away instead of waiting as the intake's client does (console.errors)
        self.redis = errors.redis_client(ctx.redis_url, getattr(ctx, "redis_pool", None))
        self.app = make_app(self.redis, users_from_config(config), data_dir=config.data_dir,
                            session_ttl_s=int(config["console.session_ttl"].total_seconds()),
                            health=health, ivr_metrics_urls=config["console.ivr_metrics_urls"],
                            metrics_registry=getattr(ctx.metrics, "registry", None),
                            find_carrier=lambda: ctx.http_app.get(SMS_CARRIER_KEY),
                            secure_cookie=console_settings.setting(config,
                                                                   "console.secure_cookie"),
                            trusted_proxies=console_settings.setting(config,
                                                                     "console.trusted_proxies"),
                            sms_signature=_sms_signature(config),
                            sim_context=_context_map(config))
        ctx.http_app.add_subapp("/console/", self.app)
        self.aggregator = FunnelAggregator(
            ctx.redis, f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}")

    async def start(self) -> None:
        await flow_catalog.remember_shipped(self.ctx.redis)
        if self.ctx.config["console.demo"]:
            from console.demo import seed_if_empty

            try:
                await seed_if_empty(self.ctx.redis, self.ctx.intake, self.ctx.config.data_dir)
            except Exception:  # demo data is a convenience: never keep the gateway down
                log.exception("console: demo data not seeded")
        await self.aggregator.start()

    async def stop(self) -> None:
        await self.aggregator.stop()
        await self.redis.aclose()
        await self.redis.connection_pool.disconnect()
