"""The SIP edge: one pjsua2 endpoint per process. With its ctypes companion
``adapters.sip_gate``, THE ONLY module that imports pjsua2.

Theory of operation (see docs/ivr.md for the measured facts behind it):

* Threading model (a) of pjsua2-facts: no pjsip worker threads
  (``threadCnt=0, mainThreadOnly=True``); an asyncio task calls
  ``libHandleEvents(0)``, adaptively (``_poll``): every ``poll_ms`` while a
  call is up, a stopped player awaits destruction or less than ``linger_s``
  after the last call (its BYE/ACK transactions); otherwise every
  ``idle_poll_ms`` (a Kamailio OPTIONS ping is handled and the wait resumes) —
  but then the loop also watches the SIP sockets (``add_reader`` on the fds
  bound to ``sip_port``, found in /proc), so an INVITE or OPTIONS arriving at
  an idle worker is handled at once, not at the next idle tick. The readers
  exist only during an idle wait (one-shot: pjsip reads the socket, not us; a
  level-triggered reader left on while the loop sleeps 10 ms would spin).
  Why not a pjsip worker thread blocking in ``libHandleEvents(timeout)``
  (model b, less CPU in pjsua2-facts): every callback would then run on that
  thread while call tasks drive media on the loop thread, and the invariants
  below — the C++ ``Call`` deleted inside ``onCallState(DISCONNECTED)``,
  players destroyed after their grace on the thread that drives pjsua, the
  refusal sent after ``onIncomingCall`` returns, the admission gate reading
  agent state without a lock — all rest on one thread touching pjsua2. The
  adaptive poll keeps them and costs about what model (b) does when idle.
  So every SIP callback runs on the event-loop thread, inside that task, and
  pjsua2 is only ever touched from that one thread (no ``libRegisterThread``
  dance, no race between a callback and a media command). The one exception
  is ``onFrameReceived`` of the audio tap, which pjmedia calls on its clock
  thread; it only runs the pure in-band detector and hands digits over with
  ``loop.call_soon_threadsafe``. Events to the call task always go through
  ``call_soon_threadsafe`` so the code is right under either model.
* ``onIncomingCall`` creates the ``Call`` object at once (pjsua2 answers 500
  otherwise), checks the ACL (403), the drain flag and the call limit (503),
  then asks the listener, which answers 200 or a refusal code. A refusal is
  never sent inside ``onIncomingCall``: a call that ends there has its cloned
  INVITE freed by pjsua, and pjsua2 then frees it again
  (``pjsip_rx_data_free_cloned: Assertion 'rdata' failed``, an abort: seen with
  an INVITE without SDP refused by the ACL). The refusal is sent from the event
  loop right after ``libHandleEvents`` returns (``_refuse``); an ACL refusal
  runs no listener and builds no call task.
* Before all that, ``AdmissionGate`` (a pjsip module ahead of pjsua's) answers a
  new INVITE statelessly when it would be refused anyway: outside the ACL (403),
  draining, every slot taken (486/503) or beyond ``max_new_calls_s``. No call
  slot, no RTP sockets, no Python call object: a flood costs a parse and a reply
  (a flood of refusals through pjsua exhausted the 64-handle ioqueue: an abort).
  It also answers 400 to a body shorter than its Content-Length, and
  ``BadRequestAnswer`` 400 to a request pjsip cannot parse (it drops those
  silently): both in adapters/sip_gate.py.
* The real call limit is read through ctypes (``pjsua_call_get_max_count``;
  the PyPI wheel is built with 4). pjsua itself answers a stateless 486 to
  INVITEs beyond it; we refuse with 503 at our own (lower or equal) limit.
* DTMF: RFC 2833 and INFO ``application/dtmf-relay`` come through
  ``onDtmfEvent``; INFO ``application/dtmf`` (which pjsua would answer 500)
  is caught in ``onCallTsxState`` while its transaction is TRYING, answered
  200 through ctypes (``pjsip_endpt_create_response`` + ``pjsip_tsx_send_msg``)
  and turned into a digit; in-band tones come from a Goertzel detector on an
  ``AudioMediaPort`` tap whose frames are read through ctypes (SWIG copies
  byte by byte otherwise).
* The audio tap (a Python callback 50 times a second per call, through the
  GIL: most of a call's CPU) is connected only where it is needed: for the
  whole call on in-band DTMF trunks, and while a recording runs (its silence
  detection feeds ``last_voice_at``). RFC 2833 and INFO need no tap: pjmedia's
  stream decodes telephone-events as RTP arrives, whatever the bridge does.
  ``tap_every_call`` restores the old behaviour (benchmarks).
* Lifetime of pjsua2 objects is explicit, never the garbage collector's:
  - ``Call``: pjsua frees a call slot at DISCONNECTED and gives the same call id
    to the next INVITE. The pjsua2 ``Call`` destructor clears "its" slot's user
    data and hangs up "its" call id, so a ``Call`` freed by Python after the
    slot was reused cut off the next caller (a BYE out of nowhere) and left that
    call deaf to pjsua (stuck, never ended: issue 11). So ``PjCall`` destroys
    its C++ object itself, inside ``onCallState(DISCONNECTED)`` (pjsua2
    supports deleting the call in that callback; the slot is not yet reused:
    pjsua resets it after the callback returns), on the one pjsua thread. The
    Python object lives on as a plain record (``native`` is False) for the call
    task; every pjsua2 method on it is guarded. ``stop()`` destroys the few
    calls that never reached DISCONNECTED before ``libDestroy``.
  - Players: retired on stop and destroyed by the poll loop after a grace
    period (see ``_retire_player``). Recorders: destroyed when recording stops
    (finalises the WAV). Audio taps: made once per call slot, reused, never
    destroyed (see ``_take_tap``).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ipaddress
import logging
import os
import re
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import pjsua2 as pj

from adapters.dtmf_inband import DetectorSettings, InbandDtmfDetector, rms
from adapters.sip_gate import CALL_ID_RE as _CALL_ID_RE
from adapters.sip_gate import LIB as _LIB
from adapters.sip_gate import AdmissionGate, BadRequestAnswer
from ivr.media import CallEnded, DtmfSignal, IncomingInvite, MediaReady

log = logging.getLogger("hcp.sip")
pjlog = logging.getLogger("hcp.pjsip")

_LIB.pjsip_endpt_create_response.argtypes = [
    ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p,
    ctypes.POINTER(ctypes.c_void_p)]
_LIB.pjsip_tsx_send_msg.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
_PJ_LEVEL_TO_LOGGING = {0: logging.CRITICAL, 1: logging.ERROR, 2: logging.WARNING,
                        3: logging.INFO, 4: logging.DEBUG, 5: logging.DEBUG, 6: logging.DEBUG}
_DTMF_KEYS = "0123456789*#ABCD"
_SIGNAL_RE = re.compile(r"^\s*signal\s*=\s*(\S)", re.IGNORECASE | re.MULTILINE)
_FROM_RE = re.compile(r"^(?:from|f)\s*:[^<\r\n]*<?(sips?:[^>;\s]+)",
                      re.IGNORECASE | re.MULTILINE)
_CONTENT_TYPE_RE = re.compile(r"^(?:content-type|c)\s*:\s*([^;\r\n]+)",
                              re.IGNORECASE | re.MULTILINE)


@dataclass
class Registration:
    """Optional REGISTER to a PBX (digest auth), so its hunt group reaches us."""

    registrar: str  # sip:pbx.example:5060
    user: str
    password: str
    realm: str = "*"
    expires_s: int = 300


@dataclass
class SipSettings:
    sip_port: int = 5060
    rtp_port: int = 4000
    rtp_port_range: int = 200
    bind_address: str = ""  # "" = all interfaces
    tcp: bool = True
    allowed_sources: list[str] = field(default_factory=lambda: ["127.0.0.1/32"])
    max_calls: int | None = None  # None: the library's real limit
    pjsip_log_level: int = 1  # 0..6, routed into logging "hcp.pjsip"
    inband_dtmf: bool = False  # in-band detection on every call …
    inband_sources: list[str] = field(default_factory=list)  # … or on calls from these trunks
    silence_rms: float = 200.0  # below this a 20 ms frame counts as silence
    poll_ms: int = 10  # libHandleEvents period while a call is up (see _poll)
    idle_poll_ms: int = 250  # … with no call; SIP datagrams wake the loop at once
    linger_s: float = 2.0  # fast polling this long after the last call
    tap_every_call: bool = False  # old behaviour: the audio tap on every call
    max_new_calls_s: float = 20.0  # new calls admitted per second; beyond: stateless 503
    registration: Registration | None = None
    user_agent: str = "hcp-gateway-ivr"


class SipListener(Protocol):
    def on_incoming(self, call: PjCall, invite: IncomingInvite) -> int:
        """Return the status to answer: 200 accepts (set ``call.sink`` first)."""

    def on_refused(self, status: int) -> None:
        """An INVITE was refused (ACL, drain, limit, or by on_incoming)."""


_DIGIT_RUN = re.compile(r"\+?\d{7,}")


def redact_numbers(text: str) -> str:
    """PJSIP logs whole messages and call URIs: mask every run of 7+ digits the way
    ratings.model.mask_phone does (138****8000), so no phone number reaches a log."""
    def mask(m: re.Match) -> str:
        digits = m.group().lstrip("+")
        if digits.startswith("86") and len(digits) > 11:
            digits = digits[2:]
        return f"{digits[:3]}****{digits[-4:]}"
    return _DIGIT_RUN.sub(mask, text)


class _LogWriter(pj.LogWriter):
    def write(self, entry):
        level = _PJ_LEVEL_TO_LOGGING.get(entry.level, logging.DEBUG)
        for line in entry.msg.splitlines():  # one record per line: greppable
            if line.strip():
                pjlog.log(level, "%s", redact_numbers(line.rstrip()))


@contextlib.contextmanager
def _logged(where: str):
    """pjsua2 prints a callback's exception to stderr and drops it: log it instead."""
    try:
        yield
    except Exception:
        log.exception("error in %s", where)


