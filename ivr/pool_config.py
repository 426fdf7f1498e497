"""The IVR worker pool's shape: how many workers, and the ports each one owns.

Worker ``i`` listens for SIP on ``sip_port + i`` (UDP and TCP), takes RTP ports
``rtp_port + i * rtp_range`` up to the next worker's, and serves its Prometheus
metrics on ``metrics_port + i``. pjsua's RTP ports start at 4000 by default, so
two workers left at their defaults fail with "Address already in use": every
port set is checked to be disjoint here, before a process is started.

The settings are the gateway's own (``gateway.config.register_settings``, at
import): TOML table ``[ivr]`` (``workers``, ``sip_port`` …) or the ``HCP_IVR_*``
variables, validated per value at load and by ``hcp serve --check-config``, which
also checks the ports of the whole pool (``check_config``). ``PoolConfig.from_config``
reads the loaded Config; ``from_env`` stays for callers without one (``hcp ivr
kamailio-config``). ``hcp serve`` starts the pool only when ``ivr.workers`` ≥ 1
(scripts/run sets 1: one worker on SIP port 5060).
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass, field
from typing import Any, Mapping

from gateway.config import ConfigError, Setting, parsers, register_settings

WORKERS_ENV = "HCP_IVR_WORKERS"


class PoolConfigError(ValueError):
    pass


@dataclass(frozen=True)
class WorkerSpec:
    """One worker's ports; ``name`` is its SIP port (the metrics' ``worker`` label)."""

    index: int
    sip_port: int
    rtp_port: int
    rtp_range: int
    metrics_port: int

    @property
    def name(self) -> str:
        return str(self.sip_port)


@dataclass(frozen=True)
class PoolConfig:
    count: int = 1
    sip_port: int = 5060
    rtp_port: int = 10000
    rtp_range: int = 200  # ports per worker: each call takes 2 (RTP + RTCP)
    metrics_port: int = 9160
    host: str = "127.0.0.1"  # where the front (Kamailio) reaches the workers
    bind: str = ""  # address the workers bind ("" = all)
    flow: str = "hotline-rating"
    allow: tuple[str, ...] = ("127.0.0.1/32",)  # sources allowed to send INVITEs
    max_calls: int | None = None  # None: the library's own limit (4 with the wheel)
    drain_s: float = 120.0  # on stop: how long live calls may take to finish
    restart_backoff_s: float = 0.5  # first restart delay; doubles per quick death
    restart_backoff_max_s: float = 30.0
    stable_after_s: float = 30.0  # a worker that ran this long restarts without delay
    poll_s: float = 2.0  # how often per-worker active calls are read
    extra_args: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self):
        self.validate()

    def workers(self) -> list[WorkerSpec]:
        return [WorkerSpec(i, self.sip_port + i, self.rtp_port + i * self.rtp_range,
                           self.rtp_range, self.metrics_port + i)
                for i in range(self.count)]

    def validate(self) -> None:
        if self.count < 1:
            raise PoolConfigError("the pool needs at least one worker")
        if self.rtp_range < 8 or self.rtp_range % 2:
            raise PoolConfigError("rtp_range must be even and at least 8 (4 calls × 2)")
        ranges = {
            "SIP ports": (self.sip_port, self.sip_port + self.count),
            "RTP ports": (self.rtp_port, self.rtp_port + self.count * self.rtp_range),
            "metrics ports": (self.metrics_port, self.metrics_port + self.count),
        }
        for name, (low, high) in ranges.items():
            if low < 1 or high > 65536:
                raise PoolConfigError(f"{name} {low}..{high - 1} are outside 1..65535")
        items = sorted(ranges.items(), key=lambda kv: kv[1])
        for (name_a, (_la, high_a)), (name_b, (low_b, high_b)) in zip(items[:-1], items[1:],
                                                                      strict=True):
            if low_b < high_a:
                raise PoolConfigError(f"{name_a} overlap {name_b} ({low_b}..{high_b - 1})")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> PoolConfig:
        env = os.environ if env is None else env
        values: dict = {}
        ints = {"count": WORKERS_ENV, "sip_port": "HCP_IVR_SIP_PORT",
                "rtp_port": "HCP_IVR_RTP_PORT", "rtp_range": "HCP_IVR_RTP_RANGE",
                "metrics_port": "HCP_IVR_METRICS_PORT", "max_calls": "HCP_IVR_MAX_CALLS"}
        for attr, var in ints.items():
            if env.get(var, "").strip():
                try:
                    values[attr] = int(env[var])
                except ValueError:
                    raise PoolConfigError(f"${var}: expected an integer") from None
        if env.get("HCP_IVR_DRAIN_S", "").strip():
            values["drain_s"] = float(env["HCP_IVR_DRAIN_S"])
        for attr, var in (("host", "HCP_IVR_HOST"), ("bind", "HCP_IVR_BIND"),
                          ("flow", "HCP_IVR_FLOW")):
            if env.get(var, "").strip():
                values[attr] = env[var].strip()
        if env.get("HCP_IVR_ALLOW", "").strip():
            values["allow"] = tuple(n.strip() for n in env["HCP_IVR_ALLOW"].split(",")
                                    if n.strip())
        if env.get("HCP_IVR_WORKER_ARGS", "").strip():
            values["extra_args"] = tuple(shlex.split(env["HCP_IVR_WORKER_ARGS"]))
        return cls(**values)

    @classmethod
    def from_config(cls, config) -> PoolConfig:
        return from_config(config)


def pool_enabled(env: Mapping[str, str] | None = None) -> bool:
    env = os.environ if env is None else env
    return env.get(WORKERS_ENV, "").strip() not in ("", "0")


# -- the pool's settings in the gateway's config ------------------------------

def _workers(raw: Any) -> int:
    value = parsers.int(raw)
    if value < 0:
        raise ValueError("0 (no pool) or more workers")
    return value


def _optional_positive_int(raw: Any) -> int | None:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    return parsers.positive_int(raw)


def _networks(raw: Any) -> tuple[str, ...]:
    """Comma-separated (env) or a TOML list of networks, each checked."""
    import ipaddress

    items = raw.split(",") if isinstance(raw, str) else list(raw)
    out = tuple(str(item).strip() for item in items if str(item).strip())
    for net in out:
        ipaddress.ip_network(net, strict=False)  # ValueError names the bad one
    if not out:
        raise ValueError("at least one network (the front's address)")
    return out


def _shell_words(raw: Any) -> tuple[str, ...]:
    return tuple(shlex.split(raw)) if isinstance(raw, str) else tuple(str(w) for w in raw)


_DEFAULT = PoolConfig()
# (field of PoolConfig, setting, env, parser, default, doc)
_ROWS = (
    ("count", "ivr.workers", WORKERS_ENV, _workers, 0,
     "IVR worker processes under hcp serve (0: no pool; scripts/run sets 1)"),
    ("sip_port", "ivr.sip_port", "HCP_IVR_SIP_PORT", parsers.port, _DEFAULT.sip_port,
     "worker i listens on SIP port + i (UDP and TCP)"),
    ("rtp_port", "ivr.rtp_port", "HCP_IVR_RTP_PORT", parsers.port, _DEFAULT.rtp_port,
     "worker i takes RTP ports base + i*range (keep below the ephemeral range)"),
    ("rtp_range", "ivr.rtp_range", "HCP_IVR_RTP_RANGE", parsers.positive_int,
     _DEFAULT.rtp_range, "RTP ports per worker (even, at least 8; a call takes 2)"),
    ("metrics_port", "ivr.metrics_port", "HCP_IVR_METRICS_PORT", parsers.port,
     _DEFAULT.metrics_port, "worker i serves Prometheus metrics on base + i"),
    ("host", "ivr.host", "HCP_IVR_HOST", parsers.text, _DEFAULT.host,
     "where the front (Kamailio) reaches the workers: the dispatcher list"),
    ("bind", "ivr.bind", "HCP_IVR_BIND", parsers.text, _DEFAULT.bind,
     "address the workers bind (empty: all)"),
    ("allow", "ivr.allow", "HCP_IVR_ALLOW", _networks, _DEFAULT.allow,
     "networks allowed to send INVITEs (comma-separated; the front's or the PBX's)"),
    ("flow", "ivr.flow", "HCP_IVR_FLOW", parsers.text, _DEFAULT.flow,
     "flow id or YAML path the workers run"),
    ("max_calls", "ivr.max_calls", "HCP_IVR_MAX_CALLS", _optional_positive_int, None,
     "per-worker call limit (unset: the library's, 4 with the PyPI wheel)"),
    ("drain_s", "ivr.drain_s", "HCP_IVR_DRAIN_S", parsers.positive_float, _DEFAULT.drain_s,
     "on stop, seconds live calls may run before the workers are killed"),
    ("extra_args", "ivr.worker_args", "HCP_IVR_WORKER_ARGS", _shell_words, (),
     "more 'hcp ivr worker' options (shell words), e.g. --inband-dtmf"),
)
SETTINGS = tuple(Setting(name, env, parse, default, doc)
                 for _attr, name, env, parse, default, doc in _ROWS)
register_settings(*SETTINGS)


def from_config(config) -> PoolConfig:
    """The pool of a loaded ``gateway.config.Config`` (workers ≥ 1 expected)."""
    values = {attr: config[name] for attr, name, *_rest in _ROWS}
    values["count"] = max(values["count"], 1)
    try:
        return PoolConfig(**values)
    except PoolConfigError as exc:
        raise ConfigError("ivr", str(exc)) from None


def check_config(config) -> None:
    """ConfigError if the configured pool cannot start (ports overlap, range odd …)."""
    if pool_enabled_in(config):
        from_config(config)


def pool_enabled_in(config) -> bool:
    return config["ivr.workers"] >= 1
