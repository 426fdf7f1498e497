"""The IVR worker pool's shape: how many workers, and the ports each one owns.

Worker ``i`` listens for SIP on ``sip_port + i`` (UDP and TCP), takes RTP ports
``rtp_port + i * rtp_range`` up to the next worker's, and serves its Prometheus
metrics on ``metrics_port + i``. pjsua's RTP ports start at 4000 by default, so
two workers left at their defaults fail with "Address already in use": every
port set is checked to be disjoint here, before a process is started.

Read from ``HCP_IVR_*`` variables (``PoolConfig.from_env``); the embedded
default is one worker on SIP port 5060. ``hcp serve`` starts the pool only when
``HCP_IVR_WORKERS`` is set (1 or more).
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass, field
from typing import Mapping

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


def pool_enabled(env: Mapping[str, str] | None = None) -> bool:
    env = os.environ if env is None else env
    return env.get(WORKERS_ENV, "").strip() not in ("", "0")
