"""The gateway's settings: embedded defaults < one TOML file < ``HCP_*`` environment.

Every setting is declared once in ``SETTINGS`` (dotted TOML name, environment
variable, type, default, one line of documentation). ``load`` merges the three
layers and validates each value; a bad or unknown value raises ``ConfigError``
naming the setting (``http.port``) and where it came from (file or variable),
so an operator sees at start what to fix. docs/configuration.md documents the
same table; a test keeps them in step.

Secrets left unset are filled later by ``gateway.secrets_store`` from the data dir.

Other parts of the process (IVR, SMS, console) declare their own settings with
``register_settings(Setting("sip.port", "HCP_SIP_PORT", parsers.port, 5060, "…"))``
at import time, before ``load``; they are read back with ``config["sip.port"]``
and validated, overridden and described exactly like the core ones.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Callable, Mapping

# parsers: the value types of settings, also for other modules' settings
from gateway.config_values import format_duration, parsers, redact_url
from console import settings as console_settings
from ratings.workdays import WorkCalendar

DEFAULT_CONFIG_FILE = "hcp.toml"


class ConfigError(ValueError):
    """A setting that cannot be used; ``setting`` names it, ``source`` says where."""

    def __init__(self, setting: str, message: str, source: str = ""):
        where = f" (from {source})" if source else ""
        super().__init__(f"setting {setting}{where}: {message}")
        self.setting = setting
        self.message = message
        self.source = source


@dataclass(frozen=True)
class Setting:
    name: str  # dotted TOML path, e.g. "http.port"
    env: str
    parse: Callable[[Any], Any]
    default: Any
    doc: str
    secret: bool = False

    @property
    def attr(self) -> str:
        return self.name.replace(".", "_")


SETTINGS: tuple[Setting, ...] = (
    Setting("data_dir", "HCP_DATA_DIR", parsers.text, "./data",
            "Directory for the private Redis (AOF), the local SQLite store and "
            "generated secrets."),
    Setting("http.host", "HCP_HTTP_HOST", parsers.text, "127.0.0.1",
            "Address the HTTP API listens on."),
    Setting("http.port", "HCP_HTTP_PORT", parsers.port, 8080,
            "TCP port of the HTTP API (0 picks a free port and logs it)."),
    Setting("http.reuse_port", "HCP_HTTP_REUSE_PORT", parsers.bool, False,
            "Share http.port with other hcp serve processes on this host (SO_REUSEPORT: "
            "the kernel spreads connections over them). Each needs its own data_dir and "
            "the same redis.url, http.tokens and intake.phone_secret."),
    Setting("http.max_body_bytes", "HCP_HTTP_MAX_BODY_BYTES", parsers.positive_int, 65536,
            "Largest request body accepted; bigger bodies get 413."),
    Setting("http.tokens", "HCP_HTTP_TOKENS", parsers.tokens, (),
            "Bearer tokens accepted on /v1 (env: comma-separated). Empty: one is "
            "generated into <data_dir>/secrets/api_token.", secret=True),
    Setting("redis.url", "HCP_REDIS_URL", parsers.optional_url(
                "redis", "rediss", "unix", "redis+sentinel", "rediss+sentinel"), None,
            "Redis to use (redis+sentinel://: the primary Sentinel names). "
            "Empty: a private redis-server with AOF in <data_dir>/redis."),
    Setting("redis.max_connections", "HCP_REDIS_MAX_CONNECTIONS", parsers.positive_int, 256,
            "Connections the process may open to Redis; callers wait (up to 5 s) for a "
            "free one beyond that."),
    Setting("core.url", "HCP_CORE_URL", parsers.store_url, None,
            "Core rating store endpoint: https, or http to a loopback address only. "
            "Empty: the local SQLite store <data_dir>/core-store.sqlite3."),
    Setting("core.hmac_secret", "HCP_CORE_HMAC_SECRET", parsers.secret, None,
            "Key of the HMAC-SHA256 signature header on store requests. Required with "
            "core.url (the store must know it, so it is never generated).", secret=True),
    Setting("core.timeout_s", "HCP_CORE_TIMEOUT_S", parsers.positive_float, 10.0,
            "Timeout of one store request, seconds."),
    Setting("core.pf_hotline", "HCP_CORE_PF_HOTLINE", parsers.pf_code, 6,
            "``pf`` channel code sent for keypad (hotline) evaluations."),
    Setting("core.pf_sms", "HCP_CORE_PF_SMS", parsers.pf_code, 7,
            "``pf`` channel code sent for SMS evaluations (one province variant uses 6)."),
    Setting("core.pf_api", "HCP_CORE_PF_API", lambda raw: _optional_pf(raw), None,
            "``pf`` for an API evaluation whose caller does not say which channel "
            "collected it. Empty (default): no guess; such an evaluation is dead-lettered "
            "with the reason (set it only if every API caller is one channel)."),
    Setting("core.reason_codes", "HCP_CORE_REASON_CODES", lambda raw: _reason_codes(raw),
            None, "TOML file mapping reason ids to the exchange's evalDetail codes "
            "([reasons] efficiency = \"01\" …). Empty: the shipped default "
            "ratings/reason_codes.toml. Checked at start: an unknown reason id, a "
            "missing reason or a duplicate code is refused, naming the entry."),
    Setting("core.area_code", "HCP_CORE_AREA_CODE", lambda raw: _area_code(raw), "",
            "areaCode of the records: this hotline's 6-digit administrative division "
            "code (行政区划代码, e.g. 440100); a context's area_code wins."),
    Setting("core.include_mobile", "HCP_CORE_INCLUDE_MOBILE", parsers.bool, False,
            "Send the evaluator's mobile number in store records (only where the "
            "provincial contract needs it)."),
    Setting("intake.phone_secret", "HCP_PHONE_SECRET", parsers.secret, None,
            "Key of the phone-number HMAC used in Redis keys. Empty: generated once "
            "into <data_dir>/secrets/phone_secret.", secret=True),
    Setting("intake.follow_up_window", "HCP_FOLLOW_UP_WINDOW", parsers.duration, timedelta(days=15),
            "How long after an evaluation one follow-up (追加评价) is accepted "
            "(seconds, or 15m / 48h / 15d)."),
    Setting("intake.phone_region", "HCP_PHONE_REGION", parsers.region, "CN",
            "Region assumed for phone numbers posted without a country code."),
    Setting("submitter.concurrency", "HCP_SUBMIT_CONCURRENCY", parsers.positive_int, 64,
            "Store requests in flight per gateway process."),
    Setting("submitter.claim_idle_s", "HCP_SUBMIT_CLAIM_IDLE_S", parsers.positive_float, 60.0,
            "Seconds after which an entry a dead worker held is claimed by another."),
    Setting("submitter.max_failed_deliveries", "HCP_SUBMIT_MAX_FAILED_DELIVERIES",
            parsers.positive_int, 5,
            "Deliveries of one outbox entry that may fail (the store client raised, no "
            "store answer) before it goes to the dead letters."),
    Setting("shutdown.drain_timeout_s", "HCP_DRAIN_TIMEOUT_S", parsers.positive_float, 20.0,
            "On SIGTERM/SIGINT, how long in-flight submissions may take to finish."),
    Setting("log.level", "HCP_LOG_LEVEL", parsers.log_level, "INFO",
            "DEBUG, INFO, WARNING or ERROR."),
)


_CORE_NAMES = frozenset(s.name for s in SETTINGS)


def _optional_pf(raw: Any) -> int | None:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    return parsers.pf_code(raw)


def _reason_codes(raw: Any) -> str | None:
    """A reason-code table's path, validated whole (ratings.reason_codes)."""
    from ratings.reason_codes import ReasonTableError, load_table

    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    if not isinstance(raw, str):
        raise ValueError("expected the path of a TOML file")
    try:
        load_table(raw.strip())
    except ReasonTableError as exc:
        raise ValueError(str(exc)) from None
    return raw.strip()


