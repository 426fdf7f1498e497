"""``scripts/demo-call``: one real call against a running gateway, recorded as the caller hears it.

Theory of operation
-------------------
SIPp (Debian ``sip-tester``) places the call: an INVITE carrying the call context the
way docs/ivr.md says a PBX must (``X-Ticket-Id``/``X-Agent-Id`` headers, or the same in
``User-to-User``), ACK, then it waits for the IVR's BYE. SIPp cannot record, so the
caller's media is a small RTP endpoint in this process (``CallerMedia``): the SDP of
SIPp's INVITE names *its* UDP port, so the worker sends the prompts there, and it
sends the key presses as RFC 4733 events from that same socket (a second source
would make pjmedia latch onto it and the recording would go silent). It
decodes what it hears (PCMU) into a WAV and finds the prompts in it by level.

Keys are pressed when the prompt before them has ended (``--barge-in`` presses
each key 1 s into the prompt instead). The outcome printed: SIPp's result, the
keys with their times, the prompt segments heard (start/end), the longest
silence after a key, the WAV path; with ``--redis`` also the gateway's call
summary (outcome, digits with method) for this Call-ID.

Before the call an OPTIONS probe asks whether anything answers on ``--host``
(the worker and the Kamailio front both answer it): if nothing does, the script
says "no IVR answering on HOST" and what to start, instead of SIPp's statistics
after its timeout. After the call the gateway's call summary tells what the IVR
did; when the ticket had been rated before, the IVR told the caller so and ended
the call, and the script says "already rated" (with the evaluation that holds the
ticket) rather than "keys not pressed". ``scripts/demo-call`` passes the running
gateway's Redis (gateway.running) as ``--redis`` when none is given.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import wave
from dataclasses import dataclass, field
from pathlib import Path

EVENTS = {**{str(d): d for d in range(10)}, "*": 10, "#": 11}
PCMU, TELEPHONE_EVENT = 0, 101
FRAME_S = 0.02
SPEECH_RMS = 300  # 16-bit linear; pjsua's silence frames are 0
PROMPT_END_S = 0.8  # this much quiet after speech = the prompt ended


def ulaw_to_linear(byte: int) -> int:
    byte = ~byte & 0xFF
    sign, exponent, mantissa = byte & 0x80, (byte >> 4) & 0x07, byte & 0x0F
    sample = (((mantissa << 3) + 0x84) << exponent) - 0x84
    return -sample if sign else sample


_ULAW = [ulaw_to_linear(b) for b in range(256)]


@dataclass
class Heard:
    """What the caller's side saw: 20 ms frames (RMS) and the keys it sent."""

    started: float = field(default_factory=time.monotonic)
    pcm: bytearray = field(default_factory=bytearray)
    levels: list[float] = field(default_factory=list)  # one per 20 ms of audio received
    keys: list[tuple[str, float]] = field(default_factory=list)  # (digit, seconds)

    def now(self) -> float:
        return len(self.levels) * FRAME_S

    def segments(self, min_gap_s: float = 0.3) -> list[tuple[float, float]]:
        """Prompt segments (start, end) in seconds: speech with gaps < min_gap_s merged."""
        out: list[list[float]] = []
        for i, level in enumerate(self.levels):
            if level < SPEECH_RMS:
                continue
            t = i * FRAME_S
            if out and t - out[-1][1] <= min_gap_s:
                out[-1][1] = t + FRAME_S
            else:
                out.append([t, t + FRAME_S])
        return [(round(a, 2), round(b, 2)) for a, b in out]

    def silence_after_keys(self) -> list[tuple[str, float]]:
        """For each key: seconds from the press to the next sound (-1: none followed).

        0 when sound goes on through the key: after a barge-in the next prompt
        starts within a frame, so the two merge into one segment."""
        segments = self.segments()
        out = []
        for digit, at in self.keys:
            nxt = next((max(a, at) for a, b in segments if b > at + FRAME_S), None)
            out.append((digit, round(max(nxt - at, 0.0), 2) if nxt is not None else -1.0))
        return out


