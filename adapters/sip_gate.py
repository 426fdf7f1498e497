"""What a worker answers before pjsua sees a request: pjsip hooks written with ctypes.

Two hooks on the pjsua2 wheel's own pjsip (the wheel exports the C API, not its
headers: the few struct offsets below are for the pinned pjsua2-python 2.15.1 on
x86_64 and are checked on every use, stepping aside when they look wrong):

* ``AdmissionGate``, a pjsip module ahead of pjsua's, answers a new INVITE
  statelessly when it would be refused anyway (ACL 403, draining 503, no slot
  486/503, beyond ``max_new_calls_s`` 503), and any new request whose
  Content-Length promises more bytes than the datagram holds (400, RFC 3261
  18.3: pjsip would take the short body as it is).
* ``BadRequestAnswer``, pjsip's dropped-data callback, answers 400 to a request
  pjsip could not parse or that lacks a mandatory header (a broken From, a
  Content-Length that is not a number): pjsip drops those without a word, so the
  sender retransmits for 32 s and never learns why.

Both run on the thread that polls pjsua (the event loop's), like every callback.
"""

from __future__ import annotations

import ctypes
import ipaddress
import logging
import os
import re
import socket
import time
from typing import TYPE_CHECKING

import pjsua2 as pj

if TYPE_CHECKING:  # the agent's state the gate reads: ACL, drain flag, live calls
    from adapters.sip_pjsua2 import SipAgent

log = logging.getLogger("hcp.sip")

LIB = ctypes.CDLL(pj._pjsua2.__file__)
LIB.pjsua_get_pjsip_endpt.restype = ctypes.c_void_p
LIB.pjsip_endpt_register_module.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
LIB.pjsip_endpt_unregister_module.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
LIB.pjsip_endpt_respond_stateless.argtypes = [
    ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p,
    ctypes.c_void_p]
LIB.pjsip_endpt_get_tpmgr.restype = ctypes.c_void_p
LIB.pjsip_endpt_get_tpmgr.argtypes = [ctypes.c_void_p]
LIB.pjsip_tpmgr_set_drop_data_cb.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
LIB.pjsip_udp_transport_get_socket.restype = ctypes.c_long
LIB.pjsip_udp_transport_get_socket.argtypes = [ctypes.c_void_p]

CALL_ID_RE = re.compile(r"^(?:call-id|i)\s*:\s*(\S+)", re.IGNORECASE | re.MULTILINE)
_CONTENT_LENGTH_RE = re.compile(rb"^(?:content-length|l)[ \t]*:[ \t]*(\d+)[ \t]*\r?$",
                                re.IGNORECASE | re.MULTILINE)

_RX_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p)


class _PjsipModule(ctypes.Structure):
    """``pjsip_module`` (pjsip/sip_module.h)."""

    _fields_ = [("prev", ctypes.c_void_p), ("next", ctypes.c_void_p),
                ("name", ctypes.c_char_p), ("name_len", ctypes.c_ssize_t),
                ("id", ctypes.c_int), ("priority", ctypes.c_int),
                ("load", ctypes.c_void_p), ("start", ctypes.c_void_p),
                ("stop", ctypes.c_void_p), ("unload", ctypes.c_void_p),
                ("on_rx_request", _RX_CALLBACK), ("on_rx_response", ctypes.c_void_p),
                ("on_tx_request", ctypes.c_void_p), ("on_tx_response", ctypes.c_void_p),
                ("on_tsx_state", ctypes.c_void_p)]


class _DroppedData(ctypes.Structure):
    """``pjsip_tp_dropped_data`` (pjsip/sip_transport.h)."""

    _fields_ = [("tp", ctypes.c_void_p), ("data", ctypes.c_void_p),
                ("len", ctypes.c_size_t), ("status", ctypes.c_int)]


_DROP_CALLBACK = ctypes.CFUNCTYPE(None, ctypes.POINTER(_DroppedData))

# pjsip_rx_data with PJSIP_MAX_PKT_LEN 4000: pkt_info.packet (NUL-terminated by pjsip),
# .len, .src_name (char[46]) and .src_port.
_RX_PACKET, _RX_LEN, _RX_SRC_NAME, _RX_SRC_PORT = 320, 4328, 4368, 4416
_MAX_PKT_LEN = 4000
_GATE_PRIORITY = 40  # after the transaction layer (16) and the dialogs (32), before pjsua (64)
# pjsip's status codes for what it drops (pjsip/sip_errno.h)
PJSIP_EINVALIDMSG, PJSIP_EMISSINGHDR = 171020, 171050


def rx_packet(rdata: int) -> bytes | None:
    """The datagram an rx_data holds, or None when the layout is not the expected one."""
    length = ctypes.c_ssize_t.from_address(rdata + _RX_LEN).value
    if not 0 < length <= _MAX_PKT_LEN or ctypes.c_char.from_address(
            rdata + _RX_PACKET + length).value != b"\0":
        return None
    return ctypes.string_at(rdata + _RX_PACKET, length)


