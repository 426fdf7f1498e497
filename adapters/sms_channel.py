"""The SMS channel as one gateway component: carrier, reminders, dispatcher, conversations.

``make(ctx)`` builds it from the gateway's component context (config, shared
Redis, intake, HTTP app) and mounts its routes; the lead adds
``adapters.sms_channel.make`` to ``gateway.components.EXTRA_COMPONENTS`` and
registers the settings listed in ``SETTINGS`` (name, env, parser, default,
help) with ``gateway.config.register_settings``. Without any of them set the
channel runs on the embedded default: the file outbox/inbox in the data dir.

start(): carrier (its MO and receipt callbacks go to the conversations and the
delivery records), then the dispatcher loop, the conversation-timeout sweeper
and — when the optional 7-day policy is on — the default-rating loop. stop():
the reverse. The carrier, wrapped so that every send is recorded as a delivery,
is published on the HTTP app under ``sms.carrier.CARRIER_APP_KEY`` for the
console's rectification feedback.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from pathlib import Path

from ratings.tasks import stop_task
from sms.completions import add_completion_routes
from sms.conversation import Conversations
from sms.invitations import Invitations
from sms.default_policy import DefaultRater, DefaultRatingPolicy
from sms.carrier import CARRIER_APP_KEY
from sms.deliveries import Deliveries, RecordedSends
from sms.dispatcher import DispatchPolicy, Dispatcher
from sms.optout import OptOuts
from sms.quiet_hours import QuietHours, parse_send_window, parse_timezone
from sms.rated import RatedCheck, add_rated_elsewhere_routes
from sms.reminders import Reminders
from sms.status_api import add_sms_status_routes

log = logging.getLogger(__name__)

CARRIERS = ("file", "smpp", "http")


def _carrier_kind(raw) -> str:
    if raw not in CARRIERS:
        raise ValueError(f"expected one of {', '.join(CARRIERS)}, got {raw!r}")
    return raw


# (name, env, parser: a name in gateway.config.parsers or a function, default, help).
# A parser raises ValueError for a value the channel could not start with, so that
# ``hcp serve --check-config`` refuses it too (issue 12: it accepted 25:99).
SETTINGS = (
    ("sms.carrier", "HCP_SMS_CARRIER", _carrier_kind, "file", "file | smpp | http"),
    ("sms.reminder_delay", "HCP_SMS_REMINDER_DELAY", "duration", 24 * 3600,
     "reminder after completion (seed art. 14: 24 h)"),
    ("sms.send_window", "HCP_SMS_SEND_WINDOW", parse_send_window, "08:00-21:00",
     "local hours reminders are sent, HH:MM-HH:MM (00:00-24:00: any hour); outside it "
     "they wait for the next opening"),
    ("sms.timezone", "HCP_SMS_TIMEZONE", parse_timezone, "Asia/Shanghai",
     "of the sending window"),
    ("sms.group_window", "HCP_SMS_GROUP_WINDOW", "duration", 3600,
     "one number's reminders due within this of each other go out as one text (0: never)"),
    ("sms.daily_cap", "HCP_SMS_DAILY_CAP", "positive_int", 3, "reminders per number per day"),
    ("sms.poll_s", "HCP_SMS_POLL_S", "positive_float", 1.0, "dispatcher poll interval"),
    ("sms.default_rating", "HCP_SMS_DEFAULT_RATING", "bool", False,
     "7 days without a rating count as 基本满意 (Guangdong's earlier rule)"),
    ("sms.ask_store_before_sending", "HCP_SMS_ASK_STORE", "bool", False,
     "ask the core store (its record query) whether an item was rated elsewhere before "
     "its reminder goes out; needs an HTTP core store (core.url)"),
    ("sms.smpp.host", "HCP_SMPP_HOST", "text", "127.0.0.1", ""),
    ("sms.smpp.port", "HCP_SMPP_PORT", "port", 2775, ""),
    ("sms.smpp.system_id", "HCP_SMPP_SYSTEM_ID", "text", "hcp", ""),
    # SMPP 3.4 passwords are at most 8 characters: not the 16-character "secret" parser;
    # still shown masked (gateway/sms_settings.py treats *.password as secret)
    ("sms.smpp.password", "HCP_SMPP_PASSWORD", "text", None, "SMPP bind password (≤ 8)"),
    ("sms.smpp.source_addr", "HCP_SMPP_SOURCE_ADDR", "text", "10690000", "our sender number"),
    ("sms.http.name", "HCP_SMS_HTTP_NAME", "text", "provider", "in the callback routes"),
    ("sms.http.base_url", "HCP_SMS_HTTP_URL", "text", "", ""),
    ("sms.http.access_key", "HCP_SMS_HTTP_KEY", "text", "", ""),
    ("sms.http.secret", "HCP_SMS_HTTP_SECRET", "secret", None, ""),
    ("sms.http.sign_name", "HCP_SMS_HTTP_SIGN", "text", "广东政务服务", "signature 【…】"),
    ("sms.http.template", "HCP_SMS_HTTP_TEMPLATE", "text", "", "reminder template code"),
)
DEFAULTS = {name: default for name, _, _, default, _ in SETTINGS}


def _setting(config, name: str):
    try:
        value = config[name]
    except (KeyError, TypeError):
        value = None
    return DEFAULTS[name] if value is None else value


def _seconds(value) -> float:
    return value.total_seconds() if hasattr(value, "total_seconds") else float(value)


def build_carrier(get, data_dir: Path, redis=None):
    """``redis``: the HTTP carrier remembers its callbacks' nonces there (replay guard)."""
    kind = get("sms.carrier")
    if kind == "file":
        from adapters.sms_file import FileCarrier

        return FileCarrier(data_dir)
    if kind == "smpp":
        from adapters.sms_smpp import SmppCarrier

        return SmppCarrier(get("sms.smpp.host"), int(get("sms.smpp.port")),
                           get("sms.smpp.system_id"), get("sms.smpp.password") or "",
                           source_addr=get("sms.smpp.source_addr"))
    if kind == "http":
        from adapters.sms_http import HttpProviderConfig, HttpSmsCarrier

        return HttpSmsCarrier(HttpProviderConfig(
            get("sms.http.name"), get("sms.http.base_url"), get("sms.http.access_key"),
            get("sms.http.secret") or "", get("sms.http.sign_name"), get("sms.http.template")),
            redis=redis)
    raise ValueError(f"sms.carrier: unknown carrier {kind!r} (file, smpp or http)")


