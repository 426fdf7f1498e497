"""What one SIP agent costs idle and per call, old polling/tapping against new, one run.

    .venv/bin/python bench/ivr/idle_bench.py [--idle 30] [--hold 20] [--calls 4]

For each mode a child process runs ``SipAgent`` alone (no flow, no Redis: a listener
that answers 200 and waits for the caller's BYE):

* ``old``: ``idle_poll_ms = poll_ms = 10`` and ``tap_every_call`` (the agent as it was);
* ``new``: the defaults (adaptive poll, SIP sockets wake the loop; tap only where needed);
* ``new-inband``: the defaults with in-band detection on every call (the tap's cost).

Measured from /proc: idle CPU (utime+stime over ``--idle`` s, % of one core), wake-ups
per second of the main thread and of the whole process (voluntary + involuntary context
switches), INVITE→200 latency of a raw UDP INVITE after the idle window (and of a
second one 0.5 s later), and CPU per call: ``--calls`` concurrent SIPp calls that send
G.711 audio (``g711a.pcap``) and hold ``--hold`` s, CPU over the hold minus idle.
The load average is printed with every line: other people's work shares these cores.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

TICK = os.sysconf("SC_CLK_TCK")
PCAP = "/usr/share/sip-tester/g711a.pcap"


# -- child: the agent alone ---------------------------------------------------------
async def child(mode: str, port: int, rtp: int) -> None:
    from adapters.sip_pjsua2 import SipAgent, SipSettings

    settings = SipSettings(sip_port=port, rtp_port=rtp, rtp_port_range=40, tcp=False,
                           max_new_calls_s=100.0)
    if mode == "old":
        settings.idle_poll_ms = settings.poll_ms
        settings.tap_every_call = True
    if mode == "new-inband":
        settings.inband_dtmf = True

    class Listener:
        def on_incoming(self, call, invite):
            call.sink = lambda event: None
            return 200

        def on_refused(self, status):
            pass

    agent = SipAgent(settings, Listener())
    await agent.start()
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await agent.stop()


# -- parent ---------------------------------------------------------------------------
def _proc(pid: int, task: int | None = None) -> tuple[float, int]:
    """(cpu seconds, context switches) of a process or one of its threads."""
    base = f"/proc/{pid}" + (f"/task/{task}" if task else "")
    text = Path(f"{base}/stat").read_text()
    f = text[text.rindex(")") + 2:].split()
    cpu = (int(f[11]) + int(f[12])) / TICK
    switches = 0
    for line in Path(f"{base}/status").read_text().splitlines():
        if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
            switches += int(line.split()[1])
    return cpu, switches


def _all_switches(pid: int) -> int:
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            total += _proc(pid, int(task))[1]
        except OSError:
            continue
    return total


def invite_latency(port: int) -> float:
    """ms from a raw UDP INVITE to its 200 OK; then ACK and BYE."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(5)
    lport = sock.getsockname()[1]
    cid, tag = uuid.uuid4().hex, uuid.uuid4().hex[:8]
    sdp = ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
           "m=audio 9 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n"
           "a=rtpmap:101 telephone-event/8000\r\n")

    def request(method: str, cseq: int, body: str = "", to_tag: str = "") -> bytes:
        head = (f"{method} sip:ivr@127.0.0.1:{port} SIP/2.0\r\n"
                f"Via: SIP/2.0/UDP 127.0.0.1:{lport};branch=z9hG4bK{uuid.uuid4().hex}\r\n"
                f"From: <sip:bench@127.0.0.1:{lport}>;tag={tag}\r\n"
                f"To: <sip:ivr@127.0.0.1:{port}>{to_tag}\r\nCall-ID: {cid}\r\n"
                f"CSeq: {cseq} {method}\r\nContact: <sip:bench@127.0.0.1:{lport}>\r\n"
                f"Max-Forwards: 70\r\n")
        if body:
            head += "Content-Type: application/sdp\r\n"
        return (head + f"Content-Length: {len(body)}\r\n\r\n" + body).encode()

    started = time.perf_counter()
    sock.sendto(request("INVITE", 1, sdp), ("127.0.0.1", port))
    to_tag = ""
    while True:
        data = sock.recv(65536).decode(errors="replace")
        status = data.split(" ", 2)[1]
        if status.startswith("2") or int(status) >= 300:
            elapsed = 1000 * (time.perf_counter() - started)
            for line in data.split("\r\n"):
                if line.lower().startswith(("to:", "t:")) and ";tag=" in line:
                    to_tag = ";tag=" + line.split(";tag=", 1)[1].split(";")[0]
            break
    sock.sendto(request("ACK", 1, to_tag=to_tag), ("127.0.0.1", port))
    if status.startswith("2"):
        sock.sendto(request("BYE", 2, to_tag=to_tag), ("127.0.0.1", port))
        try:
            sock.recv(65536)
        except TimeoutError:
            pass
    sock.close()
    if not status.startswith("2"):
        raise RuntimeError(f"INVITE answered {status}")
    return elapsed