def _area_code(raw: Any) -> str:
    value = str(raw).strip() if raw is not None else ""
    if value and not re.fullmatch(r"\d{6}", value):
        raise ValueError(f"{value!r}: 6 digits (行政区划代码, e.g. 440100)")
    return value

# Settings that were renamed: an operator's old file or variable is refused with the
# new name, never silently ignored (a window set with the old names would not apply).
RENAMED = {
    "sms.quiet_start": "sms.send_window", "sms.quiet_end": "sms.send_window",
}


def _env_name(setting: str) -> str:
    return "HCP_" + setting.upper().replace(".", "_")


def _refuse_renamed(from_file: Mapping[str, Any], env: Mapping[str, str],
                    file_path: Path | None) -> None:
    for old, new in RENAMED.items():
        for present, source in ((old in from_file, str(file_path)),
                                (_env_name(old) in env, f"${_env_name(old)}")):
            if present:
                raise ConfigError(old, f"renamed: use {new} (${_env_name(new)}); see "
                                       f"docs/configuration.md", source)
_EXTRA_SETTINGS: list[Setting] = []



def register_settings(*settings: Setting) -> None:
    """Add settings of another part of the process (before ``load``)."""
    taken = {s.name for s in all_settings()} | {s.env for s in all_settings()}
    for setting in settings:
        if setting.name in taken or setting.env in taken:
            if setting in _EXTRA_SETTINGS:
                continue  # the same module imported twice
            raise ValueError(f"setting {setting.name} / {setting.env} already exists")
        _EXTRA_SETTINGS.append(setting)
        taken |= {setting.name, setting.env}