class CallerMedia(threading.Thread):
    """The caller's RTP: record PCMU into ``heard``, send keys as RFC 4733 events."""

    def __init__(self, keys: str, barge_in: bool = False):
        super().__init__(daemon=True)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.keys = list(keys)
        self.barge_in = barge_in
        self.heard = Heard()
        self.peer = None
        self.stop_event = threading.Event()
        self.seq, self.ts, self.ssrc = random.randrange(1 << 15), 160_000, random.getrandbits(32)

    def run(self) -> None:
        speech_since_key = 0.0
        quiet = 0.0
        while not self.stop_event.is_set():
            try:
                data, addr = self.sock.recvfrom(2048)
            except TimeoutError:
                continue
            except OSError:
                return
            if len(data) < 12 or data[1] & 0x7F != PCMU:
                continue
            self.peer = addr  # symmetric RTP: answer where the worker sends from
            samples = [_ULAW[b] for b in data[12 + 4 * (data[0] & 0x0F):]]
            self.heard.pcm += struct.pack(f"<{len(samples)}h", *samples)
            rms = (sum(s * s for s in samples) / max(len(samples), 1)) ** 0.5
            self.heard.levels.append(rms)
            if rms >= SPEECH_RMS:
                speech_since_key += FRAME_S
                quiet = 0.0
            else:
                quiet += FRAME_S
            if not self.keys:
                continue
            ready = speech_since_key >= 1.0 if self.barge_in \
                else speech_since_key > 0.3 and quiet >= PROMPT_END_S
            if ready:
                self.press(self.keys.pop(0))
                speech_since_key, quiet = 0.0, 0.0

    def press(self, digit: str) -> None:
        """One key: start, updates every 20 ms, three end packets (RFC 4733 2.5.1.4)."""
        self.heard.keys.append((digit, round(self.heard.now(), 2)))
        event, updates = EVENTS[digit], 5
        for i in range(updates + 1):
            self._send(0x80 if i == 0 else 0, struct.pack("!BBH", event, 10, 160 * (i + 1)))
            time.sleep(FRAME_S)
        for _ in range(3):
            self._send(0, struct.pack("!BBH", event, 0x80 | 10, 160 * (updates + 2)), False)
        self.seq += 1
        self.ts += 160 * (updates + 20)

    def _send(self, marker: int, payload: bytes, step: bool = True) -> None:
        header = struct.pack("!BBHII", 0x80, marker | TELEPHONE_EVENT, self.seq & 0xFFFF,
                             self.ts, self.ssrc)
        self.sock.sendto(header + payload, self.peer)
        if step:
            self.seq += 1

    def stop(self) -> None:
        self.stop_event.set()
        self.join(2)
        self.sock.close()


SCENARIO = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="hcp-demo-call">
  <Global variables="ctx1,ctx2,ctx3,rtpport"/>
  <send retrans="500"><![CDATA[
      INVITE sip:ivr@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:demo@[local_ip]:[local_port]>;tag=[pid]demo[call_number]
      To: <sip:ivr@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: sip:demo@[local_ip]:[local_port]
      Max-Forwards: 70
      [$ctx1]
      [$ctx2]
      [$ctx3]
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=demo 1 1 IN IP4 127.0.0.1
      s=-
      c=IN IP4 127.0.0.1
      t=0 0
      m=audio [$rtpport] RTP/AVP 0 101
      a=rtpmap:0 PCMU/8000
      a=rtpmap:101 telephone-event/8000
      a=fmtp:101 0-15
  ]]></send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="183" optional="true"/>
  <recv response="200" rtd="true"/>
  <send><![CDATA[
      ACK sip:ivr@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:demo@[local_ip]:[local_port]>;tag=[pid]demo[call_number]
      To: <sip:ivr@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Contact: sip:demo@[local_ip]:[local_port]
      Max-Forwards: 70
      Content-Length: 0
  ]]></send>
  <recv request="BYE" timeout="TIMEOUT_MS"/>
  <send><![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0
  ]]></send>
</scenario>
"""


def context_headers(ticket: str, agent: str, uui: bool, closes_item: bool = False
                    ) -> tuple[str, str, str]:
    """The INVITE's context lines (docs/ivr.md, "what a PBX must send")."""
    closes = "true" if closes_item else ""
    if uui:
        pairs = ";".join(f"{k}={v}" for k, v in (("ticket", ticket), ("agent", agent),
                                                 ("closes_item", closes)) if v)
        line = f"User-to-User: {pairs.encode().hex()};encoding=hex" if pairs else "X-None: 1"
        return line, "X-None: 2", "X-None: 3"
    return (f"X-Ticket-Id: {ticket}" if ticket else "X-None: 1",
            f"X-Agent-Id: {agent}" if agent else "X-None: 2",
            f"X-Closes-Item: {closes}" if closes else "X-None: 3")


@dataclass
class DemoResult:
    sipp_rc: int
    call_id: str
    heard: Heard
    wav: Path
    sipp_output: str