class SmsChannel:
    name = "sms"

    def __init__(self, config, redis, intake, phone_secret: bytes, data_dir: Path,
                 http_app=None, fail=None, clock=None, store=None):
        get = lambda name: _setting(config, name)  # noqa: E731
        # "rated" as the channel must see it: here, elsewhere (API), or at the store
        intake = self.rated = RatedCheck(intake, redis, _store_query(store, get))
        self.carrier = build_carrier(get, Path(data_dir), redis)
        extra = {"clock": clock} if clock else {}
        policy = DefaultRatingPolicy(enabled=bool(get("sms.default_rating")))
        self.reminders = Reminders(
            redis, phone_secret, delay_s=_seconds(get("sms.reminder_delay")),
            default_after_s=policy.after_s if policy.enabled else None, **extra)
        self.optouts = OptOuts(redis, phone_secret)
        self.deliveries = Deliveries(redis, self.carrier.name)
        # answers and the console's feedback are recorded as deliveries like reminders
        self.conversations = Conversations(
            self.reminders, intake, self.optouts,
            RecordedSends(self.carrier, self.deliveries, self.reminders.clock, "answer"))
        self.feedback_carrier = RecordedSends(self.carrier, self.deliveries,
                                              self.reminders.clock, "feedback")
        self.dispatcher = Dispatcher(
            self.reminders, self.carrier, intake, self.optouts, self.deliveries,
            DispatchPolicy(quiet_hours=QuietHours.from_window(get("sms.send_window"),
                                                              get("sms.timezone")),
                           group_window_s=_seconds(get("sms.group_window")),
                           daily_cap=int(get("sms.daily_cap")), poll_s=float(get("sms.poll_s")),
                           template=get("sms.http.template") or None))
        self.default_rater = DefaultRater(self.reminders, intake) if policy.enabled else None
        # the invitation after an unrated call, requested by the IVR workers through Redis
        self.invitations = Invitations(redis, self.reminders, consumer=f"sms-{os.getpid()}")
        self._invitation_task: asyncio.Task | None = None
        self._stopping = asyncio.Event()
        self.fail = fail
        self._default_task: asyncio.Task | None = None
        self._expiry_task: asyncio.Task | None = None
        self.expiry_poll_s = 5.0
        if http_app is not None:
            self.add_routes(http_app)

    def add_routes(self, app) -> None:
        app[CARRIER_APP_KEY] = self.feedback_carrier  # console/app.py texts through it
        add_completion_routes(app, self.reminders)
        add_rated_elsewhere_routes(app, self.rated, self.reminders)
        add_sms_status_routes(app, self.reminders, self.deliveries)
        if self.carrier.name not in ("file", "smpp"):
            from adapters.sms_http import add_sms_callback_routes

            add_sms_callback_routes(app, {self.carrier.name: self.carrier})

    async def start(self) -> None:
        # the loops end on this flag as well as on cancellation (sms.dispatcher: redis-py
        # can swallow a CancelledError inside a command)
        self._stopping = asyncio.Event()
        await self.carrier.start(self.conversations.on_inbound, self.deliveries.on_receipt)
        self.dispatcher.start()
        self._expiry_task = asyncio.create_task(self._expiry_loop(), name="sms-wait-expiry")
        self._invitation_task = asyncio.create_task(self.invitations.run(self._stopping),
                                                    name="sms-invitations")
        if self.default_rater is not None:
            self._default_task = asyncio.create_task(self._default_loop(), name="sms-default")

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    async def _default_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                while await self.default_rater.run_due():
                    pass
            except Exception as exc:  # Redis down: try again next minute, do not die
                log.warning("default-rating pass failed: %s", type(exc).__name__)
            await self._pause(60)

    async def _expiry_loop(self) -> None:
        """Conversations whose wait timed out are resumed with Timeout (sms.conversation)."""
        while not self._stopping.is_set():
            try:
                while await self.conversations.expire_waits() >= 100:
                    pass
            except Exception as exc:  # Redis away: the waits stay, next pass handles them
                log.warning("conversation timeout pass failed: %s", type(exc).__name__)
            await self._pause(self.expiry_poll_s)

    async def stop(self) -> None:
        self._stopping.set()
        for task in (self._default_task, self._expiry_task, self._invitation_task):
            await stop_task(task)
        await self.dispatcher.stop()
        await self.carrier.stop()


def _store_query(store, get):
    """The store to ask before sending, if the setting is on and the store can answer."""
    if not get("sms.ask_store_before_sending"):
        return None
    if not hasattr(store, "stored"):
        log.warning("sms.ask_store_unavailable", extra={
            "why": "the core store has no record query (set core.url to the exchange)"})
        return None
    return store


def make(ctx) -> SmsChannel:
    """Factory for gateway.components.EXTRA_COMPONENTS."""
    config = ctx.config
    secret = config.intake_phone_secret
    return SmsChannel(config, ctx.redis, ctx.intake,
                      secret.encode() if isinstance(secret, str) else secret,
                      Path(config.data_dir), http_app=ctx.http_app, fail=ctx.fail,
                      store=ctx.store)