def all_settings() -> tuple[Setting, ...]:
    return SETTINGS + tuple(_EXTRA_SETTINGS)


@dataclass(frozen=True)
class Config:
    data_dir: Path
    http_host: str
    http_port: int
    http_reuse_port: bool
    http_max_body_bytes: int
    http_tokens: tuple[str, ...]
    redis_url: str | None
    redis_max_connections: int
    core_url: str | None
    core_hmac_secret: str | None
    core_timeout_s: float
    core_pf_hotline: int
    core_pf_sms: int
    core_pf_api: int | None
    core_reason_codes: str | None
    core_area_code: str
    core_include_mobile: bool
    intake_phone_secret: str | None
    intake_follow_up_window: timedelta
    intake_phone_region: str
    submitter_concurrency: int
    submitter_claim_idle_s: float
    submitter_max_failed_deliveries: int
    shutdown_drain_timeout_s: float
    log_level: str
    source_file: Path | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)  # registered settings, by name
    # where each setting not left at its default came from: the file or "$HCP_…"
    sources: Mapping[str, str] = field(default_factory=dict)

    def __getitem__(self, name: str) -> Any:
        """Any setting by its dotted name: ``config["http.port"]``, ``config["sip.port"]``."""
        if name in self.extra:
            return self.extra[name]
        if name in _CORE_NAMES:
            return getattr(self, name.replace(".", "_"))
        raise KeyError(name)

    def describe(self) -> dict:
        """Settings as a log line may show them: secrets and URL passwords hidden."""
        shown = {}
        for s in all_settings():
            if s.name not in self.extra and s.name not in _CORE_NAMES:
                continue  # registered after this config was loaded
            value = self[s.name]
            if s.parse is parsers.duration and isinstance(value, int | float) \
                    and not isinstance(value, bool):
                value = timedelta(seconds=value)  # a default written as seconds
            if s.secret:
                value = "<set>" if value else "<unset>"
            elif isinstance(value, str) and "://" in value:
                value = redact_url(value)
            elif isinstance(value, timedelta):
                value = format_duration(value)  # 15d, 24h, 1h30m: as the file would say
            elif isinstance(value, Path):
                value = str(value)
            shown[s.name] = value
        return shown


