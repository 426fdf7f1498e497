"""A second pjsua2 process as the caller (a test peer, not product code).

    python tests/ivr/pjsua2_caller.py --target sip:ivr@127.0.0.1:5070 --port 0 \
        --record heard.wav [--play tones.wav] [--seconds 20] [--header X-Ticket-Id:T1]

Dials, sends ``--play`` as its microphone (e.g. a WAV of DTMF tones for the
in-band detector), records everything it hears into ``--record``, and ends when
the IVR hangs up or after ``--seconds``. Prints one JSON line with what happened.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import sys
import time

import pjsua2 as pj


class Caller(pj.Call):
    def __init__(self, acc, args):
        super().__init__(acc)
        self.args = args
        self.state = ""
        self.disconnected = False
        self.confirmed_at = None
        self.keep = []  # player/recorder must outlive the call's media

    def onCallState(self, prm):
        info = self.getInfo()
        self.state = info.stateText
        if info.state == pj.PJSIP_INV_STATE_DISCONNECTED:
            self.disconnected = True
        if info.state == pj.PJSIP_INV_STATE_CONFIRMED:
            self.confirmed_at = time.monotonic()

    def onCallMediaState(self, prm):
        audio = self.getAudioMedia(-1)
        recorder = pj.AudioMediaRecorder()
        recorder.createRecorder(self.args.record)
        audio.startTransmit(recorder)
        self.keep.append(recorder)
        if self.args.play:
            player = pj.AudioMediaPlayer()
            player.createPlayer(self.args.play, pj.PJMEDIA_FILE_NO_LOOP)
            player.startTransmit(audio)
            self.keep.append(player)


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--target", required=True)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--rtp-port", type=int, default=0)
    p.add_argument("--record", required=True)
    p.add_argument("--play", default=None)
    p.add_argument("--seconds", type=float, default=20)
    p.add_argument("--header", action="append", default=[])
    args = p.parse_args()

    ctypes.CDLL(pj._pjsua2.__file__).pj_log_set_level(0)
    ep = pj.Endpoint()
    ep.libCreate()
    cfg = pj.EpConfig()
    cfg.uaConfig.threadCnt = 0
    cfg.uaConfig.mainThreadOnly = True
    cfg.logConfig.level = 0
    cfg.logConfig.consoleLevel = 0
    cfg.medConfig.clockRate = 8000
    cfg.medConfig.sndClockRate = 8000
    ep.libInit(cfg)
    tc = pj.TransportConfig()
    tc.port = args.port
    ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, tc)
    ep.audDevManager().setNullDev()
    ep.libStart()
    acc = pj.Account()
    ac = pj.AccountConfig()
    ac.idUri = "sip:+8613900139000@127.0.0.1"
    if args.rtp_port:
        ac.mediaConfig.transportConfig.port = args.rtp_port
    acc.create(ac)

    call = Caller(acc, args)
    prm = pj.CallOpParam(True)
    for header in args.header:
        name, value = header.split(":", 1)
        h = pj.SipHeader()
        h.hName, h.hValue = name, value
        prm.txOption.headers.append(h)
    call.makeCall(args.target, prm)
    deadline = time.monotonic() + args.seconds
    while time.monotonic() < deadline and not call.disconnected:
        ep.libHandleEvents(10)
    ended_by_ivr = call.disconnected
    if not ended_by_ivr:
        call.hangup(pj.CallOpParam())
        for _ in range(50):
            ep.libHandleEvents(10)
    print(json.dumps({"ended_by_ivr": ended_by_ivr, "state": call.state,
                      "answered": call.confirmed_at is not None}), flush=True)
    call.keep.clear()
    del call
    acc.shutdown()
    ep.libDestroy(pj.PJSUA_DESTROY_NO_NETWORK)
    return 0


if __name__ == "__main__":
    sys.exit(main())
