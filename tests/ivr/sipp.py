"""Test harness: an IVR worker process and SIPp callers built from scenario parts.

The parts live in tests/ivr/scenarios/ (``call.xml.in`` + one part per caller
step). A caller is a list of steps:

    ("pause", ms)                  wait
    ("key", "1")                   RFC 2833 press (own pcap, see rtp_pcap.py)
    ("info", "5", "application/dtmf-relay" | "application/dtmf")
    ("bye",)                       the caller hangs up
    ("wait_bye", ms)               wait for the IVR to hang up (answer its BYE)
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from tests.ivr.rtp_pcap import rfc2833_packets, write_pcap
from tests.support.logged_process import LoggedProcess

SCENARIOS = Path(__file__).parent / "scenarios"
REPO = Path(__file__).resolve().parents[2]


def free_udp_port() -> int:
    """A port free for both UDP and TCP (the worker binds both)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.bind(("127.0.0.1", 0))
            port = u.getsockname()[1]
            with socket.socket() as t:
                try:
                    t.bind(("127.0.0.1", port))
                except OSError:
                    continue
            return port
    raise RuntimeError("no free port")


def free_rtp_base(span: int = 40) -> int:
    """An even base port with ``span`` free UDP ports above it."""
    import random
    for _ in range(200):
        base = random.randrange(20000, 60000, 2)
        socks = []
        try:
            for p in range(base, base + span):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                socks.append(s)
                s.bind(("127.0.0.1", p))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no free RTP range")


def build_scenario(steps: list[tuple], workdir: Path) -> Path:
    parts = []
    seq, ts = 1000, 160_000
    for n, step in enumerate(steps):
        kind = step[0]
        if kind == "pause":
            parts.append(f'  <pause milliseconds="{int(step[1])}"/>')
        elif kind == "key":
            pcap = workdir / f"key{n}.pcap"
            packets = rfc2833_packets(step[1], seq, ts)
            write_pcap(pcap, packets)
            seq += len(packets) + 10
            ts += 16_000
            parts.append((SCENARIOS / "rfc2833.xml.in").read_text().replace("PCAP", str(pcap)))
        elif kind == "info":
            digit, ctype = step[1], step[2]
            body = f"      Signal={digit}\n      Duration=160" if ctype.endswith("relay") \
                else f"      {digit}"
            part = (SCENARIOS / "info.xml.in").read_text()
            parts.append(part.replace("CONTENT_TYPE", ctype).replace("BODY", body))
        elif kind == "bye":
            parts.append((SCENARIOS / "bye_by_caller.xml.in").read_text())
        elif kind == "wait_bye":
            part = (SCENARIOS / "bye_by_ivr.xml.in").read_text()
            parts.append(part.replace("TIMEOUT_MS", str(int(step[1]))))
        else:
            raise ValueError(kind)
    xml = (SCENARIOS / "call.xml.in").read_text().replace("STEPS", "\n".join(parts))
    path = workdir / "scenario.xml"
    path.write_text(xml)
    return path


@dataclass
class SippResult:
    returncode: int
    messages: str
    output: str


def run_sipp(scenario: Path, port: int, workdir: Path, ticket: str = "", agent: str = "",
             extra: str = "X-Extra: none", calls: int = 1, timeout_s: int = 60,
             header_vars: bool = True) -> SippResult:
    msg_log = workdir / "sipp_messages.log"
    args = ["sipp", "-sf", str(scenario), f"127.0.0.1:{port}", "-m", str(calls),
            "-p", str(free_udp_port()), "-mp", str(free_rtp_base(8)), "-i", "127.0.0.1",
            "-trace_msg", "-message_file", str(msg_log), "-nostdin",
            "-timeout", f"{timeout_s}s", "-timeout_error"]
    if header_vars:  # call.xml.in's header lines; refused.xml has none
        args += ["-set", "ticket", f"X-Ticket-Id: {ticket}" if ticket else "X-No-Ticket: 1",
                 "-set", "agent", f"X-Agent-Id: {agent}" if agent else "X-No-Agent: 1",
                 "-set", "extra", extra]
    proc = subprocess.run(args, cwd=workdir, capture_output=True, text=True,
                          timeout=timeout_s + 15)
    messages = msg_log.read_text(errors="replace") if msg_log.exists() else ""
    return SippResult(proc.returncode, messages, proc.stdout[-3000:] + proc.stderr[-2000:])


class WorkerProcess(LoggedProcess):
    """``hcp ivr worker`` as a child process on free ports."""

    def __init__(self, redis_url: str, data_dir: Path, extra_args: list[str] = (),
                 env: dict | None = None):
        self.extra_env = env or {}
        self.sip_port = free_udp_port()
        self.rtp_port = free_rtp_base(40)
        self.log_path = data_dir / f"worker-{self.sip_port}.log"
        self.args = [sys.executable, "-m", "gateway.cli", "ivr", "worker",
                     "--sip-port", str(self.sip_port), "--rtp-port", str(self.rtp_port),
                     "--rtp-range", "40", "--redis", redis_url, "--data-dir", str(data_dir),
                     "--max-call-seconds", "60", *extra_args]
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 20) -> WorkerProcess:
        env = dict(os.environ, PYTHONPATH=str(REPO), **self.extra_env)
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen(self.args, cwd=REPO, stdout=self._log,
                                     stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if "IVR worker ready" in self.log():
                return self
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited: {self.log()[-2000:]}")
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"worker not ready: {self.log()[-2000:]}")

    def wait_log(self, text: str, timeout: float = 15) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.log():
                return True
            time.sleep(0.05)
        return False


def call_summaries(redis_client) -> list[dict]:
    """The worker's per-call summaries ({hcp}:ivr:calls), oldest first."""
    out = []
    for _id, fields in redis_client.xrange("{hcp}:ivr:calls"):
        rec = {k.decode(): v.decode() for k, v in fields.items()}
        rec["digits"] = json.loads(rec["digits"])
        rec["submitted"] = json.loads(rec["submitted"])
        out.append(rec)
    return out


def wait_summaries(redis_client, count: int, timeout: float = 20) -> list[dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = call_summaries(redis_client)
        if len(found) >= count:
            return found
        time.sleep(0.1)
    return call_summaries(redis_client)