def _flatten(table: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in table.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def read_file(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return _flatten(tomllib.load(fh))
    except OSError as exc:
        raise ConfigError("--config", f"cannot read {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("--config", f"{path} is not valid TOML: {exc}") from exc


def load(path: str | Path | None = None, env: Mapping[str, str] | None = None,
         cwd: str | Path | None = None) -> Config:
    """Defaults, then the TOML file, then ``HCP_*`` variables; validated."""
    env = os.environ if env is None else env
    base = Path(cwd) if cwd is not None else Path.cwd()
    if path is None and env.get("HCP_CONFIG"):
        path = env["HCP_CONFIG"]
    if path is None and (base / DEFAULT_CONFIG_FILE).is_file():
        path = base / DEFAULT_CONFIG_FILE
    file_path = Path(path) if path is not None else None
    if file_path is not None and not file_path.is_absolute():
        file_path = base / file_path
    from_file = read_file(file_path) if file_path is not None else {}

    _refuse_renamed(from_file, env, file_path)
    known = {s.name for s in all_settings()}
    for name in from_file:
        if name not in known:
            raise ConfigError(name, "unknown setting (see docs/configuration.md)",
                              str(file_path))

    values: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for s in all_settings():
        raw, source = s.default, ""
        if s.name in from_file:
            raw, source = from_file[s.name], str(file_path)
        if s.env in env:
            raw, source = env[s.env], f"${s.env}"
        value = raw
        if source:
            sources[s.name] = source
            try:
                value = s.parse(raw)
            except ValueError as exc:
                raise ConfigError(s.name, str(exc), source) from None
        if s.name in _CORE_NAMES:
            values[s.attr] = value
        else:
            extra[s.name] = value

    data_dir = Path(values["data_dir"])
    values["data_dir"] = data_dir if data_dir.is_absolute() else base / data_dir
    if values["core_url"] and not values["core_hmac_secret"]:
        raise ConfigError("core.hmac_secret", "required when core.url is set "
                          "(set it or $HCP_CORE_HMAC_SECRET)")
    return Config(**values, source_file=file_path, extra=extra, sources=sources)


# -- the supervisor console's settings (console/) -----------------------------

def _workday_file(raw: Any) -> str:
    """A path to a readable override file (checked now: refused at start, not at the
    first bad rating), or ""."""
    path = parsers.text(raw).strip()
    WorkCalendar.from_file(path)  # CalendarFileError is a ValueError: names the setting
    return path


def _console_users(raw: Any) -> tuple[tuple[str, str, str], ...]:
    """``name:role:hash`` entries (TOML list, or comma-separated in the variable);
    role is supervisor or viewer; hash from ``hcp console hash-password``."""
    items = raw.split(",") if isinstance(raw, str) else raw
    if not isinstance(items, list | tuple) or not all(isinstance(t, str) for t in items):
        raise ValueError("expected a list of name:role:hash strings")
    users = []
    for item in (t.strip() for t in items if t.strip()):
        name, _, rest = item.partition(":")
        role, _, hashed = rest.partition(":")
        if not re.fullmatch(r"[A-Za-z0-9_.-]{1,32}", name):
            raise ValueError(f"user name {name!r}: 1-32 letters, digits, _ . -")
        if role not in ("supervisor", "viewer"):
            raise ValueError(f"user {name}: role is supervisor or viewer, not {role!r}")
        if not hashed.startswith(("scrypt$", "pbkdf2$")):
            raise ValueError(f"user {name}: expected a hash from hcp console hash-password")
        users.append((name, role, hashed))
    return tuple(users)


def _metrics_urls(raw: Any) -> tuple[str, ...]:
    items = raw.split(",") if isinstance(raw, str) else raw
    if not isinstance(items, list | tuple):
        raise ValueError("expected a list of http URLs")
    return tuple(parsers.optional_url("http", "https")(t) for t in items if str(t).strip())


register_settings(
    Setting("console.enabled", "HCP_CONSOLE_ENABLED", parsers.bool, True,
            "Serve the supervisor console at /console (and run its funnel aggregator)."),
    Setting("console.users", "HCP_CONSOLE_USERS", _console_users, (),
            "Console accounts, name:role:hash (role supervisor or viewer). Empty: a "
            "supervisor 'admin' with a password generated into "
            "<data_dir>/secrets/console_admin.", secret=True),
    Setting("console.session_ttl", "HCP_CONSOLE_SESSION_TTL", parsers.duration, timedelta(hours=8),
            "How long a console sign-in lasts without activity."),
    Setting("console.callback_working_days", "HCP_CONSOLE_CALLBACK_DAYS", parsers.positive_int, 2,
            "Callback deadline of a bad-rating case, in working days (seed art. 15)."),
    Setting("console.workday_overrides", "HCP_CONSOLE_WORKDAY_OVERRIDES", _workday_file, "",
            "TOML file of local working days and days off (workdays = [...], holidays = "
            "[...]) over chinese-calendar's public holidays and 调休 weekends; also "
            "the days of a year the package does not know yet. Empty: none."),
    Setting("console.demo", "HCP_CONSOLE_DEMO", parsers.bool, False,
            "Seed demo evaluations and flow statistics on start (an empty Redis only)."),
    Setting("console.ivr_metrics_urls", "HCP_CONSOLE_IVR_METRICS", _metrics_urls, (),
            "Prometheus endpoints of IVR workers, read for active calls on the "
            "operations page."),
)
# the console's later settings, listed as plain rows (the console does not import the
# gateway; gateway/sms_settings.py does the same for the SMS channel's)
register_settings(*(
    Setting(name, env, parser if callable(parser) else getattr(parsers, parser), default, doc)
    for name, env, parser, default, doc in console_settings.SETTINGS))
