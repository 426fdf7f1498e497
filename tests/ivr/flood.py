"""INVITE floods with SIPp, counted from SIPp's message log (tests and bench/ivr/flood_bench.py).

A flood caller sends an INVITE with SDP; a 200 is ACKed and the call is hung up
after ``hold_ms``; a 403/486/503 (the refusals a worker or the front may send) is
ACKed and the call ends. Every INVITE is one SIPp call (its own Call-ID), so
"answered" = a final response to that Call-ID's INVITE in the message log. SIPp
gives up on a call after ``-recv_timeout``: such a call has no final response,
and counts as unanswered.
"""

from __future__ import annotations

import re
import secrets
import socket
import subprocess
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from tests.ivr.sipp import build_scenario, call_summaries, free_rtp_base, free_udp_port, run_sipp

_SEPARATOR = re.compile(r"^-{40,} (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+)$", re.MULTILINE)
_CALL_ID = re.compile(r"^Call-ID:\s*(\S+)", re.MULTILINE | re.IGNORECASE)
_CSEQ = re.compile(r"^CSeq:\s*\d+\s+(\w+)", re.MULTILINE | re.IGNORECASE)

FLOOD_XML = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="hcp-invite-flood">
  <send retrans="500">
    <![CDATA[
      INVITE sip:ivr@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:flood@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:ivr@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: sip:sipp@[local_ip]:[local_port]
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0 101
      a=rtpmap:0 PCMU/8000
      a=rtpmap:101 telephone-event/8000
    ]]>
  </send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="403" optional="true" next="refused"/>
  <recv response="486" optional="true" next="refused"/>
  <recv response="503" optional="true" next="refused"/>
  <recv response="500" optional="true" next="refused"/>
  <recv response="200" rrs="true"/>
  <send>
    <![CDATA[
      ACK [next_url] SIP/2.0
      [routes]
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:flood@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:ivr@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Contact: sip:sipp@[local_ip]:[local_port]
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
  <pause milliseconds="HOLD_MS"/>
  <send retrans="500">
    <![CDATA[
      BYE [next_url] SIP/2.0
      [routes]
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:flood@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:ivr@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 2 BYE
      Contact: sip:sipp@[local_ip]:[local_port]
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
  <recv response="200"/>
  <nop next="done"/>
  <label id="refused"/>
  <send>
    <![CDATA[
      ACK sip:ivr@[remote_ip]:[remote_port] SIP/2.0
      [last_Via:]
      From: <sip:flood@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      [last_To:]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
  <label id="done"/>
</scenario>
"""


@dataclass
class FloodResult:
    rate: int
    seconds: float
    invites: int = 0  # calls SIPp started (one INVITE each, plus retransmissions)
    finals: Counter = field(default_factory=Counter)  # final status of each INVITE
    first_final_ms: list[float] = field(default_factory=list)  # INVITE → final response
    ended_at: float = 0.0  # time.time() when SIPp exited (the flood's last call ended)
    output: str = ""

    @property
    def unanswered(self) -> int:
        return self.invites - sum(self.finals.values())

    def p95_ms(self) -> float:
        data = sorted(self.first_final_ms)
        return data[int(0.95 * (len(data) - 1))] if data else 0.0

    def summary(self) -> str:
        codes = ", ".join(f"{code}: {n}" for code, n in sorted(self.finals.items()))
        return (f"{self.rate}/s x {self.seconds:g} s: {self.invites} INVITEs, "
                f"{self.unanswered} unanswered, finals {{{codes}}}, "
                f"answer p95 {self.p95_ms():.0f} ms")


def _stamp(text: str) -> float:
    from datetime import datetime
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S.%f").timestamp()


def count_finals(messages: str) -> tuple[int, Counter, list[float]]:
    """From a ``-trace_msg`` log: calls that sent an INVITE, the final status each got,
    and the time from its first INVITE to its first final response (ms)."""
    sent: dict[str, float] = {}
    final: dict[str, int] = {}
    delays: list[float] = []
    parts = _SEPARATOR.split(messages)
    for stamp, body in zip(parts[1::2], parts[2::2], strict=False):
        head = body.lstrip().split("\n", 3)
        if len(head) < 3:
            continue
        direction, start = head[0], head[2] if not head[1].strip() else head[1]
        call = _CALL_ID.search(body)
        cseq = _CSEQ.search(body)
        if not call or not cseq or cseq.group(1).upper() != "INVITE":
            continue
        cid = call.group(1)
        if "sent" in direction and start.startswith("INVITE"):
            sent.setdefault(cid, _stamp(stamp))
        elif "received" in direction and start.startswith("SIP/2.0"):
            code = int(start.split()[1])
            if code >= 200 and cid not in final:
                final[cid] = code
                if cid in sent:
                    delays.append((_stamp(stamp) - sent[cid]) * 1000)
    return len(sent), Counter(final[c] for c in final if c in sent), delays


def run_flood(port: int, rate: int, seconds: float, workdir: Path, hold_ms: int = 100,
              source_ip: str = "127.0.0.1", recv_timeout_s: int = 8) -> FloodResult:
    """``rate`` INVITE/s for ``seconds`` at 127.0.0.1:port, from ``source_ip``."""
    workdir.mkdir(parents=True, exist_ok=True)
    scenario = workdir / "flood.xml"
    scenario.write_text(FLOOD_XML.replace("HOLD_MS", str(hold_ms)))
    msg_log = workdir / "flood_messages.log"
    calls = int(rate * seconds)
    args = ["sipp", "-sf", str(scenario), f"127.0.0.1:{port}", "-m", str(calls),
            "-r", str(rate), "-l", str(calls), "-p", str(free_udp_port()),
            "-mp", str(free_rtp_base(8)), "-i", source_ip, "-trace_msg",
            "-message_file", str(msg_log), "-nostdin", "-recv_timeout", str(recv_timeout_s * 1000),
            "-timeout", f"{int(seconds) + recv_timeout_s + 30}s", "-max_recv_loops", "10000"]
    proc = subprocess.run(args, cwd=workdir, capture_output=True, text=True,
                          timeout=seconds + recv_timeout_s + 60)
    result = FloodResult(rate, seconds, ended_at=time.time(),
                         output=proc.stdout[-2000:] + proc.stderr[-1500:])
    messages = msg_log.read_text(errors="replace") if msg_log.exists() else ""
    result.invites, result.finals, result.first_final_ms = count_finals(messages)
    return result


@dataclass
class NextCall:
    """The first normal call after a flood: a caller who presses 1 at once."""

    attempts: int = 0  # INVITEs until one was answered 200 (a refusal: try again)
    answered_s: float = float("inf")  # flood end → the 200 OK
    rated_s: float = float("inf")  # flood end → the rating in the intake's outbox
    rated: bool = False  # the call's summary says "rated"
    refusals: Counter = field(default_factory=Counter)


def _final_of_invite(messages: str) -> tuple[int | None, float]:
    parts = _SEPARATOR.split(messages)
    for stamp, body in zip(parts[1::2], parts[2::2], strict=False):
        lines = body.lstrip().split("\n")
        cseq = _CSEQ.search(body)
        if ("received" in lines[0] and len(lines) > 2 and lines[2].startswith("SIP/2.0")
                and cseq and cseq.group(1).upper() == "INVITE"):
            code = int(lines[2].split()[1])
            if code >= 200:
                return code, _stamp(stamp)
    return None, 0.0


def next_rated_call(port: int, workdir: Path, since: float, redis_url: str,
                    proxied: bool = False, give_up_s: float = 15) -> NextCall:
    """Place a normal call (press 1 after 100 ms, wait for the IVR's BYE) right after a
    flood that ended at ``since`` (time.time()); retry at once while refused."""
    import redis

    from tests.ivr_pool.harness import proxied_scenario

    workdir.mkdir(parents=True, exist_ok=True)
    steps = [("pause", 100), ("key", "1"), ("wait_bye", 20000)]
    scenario = proxied_scenario(steps, workdir) if proxied else build_scenario(steps, workdir)
    result = NextCall()
    client = redis.Redis.from_url(redis_url)
    try:
        deadline = time.time() + give_up_s
        while time.time() < deadline:
            result.attempts += 1
            run = run_sipp(scenario, port, workdir, calls=1, timeout_s=30)
            code, at = _final_of_invite(run.messages)
            if code != 200:
                result.refusals[code] += 1
                time.sleep(0.05)
                continue
            result.answered_s = at - since
            call_id = _CALL_ID.search(run.messages).group(1)
            start_id = f"{int(since * 1000)}-0"
            entries = client.xrange("{hcp}:outbox", min=start_id, count=1)
            if entries:
                result.rated_s = int(entries[0][0].decode().split("-")[0]) / 1000 - since
            for _ in range(50):
                summary = [s for s in call_summaries(client) if s["call_id"] == call_id]
                if summary:
                    result.rated = summary[0]["outcome"] == "rated"
                    break
                time.sleep(0.1)
            break
    finally:
        client.close()
    return result


def refused_status(sip_port: int, caller: str = "outsider", call_id: str | None = None) -> int:
    """The final status of an INVITE without SDP (delayed offer) sent from 127.0.0.2,
    outside a worker's default ACL (127.0.0.1/32); retransmitted until answered."""
    branch = secrets.token_hex(8)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.2", 0))
        sock.settimeout(0.5)
        local_port = sock.getsockname()[1]
        request = (f"INVITE sip:ivr@127.0.0.1:{sip_port} SIP/2.0\r\n"
                   f"Via: SIP/2.0/UDP 127.0.0.2:{local_port};branch=z9hG4bK{branch};rport\r\n"
                   f"From: <sip:{caller}@127.0.0.2>;tag={branch[:8]}\r\n"
                   f"To: <sip:ivr@127.0.0.1:{sip_port}>\r\n"
                   f"Call-ID: {call_id or branch + '@127.0.0.2'}\r\n"
                   "CSeq: 1 INVITE\r\n"
                   f"Contact: <sip:{caller}@127.0.0.2:{local_port}>\r\n"
                   "Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n").encode()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            sock.sendto(request, ("127.0.0.1", sip_port))
            try:
                data = sock.recv(65535)
            except socket.timeout:
                continue
            if int(data[8:11]) >= 200:
                return int(data[8:11])
    raise AssertionError("no final answer")
