"""Pool test harness: free port blocks, SIPp callers through a proxy, worker metrics.

SIPp callers here honour Record-Route (``rrs="true"``): the ACK and the caller's
BYE go to the 200's Contact through the proxy's Route, as a real PBX's would.
The caller steps are tests/ivr's scenario parts (RFC 2833 pcaps, wait for BYE).
"""

from __future__ import annotations

import random
import socket
import subprocess
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from ivr.pool_config import PoolConfig
from tests.ivr.sipp import SippResult, build_scenario, free_udp_port

HERE = Path(__file__).parent
SHORT_FLOW = str(HERE.parent / "ivr" / "flows" / "hotline_short.yaml")
LONG_GOODBYE = str(HERE / "flows" / "hotline_long_goodbye.yaml")

_PLAIN_200 = '<recv response="200" rtd="true"/>'
_PLAIN_ACK = "ACK sip:ivr@[remote_ip]:[remote_port] SIP/2.0"


def _block_free(base: int, span: int) -> bool:
    socks = []
    try:
        for port in range(base, base + span):
            for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
                s = socket.socket(socket.AF_INET, kind)
                socks.append(s)
                s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        for s in socks:
            s.close()


def free_block(span: int, low: int = 20000, high: int = 60000) -> int:
    """An even base port with ``span`` ports free above it (UDP and TCP)."""
    for _ in range(300):
        base = random.randrange(low, high - span, 2)
        if _block_free(base, span):
            return base
    raise RuntimeError("no free port block")


def front_port() -> int:
    """A port for the Kamailio front, away from the pool's blocks."""
    return free_block(2, 5100, 9900)


def caller_media_port() -> int:
    """SIPp's media port base (8 ports), away from the workers' RTP blocks."""
    return free_block(8, 5100, 9900)


def pool_config(count: int, **overrides) -> PoolConfig:
    """A pool on free ports: SIP, metrics and RTP blocks that cannot overlap."""
    rtp_range = overrides.pop("rtp_range", 40)
    # RTP below the kernel's ephemeral range (32768+): a worker binds its RTP ports
    # only when a call needs them, and any client socket could take one before that
    values = dict(count=count, sip_port=free_block(count, 28000, 30000),
                  metrics_port=free_block(count, 30000, 32000),
                  rtp_port=free_block(count * rtp_range, 10000, 20000), rtp_range=rtp_range,
                  flow=SHORT_FLOW, restart_backoff_s=0.2, poll_s=0.5,
                  extra_args=("--max-call-seconds", "60"))
    values.update(overrides)
    return PoolConfig(**values)


def proxied_scenario(steps: list[tuple], workdir: Path) -> Path:
    """tests/ivr's caller, with the ACK sent along the proxy's Record-Route."""
    path = build_scenario(steps, workdir)
    xml = path.read_text()
    if _PLAIN_200 not in xml or _PLAIN_ACK not in xml:
        raise RuntimeError("tests/ivr/scenarios/call.xml.in changed: update proxied_scenario")
    xml = xml.replace(_PLAIN_200, '<recv response="200" rtd="true" rrs="true"/>')
    xml = xml.replace(_PLAIN_ACK, "ACK [next_url] SIP/2.0\n      [routes]")
    path.write_text(xml)
    return path


def worker_metrics(port: int) -> dict[tuple, float]:
    """A worker's Prometheus samples: {(name, (label pairs…)): value}."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def calls_by_outcome(port: int, worker: str) -> dict[str, float]:
    found = {}
    for (name, labels), value in worker_metrics(port).items():
        if name == "hcp_ivr_calls_total":
            d = dict(labels)
            if d.get("worker") == worker:
                found[d["outcome"]] = value
    return found


def run_sipp_calls(scenario: Path, port: int, workdir: Path, calls: int, rate: float,
                   limit: int, timeout_s: int = 90, extra_args: tuple = ()) -> SippResult:
    """``calls`` SIPp calls at ``rate``/s, at most ``limit`` at once; no ticket header."""
    msg_log = workdir / "sipp_messages.log"
    args = ["sipp", "-sf", str(scenario), f"127.0.0.1:{port}", "-m", str(calls),
            "-r", str(rate), "-l", str(limit), "-p", str(free_udp_port()),
            "-mp", str(caller_media_port()), "-i", "127.0.0.1", "-trace_msg",
            "-message_file", str(msg_log), "-nostdin", "-timeout", f"{timeout_s}s",
            "-timeout_error", "-set", "ticket", "X-No-Ticket: 1", "-set", "agent",
            "X-No-Agent: 1", "-set", "extra", "X-Extra: none", *extra_args]
    proc = subprocess.run(args, cwd=workdir, capture_output=True, text=True,
                          timeout=timeout_s + 15)
    messages = msg_log.read_text(errors="replace") if msg_log.exists() else ""
    return SippResult(proc.returncode, messages, proc.stdout[-3000:] + proc.stderr[-2000:])


def active_calls(port: int, worker: str) -> float | None:
    return worker_metrics(port).get(("hcp_ivr_active_calls", (("worker", worker),)))
