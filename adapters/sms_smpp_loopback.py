"""A loopback SMSC for tests, benchmarks and demos, on smpp34's asyncio server.

    python -m adapters.sms_smpp_loopback --port 2775 [--throttle-every N] [--queue N] [--quiet]

Accepts every bind (smpp34's server takes any password), answers each
submit_sm with a message id ``M<n>`` (or ESME_RTHROTTLED for every Nth), and,
when the submit asks for a receipt, sends a delivery receipt back on the same
session (receipted_message_id + message_state TLVs and the usual
"id:… stat:…" text). One JSON object per line on stdout reports what happened
(ready, bound, submit, throttled, unbound, stats); commands arrive as JSON lines
on stdin:

    {"mo": {"from": "8613800138000", "text": "1 很满意", "parts": 2, "mode": "udh"}}
    {"dlr_state": "UNDELIV"}    receipts from now on carry this state
    {"stats": true}             print accepted/throttled counts
    {"kick": true}              unbind every session (server-side disconnect)

Run it as a child process: killing it is a real disconnect for the client.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import datetime

import smpp34

from sms import segments
from sms.concat import UDHI, udh

DLR_STATES = {"DELIVRD": 2, "EXPIRED": 3, "DELETED": 4, "UNDELIV": 5, "REJECTD": 8}


def emit(**event) -> None:
    sys.stdout.write(json.dumps(event, ensure_ascii=False) + "\n")
    sys.stdout.flush()


class LoopbackSmsc:
    def __init__(self, port: int, throttle_every: int = 0, quiet: bool = False,
                 queue: int | None = None):
        # queue: submits waiting for this process before the server answers
        # ESME_RMSGQFUL; smpp34's default is small, like a busy real SMSC.
        extra = {"inbound_capacity": queue} if queue else {}
        self.server = smpp34.Server("127.0.0.1", port, system_id="LOOPBACK", **extra)
        self.port = port
        self.throttle_every = throttle_every
        self.quiet = quiet
        self.sessions: dict[str, smpp34.Esme] = {}
        self.submits = 0
        self.accepted = 0
        self.throttled = 0
        self.dlr_state = "DELIVRD"
        self.tasks: set[asyncio.Task] = set()

    def _spawn(self, coro) -> None:
        task = asyncio.create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def serve(self) -> None:
        await self.server.start()
        emit(event="ready", port=self.port)
        while True:
            ev = await self.server.next()
            if isinstance(ev, smpp34.Esme):
                self.sessions[ev.session_id] = ev
                emit(event="bound", system_id=ev.system_id)
            elif isinstance(ev, smpp34.Unbound):
                self.sessions.pop(ev.session_id, None)
                emit(event="unbound")
            elif isinstance(ev, smpp34.SubmitSmEvent):
                self._on_submit(ev)

    def _on_submit(self, ev: smpp34.SubmitSmEvent) -> None:
        self.submits += 1
        if self.throttle_every and self.submits % self.throttle_every == 0:
            self.throttled += 1
            ev.reject(smpp34.ESME_RTHROTTLED)
            if not self.quiet:
                emit(event="throttled")
            return
        self.accepted += 1
        mid = f"M{self.accepted}"
        ev.accept(mid)
        if not self.quiet:
            emit(event="submit", id=mid, dest=ev.destination_addr, src=ev.source_addr,
                 dc=ev.data_coding, esm=ev.esm_class, sm=ev.short_message.hex(),
                 tlvs={str(t.tag): t.value.hex() for t in ev.tlvs})
        if ev.registered_delivery & 0x01:
            self._spawn(self._receipt(ev.session_id, mid, ev.destination_addr,
                                      ev.source_addr))

    async def _receipt(self, session_id: str, mid: str, handset: str, ours: str) -> None:
        esme = self.sessions.get(session_id)
        if esme is None:
            return
        stamp = datetime.now().strftime("%y%m%d%H%M")
        text = (f"id:{mid} sub:001 dlvrd:{'001' if self.dlr_state == 'DELIVRD' else '000'} "
                f"submit date:{stamp} done date:{stamp} stat:{self.dlr_state} err:000 text:")
        tlvs = [smpp34.Tlv(smpp34.TLV_RECEIPTED_MESSAGE_ID, mid.encode() + b"\x00"),
                smpp34.Tlv(smpp34.TLV_MESSAGE_STATE, bytes([DLR_STATES[self.dlr_state]]))]
        try:
            await esme.deliver_sm(ours or "10690000", text.encode(), source_addr=handset,
                                  esm_class=0x04, tlvs=tlvs)
        except smpp34.SmppError:
            pass  # the session went away; a real SMSC would retry later

    async def mo(self, sender: str, text: str, parts: int = 1, mode: str = "udh",
                 to: str = "10690000") -> None:
        esme = next((e for e in self.sessions.values() if e.can_receive), None)
        if esme is None:
            emit(event="error", error="no receiver bound")
            return
        coding = segments.encoding_of(text)
        body = segments.encode(text, coding)
        dc = segments.DATA_CODING[coding]
        if parts <= 1:
            await esme.deliver_sm(to, body, source_addr=sender, data_coding=dc)
            emit(event="mo_sent", parts=1)
            return
        step = -(-len(body) // parts)
        step += step % 2 if coding == segments.UCS2 else 0  # whole UTF-16 units
        chunks = [body[i:i + step] for i in range(0, len(body), step)]
        ref = 0x2A
        for seq, chunk in enumerate(chunks, 1):
            if mode == "sar":
                tlvs = [smpp34.Tlv(smpp34.TLV_SAR_MSG_REF_NUM, ref.to_bytes(2, "big")),
                        smpp34.Tlv(smpp34.TLV_SAR_TOTAL_SEGMENTS, bytes([len(chunks)])),
                        smpp34.Tlv(smpp34.TLV_SAR_SEGMENT_SEQNUM, bytes([seq]))]
                await esme.deliver_sm(to, chunk, source_addr=sender, data_coding=dc,
                                      tlvs=tlvs)
            else:
                await esme.deliver_sm(to, udh(ref, len(chunks), seq) + chunk,
                                      source_addr=sender, data_coding=dc, esm_class=UDHI)
        emit(event="mo_sent", parts=len(chunks))

    async def commands(self) -> None:
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        while line := await reader.readline():
            cmd = json.loads(line)
            if "mo" in cmd:
                mo = cmd["mo"]
                await self.mo(mo["from"], mo["text"], mo.get("parts", 1),
                              mo.get("mode", "udh"), mo.get("to", "10690000"))
            if "dlr_state" in cmd:
                self.dlr_state = cmd["dlr_state"]
            if "throttle_every" in cmd:
                self.throttle_every = int(cmd["throttle_every"])
            if cmd.get("stats"):
                emit(event="stats", submits=self.submits, accepted=self.accepted,
                     throttled=self.throttled)
            if cmd.get("kick"):
                for esme in list(self.sessions.values()):
                    await esme.unbind()
                emit(event="kicked")


async def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=2775)
    parser.add_argument("--throttle-every", type=int, default=0)
    parser.add_argument("--quiet", action="store_true", help="no line per submit")
    parser.add_argument("--queue", type=int, default=None, help="server inbound capacity")
    args = parser.parse_args(argv)
    smsc = LoopbackSmsc(args.port, args.throttle_every, args.quiet, args.queue)
    await asyncio.gather(smsc.serve(), smsc.commands())


if __name__ == "__main__":
    asyncio.run(main())