def sipp_calls(port: int, calls: int, hold_s: float, workdir: Path) -> None:
    from tests.ivr.sipp import build_scenario, free_rtp_base, free_udp_port

    scenario = build_scenario([("pause", 10), ("bye",)], workdir)
    audio = (f'  <nop><action><exec play_pcap_audio="{PCAP}"/></action></nop>\n'
             f'  <pause milliseconds="{int(hold_s * 1000)}"/>')
    scenario.write_text(scenario.read_text().replace('  <pause milliseconds="10"/>', audio))
    subprocess.run(["sipp", "-sf", str(scenario), f"127.0.0.1:{port}", "-m", str(calls),
                    "-l", str(calls), "-r", str(calls), "-p", str(free_udp_port()),
                    "-mp", str(free_rtp_base(4 * calls)), "-i", "127.0.0.1", "-nostdin",
                    "-timeout", f"{int(hold_s) + 30}s", "-set", "ticket", "X-No-Ticket: 1",
                    "-set", "agent", "X-No-Agent: 1", "-set", "extra", "X-Extra: none"],
                   cwd=workdir, capture_output=True, timeout=hold_s + 45, check=False)


def measure(mode: str, args, workdir: Path) -> dict:
    from tests.ivr.sipp import free_rtp_base, free_udp_port

    port = free_udp_port()
    proc = subprocess.Popen([sys.executable, __file__, "--child", mode, "--port", str(port),
                             "--rtp", str(free_rtp_base(40))],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        pid = proc.pid
        time.sleep(2.0)  # past the start-up linger
        load0 = os.getloadavg()[0]
        cpu0, main0 = _proc(pid, pid)
        all0 = _all_switches(pid)
        pcpu0 = _proc(pid)[0]
        time.sleep(args.idle)
        cpu1, main1 = _proc(pid, pid)
        pcpu1 = _proc(pid)[0]
        all1 = _all_switches(pid)
        idle = {"idle_cpu_pct": 100 * (pcpu1 - pcpu0) / args.idle,
                "idle_main_cpu_pct": 100 * (cpu1 - cpu0) / args.idle,
                "wakeups_main_s": (main1 - main0) / args.idle,
                "wakeups_all_s": (all1 - all0) / args.idle}
        idle["invite_ms_after_idle"] = invite_latency(port)
        time.sleep(0.5)
        idle["invite_ms_busy"] = invite_latency(port)
        time.sleep(args.idle / 3 + 3)  # idle again
        idle["invite_ms_after_idle_2"] = invite_latency(port)
        time.sleep(3)
        c0 = _proc(pid)[0]
        t0 = time.monotonic()
        sipp_calls(port, args.calls, args.hold, workdir)
        wall = time.monotonic() - t0
        c1 = _proc(pid)[0]
        busy_pct = 100 * (c1 - c0) / wall
        idle["calls_cpu_pct"] = busy_pct
        idle["per_call_cpu_pct"] = (busy_pct - idle["idle_cpu_pct"]) / args.calls
        idle["load"] = f"{load0:.2f}->{os.getloadavg()[0]:.2f}"
        return idle
    finally:
        proc.stdin.close()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--child", choices=["old", "new", "new-inband"])
    parser.add_argument("--port", type=int)
    parser.add_argument("--rtp", type=int)
    parser.add_argument("--idle", type=float, default=30.0)
    parser.add_argument("--hold", type=float, default=20.0)
    parser.add_argument("--calls", type=int, default=4)
    parser.add_argument("--modes", default="old,new,new-inband")
    args = parser.parse_args()
    if args.child:
        asyncio.run(child(args.child, args.port, args.rtp))
        return 0
    results = {}
    with tempfile.TemporaryDirectory(prefix="idle-bench-") as tmp:
        for mode in args.modes.split(","):
            work = Path(tmp) / mode
            work.mkdir()
            results[mode] = r = measure(mode, args, work)
            print(f"{mode:<11} idle cpu {r['idle_cpu_pct']:5.2f} % (main thread "
                  f"{r['idle_main_cpu_pct']:5.2f} %)  wake-ups/s main {r['wakeups_main_s']:6.1f}"
                  f" all {r['wakeups_all_s']:6.1f}  INVITE->200 after idle "
                  f"{r['invite_ms_after_idle']:5.1f} / {r['invite_ms_after_idle_2']:5.1f} ms, "
                  f"busy {r['invite_ms_busy']:5.1f} ms  {args.calls} calls "
                  f"{r['calls_cpu_pct']:5.2f} % -> per call {r['per_call_cpu_pct']:5.2f} %  "
                  f"load {r['load']}", flush=True)
    if "old" in results and "new" in results:
        old, new = results["old"], results["new"]
        print(f"ratio new/old: idle cpu {new['idle_cpu_pct'] / old['idle_cpu_pct']:.2f}, "
              f"main wake-ups {new['wakeups_main_s'] / max(old['wakeups_main_s'], 1e-9):.2f}, "
              f"per-call cpu {new['per_call_cpu_pct'] / max(old['per_call_cpu_pct'], 1e-9):.2f}")
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