def rx_source(rdata: int) -> tuple[str, int] | None:
    """(address, port) the datagram came from, or None when it does not parse."""
    name = ctypes.string_at(rdata + _RX_SRC_NAME, 46).split(b"\0", 1)[0].decode(
        "ascii", "replace")
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return None
    return name, ctypes.c_int.from_address(rdata + _RX_SRC_PORT).value


def body_shorter_than_promised(packet: bytes) -> bool:
    """True when Content-Length says more than the bytes after the header (RFC 3261
    18.3: over UDP that request is answered 400; pjsip would take the short body)."""
    head, sep, body = packet.partition(b"\r\n\r\n")
    if not sep:
        head, sep, body = packet.partition(b"\n\n")
    match = _CONTENT_LENGTH_RE.search(head)
    return bool(sep and match and int(match.group(1)) > len(body))


class AdmissionGate:
    """Refuses a new request statelessly before pjsua gives it a call slot.

    A pjsip module ahead of pjsua's own: a request that reaches it is out of dialog
    (re-INVITEs are taken by their dialog at priority 32, retransmissions by their
    transaction). It answers, with no transaction, no call slot, no media transport:
    400 to a request whose body is shorter than its Content-Length; for an INVITE,
    403 to a source outside the ACL, 503 while draining, when every call slot is
    taken (486 at the library's limit, as pjsua would; 503 at a lower limit of ours),
    or beyond ``max_new_calls_s`` new calls per second. Each pjsua call opens
    two RTP sockets, and the select ioqueue (64 handles) keeps a closed socket's key
    500 ms before reuse: a few hundred call set-ups a second used to exhaust it
    (``pj_ioqueue_register_sock2: Assertion '!pj_list_empty(&ioqueue->free_list)'``,
    an abort). Refusals are counted; one log line per second at most."""

    def __init__(self, agent: SipAgent, max_new_calls_s: float):
        self.agent = agent
        self.rate = max_new_calls_s
        self.tokens = max(1.0, min(max_new_calls_s, 8.0))
        self.burst = self.tokens
        self.refilled = time.monotonic()
        self.refused: dict[int, int] = {}
        self._quiet_until = 0.0
        self._unlogged = 0
        self._callback = _RX_CALLBACK(self._on_rx_request)  # kept: pjsip holds a raw pointer
        self._module = _PjsipModule()
        self._name = b"mod-hcp-admission"
        self._module.name, self._module.name_len = self._name, len(self._name)
        self._module.id, self._module.priority = -1, _GATE_PRIORITY
        self._module.on_rx_request = self._callback
        self.registered = False

    def register(self) -> None:
        endpt = LIB.pjsua_get_pjsip_endpt()
        status = LIB.pjsip_endpt_register_module(endpt, ctypes.byref(self._module))
        self.registered = status == 0
        if not self.registered:
            log.error("admission gate not registered (status %d): pjsua refuses alone", status)

    def unregister(self) -> None:
        if self.registered:
            LIB.pjsip_endpt_unregister_module(LIB.pjsua_get_pjsip_endpt(),
                                              ctypes.byref(self._module))
            self.registered = False

    def _on_rx_request(self, rdata: int) -> int:
        try:
            packet, source = rx_packet(rdata), rx_source(rdata)
            if packet is None or source is None or packet.startswith(b"ACK "):
                return 0  # layout not as expected, or an ACK (never answered): step aside
            if body_shorter_than_promised(packet):
                status = 400
            elif packet.startswith(b"INVITE "):
                status = self.admit(source[0])
            else:
                status = None
            if status is None:
                return 0
            LIB.pjsip_endpt_respond_stateless(LIB.pjsua_get_pjsip_endpt(), rdata, status,
                                              None, None, None)
            self._count(status, packet, source)
            return 1
        except Exception:
            log.exception("admission gate")
            return 0

    def admit(self, source: str) -> int | None:
        """The refusal for a new INVITE from ``source`` (an address), or None to admit."""
        agent = self.agent
        if not agent._in(source, agent._acl):
            return 403
        if agent.draining:
            return 503
        if agent._live_calls() >= agent.limit:  # 486 as pjsua's own at the library's limit
            return 486 if agent.limit >= agent.library_limit else 503
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.refilled) * self.rate)
        self.refilled = now
        if self.tokens < 1.0:
            return 503
        self.tokens -= 1.0
        return None

    def _count(self, status: int, packet: bytes, source: tuple[str, int]) -> None:
        self.refused[status] = self.refused.get(status, 0) + 1
        if status != 400:
            try:
                self.agent.listener.on_refused(status)
            except Exception:
                log.exception("error in on_refused")
        now = time.monotonic()
        if now < self._quiet_until:
            self._unlogged += 1
            return
        self._quiet_until = now + 1.0
        match = CALL_ID_RE.search(packet.decode("utf-8", "replace"))
        call_id = match.group(1) if match else "?"
        more = f" ({self._unlogged} more refusal(s) in the last second)" if self._unlogged else ""
        self._unlogged = 0
        method = packet.split(b" ", 1)[0].decode("ascii", "replace")
        if status == 400:
            why = " 400: body shorter than its Content-Length"
        elif status == 403:
            why = ": not in the ACL"
        else:
            why = f" {status}: " + ("draining" if self.agent.draining else "busy")
        log.warning("%s %s from %s:%d refused%s (stateless)%s", method, call_id, source[0],
                    source[1], why, more)