def real_call_limit() -> int:
    """PJSUA_MAX_CALLS as compiled into the loaded library (after libInit)."""
    return int(_LIB.pjsua_call_get_max_count())


def sip_socket_fds(port: int) -> list[int]:
    """This process's socket fds bound to local ``port`` (UDP, TCP listener and
    accepted connections), from /proc: pjsua2 does not expose its sockets."""
    if not port:
        return []
    inodes: set[str] = set()
    suffix = f":{port:04X}"
    for table in ("udp", "udp6", "tcp", "tcp6"):
        try:
            lines = Path(f"/proc/self/net/{table}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            cols = line.split()
            if len(cols) > 9 and cols[1].endswith(suffix):
                inodes.add(cols[9])
    fds = []
    try:
        entries = os.listdir("/proc/self/fd")
    except OSError:
        return []
    for name in entries:
        try:
            target = os.readlink(f"/proc/self/fd/{name}")
        except OSError:
            continue
        if target.startswith("socket:[") and target[8:-1] in inodes:
            fds.append(int(name))
    return sorted(fds)


def _frame_bytes(frame) -> bytes:
    # frame.buf is a SWIG std::vector<unsigned char>*; its first word is the data
    # pointer (libstdc++ layout). 100x cheaper than bytes(frame.buf).
    vec = int(frame.buf.this)
    data = ctypes.c_void_p.from_address(vec).value
    return ctypes.string_at(data, frame.size) if data and frame.size else b""


class _AudioTap(pj.AudioMediaPort):
    """Receives the caller's audio (20 ms PCM frames) on the media clock thread."""

    def __init__(self, owner: PjCall | None, detector: InbandDtmfDetector | None):
        super().__init__()
        self.owner = owner  # None while the tap waits for its next call
        self.detector = detector

    def onFrameReceived(self, frame):
        owner, detector = self.owner, self.detector
        if owner is None or frame.type != pj.PJMEDIA_FRAME_TYPE_AUDIO or not frame.size:
            return
        data = _frame_bytes(frame)
        now = time.monotonic()
        if detector is not None:
            digits = detector.feed(data)
            level = detector.last_rms
        else:
            digits, level = (), rms(data)
        if level >= owner.silence_rms:
            owner._voice_at = now
        for digit in digits:
            owner._emit(DtmfSignal(digit, "inband", now))

    def onFrameRequested(self, frame):
        frame.type = pj.PJMEDIA_FRAME_TYPE_NONE


class PjCall(pj.Call):
    """One call: pjsua2 callbacks in, ``ivr.media.CallMedia`` commands out."""

    def __init__(self, agent: SipAgent, account: pj.Account, call_index: int):
        super().__init__(account, call_index)
        self.index = call_index
        self.agent = agent
        self.call_id = ""
        self.sink: Callable[[object], None] | None = None
        self.silence_rms = agent.settings.silence_rms
        self._voice_at = time.monotonic()
        self._audio = None
        self._tap: _AudioTap | None = None
        self._player = None
        self._recorder = None
        self._ended = False
        self.native = True  # the C++ pjsua2 Call exists (see _destroy_native)
        self.inband = agent.settings.inband_dtmf

    # -- events to the call task -------------------------------------------
    def _emit(self, event) -> None:
        sink = self.sink
        if sink is not None:
            self.agent.loop.call_soon_threadsafe(sink, event)

    def onCallState(self, prm):
        with _logged("onCallState"):
            self._on_state()

    def _on_state(self):
        if not self.native:
            return
        info = self.getInfo()
        if info.state == pj.PJSIP_INV_STATE_DISCONNECTED and not self._ended:
            self._ended = True
            try:
                self._release_media(connected=False)
                self._emit(CallEnded(time.monotonic(), info.lastReason))
            finally:
                self.agent._forget(self)
                self._destroy_native()  # now, before pjsua hands the slot to another call

    def _destroy_native(self) -> None:
        """Delete the C++ ``Call`` now (SWIG disowns it, so Python never deletes it
        again). Inside onCallState(DISCONNECTED) the slot's call is no longer active:
        the destructor hangs nothing up. Elsewhere (``SipAgent.stop``) it hangs up
        this call's own, still live, slot."""
        if not self.native:
            return
        self.native = False
        self._ended = True
        pj.Call.__swig_destroy__(self)

    def onCallMediaState(self, prm):
        with _logged("onCallMediaState"):
            self._on_media()

    def _on_media(self):
        if self._audio is not None or self._ended:
            return
        try:
            self._audio = self.getAudioMedia(-1)
        except pj.Error:
            return
        if self._tap_always():
            self._attach_tap()
        self._emit(MediaReady(time.monotonic()))

    def _tap_always(self) -> bool:
        return self.inband or self.agent.settings.tap_every_call

    def _attach_tap(self) -> None:
        """Connect the caller's audio to a tap (in-band keys, voice activity)."""
        if self._tap is not None or self._audio is None or self._ended:
            return
        detector = InbandDtmfDetector(DetectorSettings()) if self.inband else None
        tap = None
        try:
            tap = self.agent._take_tap(self, detector)
            self._audio.startTransmit(tap)
            self._tap = tap
        except pj.Error as exc:  # no in-band keys or silence detection, but a call
            log.error("call %s: no audio tap: %s", self.call_id, exc.info())
            if tap is not None:
                self.agent._return_tap(tap)

    def _detach_tap(self) -> None:
        tap, self._tap = self._tap, None
        if tap is None:
            return
        if self._audio is not None:
            try:
                self._audio.stopTransmit(tap)
            except pj.Error:
                pass
        self.agent._return_tap(tap)  # kept for the next call, never destroyed

    def onDtmfEvent(self, prm):
        method = "rfc2833" if prm.method == pj.PJSUA_DTMF_METHOD_RFC2833 else "info"
        flags = int(prm.flags)
        whole = method != "rfc2833"
        self._emit(DtmfSignal(prm.digit, method, time.monotonic(), whole=whole,
                              end=bool(flags & 2)))

    def onCallTsxState(self, prm):
        with _logged("onCallTsxState"):
            self._on_tsx(prm)

    def _on_tsx(self, prm):
        # INFO application/dtmf: answer it ourselves before pjsua's dialog says 500.
        event = prm.e.body.tsxState
        tsx = event.tsx
        if (tsx.method != "INFO" or tsx.role != pj.PJSIP_ROLE_UAS
                or tsx.state != pj.PJSIP_TSX_STATE_TRYING
                or event.type != pj.PJSIP_EVENT_RX_MSG):
            return
        rdata = event.src.rdata
        raw = rdata.wholeMsg
        ctype = _CONTENT_TYPE_RE.search(raw.split("\r\n\r\n", 1)[0])
        if not ctype or ctype.group(1).strip().lower() != "application/dtmf":
            return
        digit = parse_dtmf_body(raw.split("\r\n\r\n", 1)[1] if "\r\n\r\n" in raw else "")
        status = 200 if digit else 400
        tdata = ctypes.c_void_p()
        endpt = _LIB.pjsua_get_pjsip_endpt()
        if _LIB.pjsip_endpt_create_response(endpt, int(rdata.pjRxData), status, None,
                                            ctypes.byref(tdata)) == 0:
            _LIB.pjsip_tsx_send_msg(int(tsx.pjTransaction), tdata)
        if digit:
            self._emit(DtmfSignal(digit, "info-dtmf", time.monotonic()))

    # -- media commands (CallMedia) ------------------------------------------
    def play(self, wav_path: str) -> None:
        self.stop_play()
        if self._audio is None or self._ended:
            return
        try:
            player = pj.AudioMediaPlayer()
            player.createPlayer(wav_path, pj.PJMEDIA_FILE_NO_LOOP)
            player.startTransmit(self._audio)
        except pj.Error as exc:  # e.g. PJ_ETOOMANY players: the call goes on unheard
            log.error("call %s: cannot play %s: %s", self.call_id, wav_path, exc.info())
            return
        self._player = player

    def stop_play(self) -> None:
        player, self._player = self._player, None
        if player is None:
            return
        if self._audio is not None:
            try:
                player.stopTransmit(self._audio)
            except pj.Error:
                pass
        self.agent._retire_player(player)  # destroyed later: see SipAgent._retire_player

    def start_recording(self, wav_path: str) -> None:
        self.stop_recording()
        if self._audio is None or self._ended:
            return
        try:
            recorder = pj.AudioMediaRecorder()
            recorder.createRecorder(wav_path)
            self._audio.startTransmit(recorder)
        except pj.Error as exc:
            log.error("call %s: cannot record: %s", self.call_id, exc.info())
            return
        self._recorder = recorder
        self._voice_at = time.monotonic()
        self._attach_tap()  # silence detection ends the recording (last_voice_at)

    def stop_recording(self) -> None:
        recorder, self._recorder = self._recorder, None
        if recorder is not None and self._audio is not None:
            try:
                self._audio.stopTransmit(recorder)
            except pj.Error:
                pass
        del recorder  # destroying the recorder finalises the WAV header
        if not self._tap_always():
            self._detach_tap()

    def last_voice_at(self) -> float:
        return self._voice_at

    def hangup(self, status: int = 200) -> None:
        if self._ended or not self.native:
            return
        op = pj.CallOpParam()
        op.statusCode = status
        try:
            super().hangup(op)
        except pj.Error as exc:
            log.warning("hangup of %s failed: %s", self.call_id, exc.info())

    def _release_media(self, connected: bool = True) -> None:
        """Drop players, recorder and tap. After DISCONNECTED the call's conference
        port is already gone (and its connections with it): only drop references."""
        if not connected:
            self._audio = None
        self.stop_play()
        self.stop_recording()
        self._detach_tap()
        self._audio = None


def parse_dtmf_body(body: str) -> str | None:
    """The key of an INFO body: ``Signal=5`` (dtmf-relay style) or a bare ``5``."""
    match = _SIGNAL_RE.search(body)
    value = match.group(1) if match else body.strip()[:1]
    value = value.upper()
    return value if len(value) == 1 and value in _DTMF_KEYS else None


class _Account(pj.Account):
    def __init__(self, agent: SipAgent):
        super().__init__()
        self.agent = agent

    def onIncomingCall(self, prm):
        with _logged("onIncomingCall"):
            self.agent._incoming(self, prm)

    def onRegState(self, prm):
        log.info("registration: %s %s", prm.code, prm.reason)


class SipAgent:
    """The endpoint, its transports and account, and the live calls."""

    def __init__(self, settings: SipSettings, listener: SipListener):
        self.settings = settings
        self.listener = listener
        self.loop: asyncio.AbstractEventLoop | None = None
        self.ep: pj.Endpoint | None = None
        self.account: _Account | None = None
        self.calls: dict[int, PjCall] = {}
        self.limit = 0
        self.library_limit = 0
        self.draining = False
        self._acl = [ipaddress.ip_network(a, strict=False) for a in settings.allowed_sources]
        self._inband_nets = [ipaddress.ip_network(a, strict=False)
                             for a in settings.inband_sources]
        self._poller: asyncio.Task | None = None
        self._log_writer = _LogWriter()  # pjsua2 keeps a raw pointer: keep ours alive
        self._spare_taps: list[_AudioTap] = []
        self._retired_players: deque = deque()  # (destroy after, AudioMediaPlayer)
        self._taps_made = 0
        self._active_at = time.monotonic()
        self._sip_fds: list[int] = []
        self.wakeups = 0  # idle waits ended by a SIP datagram (tests, benchmarks)
        self.idle_waits = 0  # idle waits begun on a fresh look at the SIP sockets
        self.gate = AdmissionGate(self, settings.max_new_calls_s)
        self.bad_requests = BadRequestAnswer()

    # -- audio taps ----------------------------------------------------------------
    # An AudioMediaPort is never destroyed while the process runs. PJSIP 2.15's
    # conference bridge removes ports asynchronously (next clock tick) while the
    # pjsua2 AudioMediaPort destructor frees the port at once: destroying a tap
    # segfaulted workers under load (pjproject PR #4200, fixed after 2.15.1).
    # So a call takes a spare tap and gives it back; at most one tap per call
    # slot is ever made, and each is leaked on purpose at exit (destroying it
    # after libDestroy would hit a PJ_DEBUG assert).
    def _take_tap(self, owner: PjCall, detector) -> _AudioTap:
        if self._spare_taps:
            tap = self._spare_taps.pop()
        else:
            tap = _AudioTap(None, None)
            fmt = pj.MediaFormatAudio()
            fmt.init(pj.PJMEDIA_FORMAT_PCM, 8000, 1, 20000, 16)
            tap.createPort(f"tap{self._taps_made}", fmt)
            self._taps_made += 1
            ctypes.pythonapi.Py_IncRef(ctypes.py_object(tap))  # never freed: see above
        tap.detector = detector
        tap.owner = owner
        return tap

    def _return_tap(self, tap: _AudioTap) -> None:
        tap.owner = None
        tap.detector = None
        self._spare_taps.append(tap)

    # -- lifecycle -------------------------------------------------------------
    async def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        s = self.settings
        _LIB.pj_log_set_level(0)  # libCreate prints to stdout before config applies
        ep = pj.Endpoint()
        ep.libCreate()
        cfg = pj.EpConfig()
        cfg.uaConfig.threadCnt = 0
        cfg.uaConfig.mainThreadOnly = True
        cfg.uaConfig.maxCalls = 512  # clamped to the compiled limit; ours is self.limit
        cfg.uaConfig.userAgent = s.user_agent
        cfg.logConfig.level = s.pjsip_log_level
        cfg.logConfig.consoleLevel = s.pjsip_log_level
        cfg.logConfig.decor = 0
        cfg.logConfig.writer = self._log_writer
        cfg.medConfig.clockRate = 8000
        cfg.medConfig.sndClockRate = 8000
        cfg.medConfig.noVad = True
        cfg.medConfig.ecTailLen = 0
        ep.libInit(cfg)
        self.ep = ep
        self.gate.register()
        self.bad_requests.register()
        for kind in [pj.PJSIP_TRANSPORT_UDP] + ([pj.PJSIP_TRANSPORT_TCP] if s.tcp else []):
            tc = pj.TransportConfig()
            tc.port = s.sip_port
            if s.bind_address:
                tc.boundAddress = s.bind_address
            ep.transportCreate(kind, tc)
        ep.audDevManager().setNullDev()
        self._only_g711(ep)
        ep.libStart()
        self.library_limit = real_call_limit()
        self.limit = min(s.max_calls or 10**6, self.library_limit)
        self.account = _Account(self)
        self.account.create(self._account_config())
        self._poller = asyncio.create_task(self._poll(), name="pjsua2-poll")
        log.info("SIP agent on port %d (udp%s), RTP %d+%d, call limit %d (library %d)",
                 s.sip_port, "+tcp" if s.tcp else "", s.rtp_port, s.rtp_port_range,
                 self.limit, real_call_limit())

    def _only_g711(self, ep: pj.Endpoint) -> None:
        for codec in ep.codecEnum2():
            name = codec.codecId
            priority = {"PCMU/8000/1": 255, "PCMA/8000/1": 254}.get(name, 0)
            ep.codecSetPriority(name, priority)

    def _account_config(self) -> pj.AccountConfig:
        s = self.settings
        cfg = pj.AccountConfig()
        reg = s.registration
        if reg is not None:
            cfg.idUri = f"sip:{reg.user}@{reg.registrar.split(':', 1)[-1]}"
            cfg.regConfig.registrarUri = reg.registrar
            cfg.regConfig.timeoutSec = reg.expires_s
            cfg.sipConfig.authCreds.append(
                pj.AuthCredInfo("digest", reg.realm, reg.user, 0, reg.password))
        else:
            cfg.idUri = f"sip:ivr@{s.bind_address or '127.0.0.1'}:{s.sip_port}"
        cfg.mediaConfig.transportConfig.port = s.rtp_port
        cfg.mediaConfig.transportConfig.portRange = s.rtp_port_range
        return cfg

    # -- players: destroyed late ---------------------------------------------------
    # PJSIP 2.15 applies conference changes (stopTransmit, port removal) on the media
    # clock thread, later, while AudioMediaPlayer's destructor frees the file port at
    # once: a player dropped right after stopTransmit (every prompt change, every
    # hang-up mid-prompt) can be read by the clock thread after it was freed — the
    # SIGSEGV in a thread without Python frames seen under load (docs/ivr-pool.md;
    # the same family as the audio-tap crash, pjproject PR #4200). So a stopped
    # player is kept PLAYER_GRACE_S, by which time the bridge has applied the
    # disconnect, and destroyed by the poll loop: on the one thread that drives pjsua.
    PLAYER_GRACE_S = 0.5

    def _retire_player(self, player) -> None:
        self._retired_players.append((time.monotonic() + self.PLAYER_GRACE_S, player))

    def _reap_players(self, everything: bool = False) -> None:
        now = time.monotonic()
        while self._retired_players and (everything or self._retired_players[0][0] <= now):
            _due, player = self._retired_players.popleft()
            del player  # the last reference: pjsua_player_destroy

    # -- the poll loop ----------------------------------------------------------------
    def _busy(self, now: float) -> bool:
        """Poll fast: a call is up, a player awaits destruction, or SIP was active
        within ``linger_s`` (a call's last transactions, a fresh TCP connection)."""
        return bool(self.calls or self._retired_players
                    or now - self._active_at < self.settings.linger_s)

    async def _poll(self) -> None:
        busy_s = self.settings.poll_ms / 1000
        idle_s = max(busy_s, self.settings.idle_poll_ms / 1000)
        rescan = True
        while True:
            self.ep.libHandleEvents(0)
            if self._retired_players:
                self._reap_players()
            now = time.monotonic()
            if self.calls:
                self._active_at = now
            if idle_s <= busy_s or self._busy(now):
                rescan = True
                await asyncio.sleep(busy_s)
                continue
            if rescan:  # the SIP sockets now (TCP connections come and go)
                self._sip_fds = sip_socket_fds(self.settings.sip_port)
                self.idle_waits += 1
            # woken by a datagram (an OPTIONS ping, a refused INVITE): handle it and wait
            # again, no linger; a TCP wake may be a new connection: look for its socket
            woken = await self._idle_wait(idle_s)
            self.wakeups += woken
            rescan = woken and self.settings.tcp

    async def _idle_wait(self, timeout: float) -> bool:
        """Sleep up to ``timeout``; True when a SIP socket became readable first."""
        loop = self.loop
        woken = loop.create_future()

        def wake(by_socket: bool) -> None:
            if not woken.done():
                woken.set_result(by_socket)

        timer = loop.call_later(timeout, wake, False)
        watched = []
        try:
            for fd in self._sip_fds:
                try:
                    loop.add_reader(fd, wake, True)
                    watched.append(fd)
                except (OSError, ValueError):
                    continue
            return await woken
        finally:
            timer.cancel()
            for fd in watched:
                loop.remove_reader(fd)

    def drain(self) -> None:
        """Refuse new INVITEs (503); live calls go on."""
        self.draining = True

    async def stop(self) -> None:
        self.draining = True
        for call in list(self.calls.values()):
            call.hangup()
        deadline = time.monotonic() + 2.0
        while self.calls and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        for call in list(self.calls.values()):  # never reached DISCONNECTED
            call._release_media()
            call.sink = None
            call._destroy_native()  # hangs up its own (live) slot, frees the C++ Call
        self.calls.clear()
        if self._poller is not None:
            self._poller.cancel()
            try:
                await self._poller
            except asyncio.CancelledError:
                pass
        if self.account is not None:
            self.account.shutdown()
            self.account = None
        if self._retired_players and self.ep is not None:  # let the clock thread apply
            # the last disconnects first
            self.ep.libHandleEvents(0)
            await asyncio.sleep(self.PLAYER_GRACE_S)
            self._reap_players(everything=True)
        if self.ep is not None:
            self.gate.unregister()
            self.bad_requests.unregister()
            self.ep.libDestroy(pj.PJSUA_DESTROY_NO_NETWORK)
            self.ep = None

    # -- incoming calls ----------------------------------------------------------
    @staticmethod
    def _in(source: str, nets) -> bool:
        host = source.rsplit(":", 1)[0].strip("[]")
        try:
            addr = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(addr in net for net in nets)

    def _allowed(self, source: str) -> bool:
        return self._in(source, self._acl)

    def _incoming(self, account: _Account, prm) -> None:
        call = PjCall(self, account, prm.callId)  # pjsua2 answers 500 without one
        self.calls[call.index] = call
        rdata = prm.rdata
        source = rdata.srcAddress
        if not self._allowed(source):  # the cheapest path: no parsing, no listener
            raw = rdata.wholeMsg
            match = _CALL_ID_RE.search(raw)
            call.call_id = match.group(1) if match else f"pjsua-{prm.callId}"
            log.warning("INVITE %s from %s refused: not in the ACL", call.call_id, source)
            self.loop.call_soon(self._refuse, call, 403)
            return
        raw = rdata.wholeMsg
        match = _CALL_ID_RE.search(raw)
        call.call_id = match.group(1) if match else f"pjsua-{prm.callId}"
        call.inband = call.inband or self._in(source, self._inband_nets)
        from_uri = _FROM_RE.search(raw)
        invite = IncomingInvite(call_id=call.call_id, source=source, raw=raw,
                                caller_uri=from_uri.group(1) if from_uri else "")
        if self.draining or self._live_calls() > self.limit:
            status = 503
        else:
            try:
                status = self.listener.on_incoming(call, invite)
            except Exception:  # never let a bug take the SIP thread down
                log.exception("listener failed on INVITE %s", call.call_id)
                status = 500
        if status != 200:
            call.sink = None
            self.loop.call_soon(self._refuse, call, status)
            return
        op = pj.CallOpParam()
        op.statusCode = 200
        try:
            call.answer(op)
        except pj.Error as exc:
            log.error("call %s: answer failed: %s", call.call_id, exc.info())
            self.loop.call_soon(self._refuse, call, 500)

    def _refuse(self, call: PjCall, status: int) -> None:
        """Send a refusal after onIncomingCall has returned (see the module's docstring):
        the final response ends the call at once and frees its slot."""
        with _logged("refuse"):
            if call.native and not call._ended:
                call.hangup(status)
            self.listener.on_refused(status)

    def _live_calls(self) -> int:
        return len(self.calls)

    def _forget(self, call: PjCall) -> None:
        # Drop the agent's reference at DISCONNECTED: only this call's own entry
        if self.calls.get(call.index) is call:
            del self.calls[call.index]