def place_call(host: str, digits: str, ticket: str = "", agent: str = "", uui: bool = False,
               barge_in: bool = False, wav: Path | None = None, timeout_s: int = 120,
               closes_item: bool = False) -> DemoResult:
    if shutil.which("sipp") is None:
        raise SystemExit("sipp is not installed (Debian sip-tester): scripts/install-deps")
    workdir = Path(tempfile.mkdtemp(prefix="hcp-demo-call-"))
    scenario = workdir / "demo.xml"
    scenario.write_text(SCENARIO.replace("TIMEOUT_MS", str(timeout_s * 1000)))
    media = CallerMedia(digits, barge_in)
    media.start()
    ctx1, ctx2, ctx3 = context_headers(ticket, agent, uui, closes_item)
    msg_log = workdir / "messages.log"
    args = ["sipp", "-sf", str(scenario), host, "-m", "1", "-i", "127.0.0.1", "-p", "0",
            "-mp", str(_free_port()), "-nostdin", "-trace_msg", "-message_file", str(msg_log),
            "-timeout", f"{timeout_s}s", "-timeout_error",
            "-set", "ctx1", ctx1, "-set", "ctx2", ctx2, "-set", "ctx3", ctx3,
            "-set", "rtpport", str(media.port)]
    try:
        proc = subprocess.run(args, cwd=workdir, capture_output=True, text=True,
                              timeout=timeout_s + 15)
    finally:
        media.stop()
    messages = msg_log.read_text(errors="replace") if msg_log.exists() else ""
    call_id = next((line.split(":", 1)[1].strip() for line in messages.splitlines()
                    if line.lower().startswith("call-id:")), "")
    wav = wav or workdir / "heard.wav"
    with wave.open(str(wav), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(bytes(media.heard.pcm))
    return DemoResult(proc.returncode, call_id, media.heard, wav,
                      proc.stdout[-2000:] + proc.stderr[-2000:])


def _free_port() -> int:
    """SIPp's own media port (unused: the caller's media is CallerMedia)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1] & ~1


def probe(host: str, timeout_s: float = 3.0) -> str:
    """Does a SIP agent answer on host:port? "answered" (any SIP response to an
    OPTIONS), "refused" (ICMP port unreachable: nothing listens) or "silent"."""
    from ivr.sip_probe import options_request

    name, _, port = host.rpartition(":")
    call_id = f"demo-probe-{random.getrandbits(48):x}"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect((name or host, int(port) if port.isdigit() else 5060))
        except OSError:
            return "refused"
        request = options_request(name, int(port or 5060), sock.getsockname()[1],
                                  f"{random.getrandbits(48):x}", call_id)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                sock.send(request)
                sock.settimeout(max(0.01, min(0.25, deadline - time.monotonic())))
                data = sock.recv(65535)
            except ConnectionRefusedError:  # ICMP port unreachable: nothing bound there
                return "refused"
            except (TimeoutError, OSError):
                continue
            if data.startswith(b"SIP/2.0 ") and call_id.encode() in data:
                return "answered"
    return "silent"


def ticket_holder(redis_url: str, ticket: str) -> str | None:
    """The evaluation that already holds the ticket's item key, if any."""
    import redis

    from ratings import keys

    client = redis.Redis.from_url(redis_url, socket_connect_timeout=2, socket_timeout=5)
    try:
        holder = client.get(keys.item(ticket))
    except redis.RedisError:
        return None
    finally:
        client.close()
    return keys.decoded(holder) if holder else None


def call_summary(redis_url: str, call_id: str, wait_s: float = 10) -> dict | None:
    import redis

    client = redis.Redis.from_url(redis_url)
    deadline = time.monotonic() + wait_s
    try:
        while time.monotonic() < deadline:
            for _id, fields in reversed(client.xrevrange("{hcp}:ivr:calls", count=50)):
                rec = {k.decode(): v.decode() for k, v in fields.items()}
                if rec.get("call_id") == call_id:
                    return rec
            time.sleep(0.2)
    finally:
        client.close()
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/demo-call", description=__doc__.split("\n")[0])
    parser.add_argument("--digits", default="1", help="keys to press in order (default 1)")
    parser.add_argument("--ticket", default="", help="X-Ticket-Id (办件/工单 id)")
    parser.add_argument("--agent", default="", help="X-Agent-Id (the hotline agent)")
    parser.add_argument("--closes-item", action="store_true",
                        help="X-Closes-Item: true: this call completes the ticket's item, so "
                             "its rating is the item's one evaluation (else the call's own)")
    parser.add_argument("--uui", action="store_true", help="send them in User-to-User (hex)")
    parser.add_argument("--host", default="127.0.0.1:5060", help="the IVR worker or front")
    parser.add_argument("--barge-in", action="store_true", help="press 1 s into each prompt")
    parser.add_argument("--wav", type=Path, help="where to write what the caller heard")
    parser.add_argument("--redis", default=os.environ.get("HCP_DEMO_REDIS_URL"),
                        help="the gateway's Redis URL: print its call summary (default "
                             "$HCP_DEMO_REDIS_URL, which scripts/demo-call sets)")
    parser.add_argument("--timeout", type=int, default=120, help="seconds (default 120)")
    parser.add_argument("--json", action="store_true", help="print the outcome as JSON")
    args = parser.parse_args(argv)
    answer = probe(args.host)
    if answer != "answered":
        how = ("nothing listens there" if answer == "refused"
               else "no answer to SIP OPTIONS in 3 s")
        print(f"scripts/demo-call: no IVR answering on {args.host} ({how}): start the "
              f"gateway with scripts/run (one IVR worker on 127.0.0.1:5060), or give "
              f"--host HOST:PORT of a running worker or front", file=sys.stderr)
        return 1
    # only a call that closes the item can find it rated: any other call is rated on its own
    rates_item = args.closes_item and args.ticket
    held_before = ticket_holder(args.redis, args.ticket) if args.redis and rates_item \
        else None
    result = place_call(args.host, args.digits, args.ticket, args.agent, args.uui,
                        args.barge_in, args.wav, args.timeout, args.closes_item)
    outcome = {
        "answered_and_ended_by_ivr": result.sipp_rc == 0, "call_id": result.call_id,
        "heard_seconds": round(result.heard.now(), 2), "wav": str(result.wav),
        "keys": result.heard.keys, "prompts": result.heard.segments(),
        "key_to_next_prompt_s": result.heard.silence_after_keys(),
        "keys_not_pressed": args.digits[len(result.heard.keys):],
    }
    summary = None
    if args.redis and result.call_id:
        summary = call_summary(args.redis, result.call_id)
        outcome["gateway_summary"] = summary
    outcome["already_rated"] = already_rated(summary, held_before)
    if outcome["already_rated"]:
        outcome["held_by"] = held_before or (ticket_holder(args.redis, args.ticket)
                                             if rates_item else None)
    if args.json:
        print(json.dumps(outcome, ensure_ascii=False, indent=1))
    else:
        print(f"call {outcome['call_id']}: "
              f"{'answered, ended by the IVR' if result.sipp_rc == 0 else 'FAILED'}")
        print(f"heard {outcome['heard_seconds']} s of audio -> {outcome['wav']}")
        for digit, at in result.heard.keys:
            print(f"  key {digit} at {at:.2f} s")
        for n, (start, end) in enumerate(outcome["prompts"], 1):
            print(f"  prompt {n}: {start:.2f}-{end:.2f} s")
        for digit, gap in outcome["key_to_next_prompt_s"]:
            print(f"  after key {digit}: next prompt in {gap} s" if gap >= 0
                  else f"  after key {digit}: no prompt followed")
        if outcome["already_rated"]:
            by = f" by evaluation {outcome['held_by']}" if outcome.get("held_by") else ""
            print(f"already rated: ticket {args.ticket or '(none)'} was rated before{by}; "
                  f"the IVR told the caller so and ended the call (see it with "
                  f"scripts/hcp evaluations show --ticket {args.ticket or 'T'})")
        elif outcome["keys_not_pressed"]:
            print(f"  keys not pressed (the call ended first): {outcome['keys_not_pressed']}")
        if args.redis:
            s = outcome.get("gateway_summary")
            print(f"gateway: {s['outcome']}, keys {s['digits']}" if s
                  else "gateway: no call summary found")
        if result.sipp_rc != 0:
            print(result.sipp_output, file=sys.stderr)
    if outcome["already_rated"]:
        return 1
    return 0 if result.sipp_rc == 0 and not outcome["keys_not_pressed"] else 1


def already_rated(summary: dict | None, held_before: str | None) -> bool:
    """The IVR refused the rating as a duplicate (its call summary says so); without a
    summary, the ticket was held before the call (the IVR then says so too)."""
    if summary is not None:
        try:
            submitted = json.loads(summary.get("submitted") or "[]")
        except ValueError:
            submitted = []
        return summary.get("outcome") == "duplicate" or (
            "duplicate" in submitted and "accepted" not in submitted)
    return held_before is not None


if __name__ == "__main__":
    sys.exit(main())
