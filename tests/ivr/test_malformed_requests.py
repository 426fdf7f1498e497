"""Malformed requests at a real worker: each gets a 400 at once, none a call (issue 11).

Hand-written datagrams from a UDP socket, as a broken or hostile peer sends them:
pjsip alone answered 200 to an INVITE whose body is shorter than its Content-Length
and nothing at all to one it could not parse (the sender retransmits for 32 s).
"""

from __future__ import annotations

import re
import socket
import time

import pytest

from adapters.sip_gate import bad_request_response, body_shorter_than_promised
from tests.ivr.sipp import build_scenario, run_sipp, wait_summaries

SDP = ("v=0\r\no=u 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
       "m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n")


def invite(port: int, local_port: int, call_id: str, *, length: int | str | None = None,
           from_header: str | None = None, method: str = "INVITE") -> bytes:
    """An INVITE (or another request) with SDP; ``from_header=""`` leaves From out."""
    from_header = (f"From: <sip:caller@127.0.0.1:{local_port}>;tag=f{call_id}"
                   if from_header is None else from_header)
    headers = [f"{method} sip:ivr@127.0.0.1:{port} SIP/2.0",
               f"Via: SIP/2.0/UDP 127.0.0.1:{local_port};rport;branch=z9hG4bK{call_id}",
               from_header, f"To: <sip:ivr@127.0.0.1:{port}>", f"Call-ID: {call_id}",
               f"CSeq: 7 {method}", f"Contact: <sip:caller@127.0.0.1:{local_port}>",
               "Max-Forwards: 70", "Content-Type: application/sdp",
               f"Content-Length: {len(SDP) if length is None else length}"]
    return ("\r\n".join(h for h in headers if h) + "\r\n\r\n" + SDP).encode()


def answers(sock: socket.socket, call_id: str, wait_s: float = 2.0) -> list[str]:
    """Every response to ``call_id`` that arrives within ``wait_s`` (whole texts)."""
    got, deadline = [], time.monotonic() + wait_s
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            data = sock.recv(4096).decode()
        except TimeoutError:
            break
        if re.search(rf"^Call-ID: {re.escape(call_id)}\r?$", data, re.MULTILINE):
            got.append(data)
            if not data.startswith("SIP/2.0 1"):
                break
    return got


@pytest.fixture
def udp():
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    yield sock
    sock.close()


BROKEN = {
    "body shorter than Content-Length": dict(length=len(SDP) + 100),
    "Content-Length not a number": dict(length="abc"),
    "From without its closing bracket": dict(from_header="From: <sip:caller@127.0.0.1;tag=x"),
    "From of control characters": dict(from_header="From: \x01\x02 ;;;"),
    "no From": dict(from_header=""),
}


def test_each_malformed_request_gets_one_400_and_the_worker_keeps_rating(
        start_worker, udp, sipp_dir, sync_redis):
    worker = start_worker()
    local_port = udp.getsockname()[1]
    for n, (name, broken) in enumerate(BROKEN.items()):
        call_id = f"malformed-{n}"
        udp.sendto(invite(worker.sip_port, local_port, call_id, **broken),
                   ("127.0.0.1", worker.sip_port))
        got = answers(udp, call_id)
        assert [g.split("\r\n", 1)[0] for g in got] == ["SIP/2.0 400 Bad Request"], (
            name, got, worker.log()[-2000:])
        # matched by the sender: its Via branch and CSeq come back, the To gains a tag
        assert f"branch=z9hG4bKmalformed-{n}" in got[0] and "CSeq: 7 INVITE" in got[0], got
        assert re.search(r"^To: .*;tag=\w+", got[0], re.MULTILINE), got
    # a body shorter than promised on another method is refused as well
    udp.sendto(invite(worker.sip_port, local_port, "short-options", method="OPTIONS",
                      length=len(SDP) + 1), ("127.0.0.1", worker.sip_port))
    assert [g.split("\r\n", 1)[0] for g in answers(udp, "short-options")] == [
        "SIP/2.0 400 Bad Request"]
    # the worker is alive and rates the next caller
    scenario = build_scenario([("pause", 800), ("key", "2"), ("wait_bye", 30000)], sipp_dir)
    result = run_sipp(scenario, worker.sip_port, sipp_dir, ticket="GD2026-0400")
    assert result.returncode == 0, result.output + worker.log()[-3000:]
    [summary] = wait_summaries(sync_redis, 1)
    assert summary["outcome"] == "rated"
    assert "malformed request" in worker.log()  # said once, without the packet's number


def test_a_truncated_body_is_spotted_in_either_line_ending():
    head = b"INVITE sip:ivr@h SIP/2.0\r\nl: 10\r\n\r\n"
    assert body_shorter_than_promised(head + b"123456789")
    assert not body_shorter_than_promised(head + b"1234567890")
    assert body_shorter_than_promised(b"OPTIONS sip:h SIP/2.0\nContent-Length:  5\n\nabc")
    assert not body_shorter_than_promised(b"OPTIONS sip:h SIP/2.0\r\n\r\n")  # no length


def test_the_400_is_built_only_for_a_request_it_can_be_matched_to():
    request = invite(5060, 5070, "abc", from_header="f: <sip:x@y;tag=1")
    response = bad_request_response(request, 'the "From" header').decode()
    assert response.startswith("SIP/2.0 400 Bad Request\r\n")
    assert "\r\nFrom: <sip:x@y;tag=1\r\n" in response and "\r\nCall-ID: abc\r\n" in response
    assert "Warning: 399 hcp-ivr \"the 'From' header\"" in response
    assert response.endswith("Content-Length: 0\r\n\r\n")
    assert bad_request_response(request.replace(b"INVITE sip", b"ACK sip", 1),
                                "x") is None  # an ACK is never answered
    assert bad_request_response(b"SIP/2.0 200 OK\r\nVia: x\r\n\r\n", "x") is None
    no_cseq = b"\r\n".join(line for line in request.split(b"\r\n")
                           if not line.startswith(b"CSeq"))
    assert bad_request_response(no_cseq, "x") is None