# The headers a response copies from its request (RFC 3261 8.2.6.2), compact forms too.
_COPIED = {"via": "Via", "v": "Via", "from": "From", "f": "From", "to": "To", "t": "To",
           "call-id": "Call-ID", "i": "Call-ID", "cseq": "CSeq"}


def bad_request_response(packet: bytes, why: str) -> bytes | None:
    """A 400 for a request pjsip could not take, built from its raw text, or None
    when it is not a request that can be answered (a response, an ACK, no Via, no
    Call-ID or no CSeq to match it by). Headers are copied as they came, the broken
    one too: the sender matches the answer by its Via branch and CSeq."""
    text = packet.decode("utf-8", "replace").replace("\r\n", "\n")
    head = text.split("\n\n", 1)[0]
    lines = head.split("\n")
    if lines[0].startswith("SIP/") or lines[0].startswith("ACK ") or " SIP/2.0" not in lines[0]:
        return None
    unfolded: list[str] = []
    for line in lines[1:]:
        if line[:1] in (" ", "\t") and unfolded:
            unfolded[-1] += " " + line.strip()
        elif line.strip():
            unfolded.append(line)
    copied: list[str] = []
    seen: set[str] = set()
    for line in unfolded:
        name, colon, value = line.partition(":")
        canonical = _COPIED.get(name.strip().lower())
        if colon and canonical:
            value = value.strip()
            if canonical == "To" and ";tag=" not in value.replace(" ", ""):
                value += ";tag=" + os.urandom(6).hex()
            copied.append(f"{canonical}: {value}")
            seen.add(canonical)
    if not {"Via", "Call-ID", "CSeq"} <= seen:
        return None
    why = why.replace('"', "'")
    return ("\r\n".join(["SIP/2.0 400 Bad Request", *copied,
                         f'Warning: 399 hcp-ivr "{why}"', "Content-Length: 0", "", ""])
            ).encode()


class BadRequestAnswer:
    """pjsip's dropped-data callback: a 400 to each unparseable request on UDP.

    Sent from the transport's own socket (the sender sees the port it wrote to) to
    the datagram's source (RFC 3581 style, which is what the sender reads on a NAT).
    Counted in ``answered``; one log line per second at most."""

    def __init__(self) -> None:
        self._callback = _DROP_CALLBACK(self._on_dropped)  # kept: pjsip holds a raw pointer
        self._sockets: dict[int, socket.socket] = {}
        self.answered = 0
        self._quiet_until = 0.0

    def register(self) -> None:
        tpmgr = LIB.pjsip_endpt_get_tpmgr(LIB.pjsua_get_pjsip_endpt())
        LIB.pjsip_tpmgr_set_drop_data_cb(tpmgr, ctypes.cast(self._callback, ctypes.c_void_p))

    def unregister(self) -> None:
        endpt = LIB.pjsua_get_pjsip_endpt()
        if endpt:
            LIB.pjsip_tpmgr_set_drop_data_cb(LIB.pjsip_endpt_get_tpmgr(endpt), None)
        for sock in self._sockets.values():
            sock.close()
        self._sockets.clear()

    def _on_dropped(self, dropped) -> None:
        try:
            dd = dropped.contents
            if dd.status not in (PJSIP_EINVALIDMSG, PJSIP_EMISSINGHDR) or not dd.tp:
                return
            if ctypes.string_at(dd.tp, 3) != b"udp":  # obj_name "udp0x…": a UDP transport
                return
            rdata = dd.data - _RX_PACKET  # the datagram's rx_data (one message per datagram)
            source = rx_source(rdata)
            packet = rx_packet(rdata)
            if source is None or packet is None or packet[:dd.len] != ctypes.string_at(
                    dd.data, dd.len):
                return
            why = ("a mandatory header is missing or broken" if dd.status == PJSIP_EMISSINGHDR
                   else "the request does not parse")
            response = bad_request_response(packet, why)
            if response is None:
                return
            self._socket(dd.tp).sendto(response, source)
            self.answered += 1
            self._log(packet, source, why)
        except Exception:
            log.exception("answering a malformed request")

    def _socket(self, tp: int) -> socket.socket:
        fd = LIB.pjsip_udp_transport_get_socket(tp)
        if fd not in self._sockets:  # pjsip owns the fd: send through a duplicate
            self._sockets[fd] = socket.socket(fileno=os.dup(fd))
        return self._sockets[fd]

    def _log(self, packet: bytes, source: tuple[str, int], why: str) -> None:
        now = time.monotonic()
        if now < self._quiet_until:
            return
        self._quiet_until = now + 1.0
        match = CALL_ID_RE.search(packet.decode("utf-8", "replace"))
        log.warning("malformed request %s from %s:%d answered 400: %s",
                    match.group(1) if match else "?", source[0], source[1], why)
