"""SMPP 3.4 carrier adapter on smpp34 (Rust/tokio core, asyncio API).

Theory of operation. One supervisor task keeps one transceiver bind alive:
connect, read inbound deliver_sm until the session ends, then reconnect with
capped exponential backoff. ``send`` cuts the text into segments (sms.segments),
adds a concatenation UDH when there are several (esm_class 0x40), and submits
them in order through a window of ``window`` submits in flight — without a
window a 10,000-message burst overruns the SMSC's queue (ESME_RMSGQFUL) and
the old aiosmpplib gave 3,302 false failures (DESIGN.md).

Per segment: ESME_RTHROTTLED / ESME_RMSGQFUL mean "not accepted", so the
segment is re-submitted after a backoff (no duplicate is possible); after
``throttle_retries`` the send raises Throttled and the dispatcher backs off.
A dropped session (SmppError from submit) waits for the reconnect and
re-submits that segment only — segments already acknowledged are never sent
again. SMPP cannot tell "lost before the SMSC" from "response lost", so a
segment in flight at the moment of a disconnect may arrive twice; that is the
protocol's limit, not a retry policy. Other statuses: ESME_RSYSERR is
transient, anything else permanent.

Inbound: a deliver_sm with esm_class 0x04 is a delivery receipt, matched by
receipted_message_id (or the "id:" in its text); anything else is an MO,
reassembled from UDH or sar_* parts (sms.concat) and decoded by data_coding.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import re
import time
from datetime import datetime, timezone

import smpp34

from ratings.model import InvalidEvaluation, normalise_phone
from sms import segments
from sms.carrier import (DeliveryReceipt, DeliveryState, InboundHandler, InboundSms,
                         OutboundSms, PermanentError, ReceiptHandler, SubmitResult, Throttled,
                         TransientError, state_from_text)
from sms.concat import UDHI, Part, Reassembler, parse_udh, udh

log = logging.getLogger(__name__)

NOT_ACCEPTED = {smpp34.ESME_RTHROTTLED, smpp34.ESME_RMSGQFUL}
TRANSIENT = {smpp34.ESME_RSYSERR}
RECEIPT = 0x04  # esm_class message type: SMSC delivery receipt
MESSAGE_STATES = {2: DeliveryState.DELIVERED, 3: DeliveryState.EXPIRED,
                  4: DeliveryState.FAILED, 5: DeliveryState.FAILED, 8: DeliveryState.FAILED}
_RECEIPT_ID = re.compile(r"id:(\S+)")
_RECEIPT_STAT = re.compile(r"stat:(\S+)")


class SmppCarrier:
    name = "smpp"

    def __init__(self, host: str, port: int, system_id: str, password: str, *,
                 source_addr: str = "10690000", system_type: str = "", window: int = 64,
                 throttle_retries: int = 12, throttle_backoff_s: float = 0.02,
                 submit_timeout_s: float = 30.0, connect_wait_s: float = 10.0,
                 reconnect_max_s: float = 10.0, bind_timeout_s: float = 3.0,
                 registered_delivery: int = 1):
        self.host, self.port = host, port
        self.system_id, self.password, self.system_type = system_id, password, system_type
        self.source_addr = source_addr
        self.throttle_retries = throttle_retries
        self.throttle_backoff_s = throttle_backoff_s
        self.submit_timeout_s = submit_timeout_s
        self.connect_wait_s = connect_wait_s
        self.reconnect_max_s = reconnect_max_s
        self.bind_timeout_s = bind_timeout_s
        self.registered_delivery = registered_delivery
        self._window = asyncio.Semaphore(window)
        self._refs = itertools.count(1)
        self._session: smpp34.Smsc | None = None
        self._bound = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._reassembler = Reassembler()
        self._on_inbound: InboundHandler | None = None
        self._on_receipt: ReceiptHandler | None = None
        self.binds = 0
        self.throttled = 0

    # -- lifecycle -------------------------------------------------------
    async def start(self, on_inbound: InboundHandler, on_receipt: ReceiptHandler) -> None:
        self._on_inbound, self._on_receipt = on_inbound, on_receipt
        self._task = asyncio.create_task(self._supervise(), name="smpp-session")

    async def wait_bound(self, timeout: float | None = None) -> None:
        await asyncio.wait_for(self._bound.wait(), timeout or self.connect_wait_s)

    async def stop(self) -> None:
        """Unbind politely, stop reconnecting. Bounded: smpp34's server closes on
        unbind without unbind_resp, and a cancelled core future may never settle,
        so nothing here is awaited without a timeout."""
        session, task = self._session, self._task
        self._task = None
        if session is not None:
            unbind = asyncio.ensure_future(session.unbind())
            done, _ = await asyncio.wait({unbind}, timeout=1.0)
            if done:
                unbind.exception()  # retrieved, so asyncio does not warn; not raised
            else:
                unbind.cancel()
        if task is not None:
            task.cancel()
            await asyncio.wait({task}, timeout=5.0)

    async def _supervise(self) -> None:
        delay = 0.1
        while True:
            client = smpp34.Client(self.host, self.port, self.system_id, self.password,
                                   bind_type="TRX", system_type=self.system_type,
                                   connect_timeout_ms=int(self.bind_timeout_s * 1000))
            try:
                session = await client.connect()
            except (smpp34.SmppError, OSError, RuntimeError) as exc:
                log.warning("smpp bind to %s:%d failed: %s", self.host, self.port, exc)
                await client.stop()
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.reconnect_max_s)
                continue
            delay = 0.1
            self.binds += 1
            self._session = session
            self._bound.set()
            try:
                await self._read(session)
            finally:
                self._bound.clear()
                self._session = None
                with contextlib.suppress(Exception):
                    await asyncio.shield(client.stop())
            log.warning("smpp session to %s:%d ended; reconnecting", self.host, self.port)

    async def _read(self, session: smpp34.Smsc) -> None:
        while True:
            event = await session.next()
            if isinstance(event, smpp34.Disconnected):
                return
            try:
                await self._inbound(event)
            except Exception:  # one bad PDU must not end the session
                log.exception("smpp inbound deliver_sm not handled")

    # -- outbound --------------------------------------------------------
    async def send(self, message: OutboundSms) -> SubmitResult:
        coding = segments.encoding_of(message.text)
        parts = segments.split(message.text)
        dest = message.phone.lstrip("+")
        if len(parts) == 1:
            bodies = [(segments.encode(parts[0], coding), 0)]
        else:
            ref = next(self._refs) & 0xFF
            bodies = [(udh(ref, len(parts), seq) + segments.encode(part, coding), UDHI)
                      for seq, part in enumerate(parts, 1)]
        ids = []
        for body, esm_class in bodies:  # in order: some handsets need part 1 first
            ids.append(await self._submit(dest, body, esm_class, segments.DATA_CODING[coding]))
        return SubmitResult(ids[0], tuple(ids), len(ids))

    async def _submit(self, dest: str, body: bytes, esm_class: int, data_coding: int) -> str:
        throttles = reconnects = 0
        while True:
            session = await self._current_session()
            try:
                async with self._window:
                    resp = await _bounded(session.submit_sm(
                        dest, body, source_addr=self.source_addr, source_addr_ton=0,
                        source_addr_npi=0, dest_addr_ton=1, dest_addr_npi=1,
                        esm_class=esm_class, data_coding=data_coding,
                        registered_delivery=self.registered_delivery),
                        self.submit_timeout_s)
            except (smpp34.SmppError, asyncio.TimeoutError) as exc:
                reconnects += 1
                if reconnects > 3:
                    raise TransientError(f"smpp submit failed: {exc}") from exc
                await self._session_replaced(session)
                continue
            status = resp.command_status
            if resp.is_success and resp.message_id:
                return resp.message_id
            if status in NOT_ACCEPTED:
                throttles += 1
                self.throttled += 1
                if throttles > self.throttle_retries:
                    raise Throttled(f"smpp status {status:#x}", retry_after=5.0)
                await asyncio.sleep(min(self.throttle_backoff_s * 2 ** throttles, 2.0))
                continue
            if status in TRANSIENT:
                raise TransientError(f"smpp status {status:#x}")
            raise PermanentError(f"smpp status {status:#x}")

    async def _session_replaced(self, dead: smpp34.Smsc) -> None:
        """Wait (bounded) until the supervisor has bound a session other than ``dead``."""
        deadline = time.monotonic() + self.connect_wait_s
        while self._session is dead and time.monotonic() < deadline:
            await asyncio.sleep(0.02)

    async def _current_session(self) -> smpp34.Smsc:
        try:
            await asyncio.wait_for(self._bound.wait(), self.connect_wait_s)
        except asyncio.TimeoutError as exc:
            raise TransientError("no smpp session") from exc
        session = self._session
        if session is None:
            raise TransientError("no smpp session")
        return session

    # -- inbound ---------------------------------------------------------
    async def _inbound(self, ev) -> None:
        tlvs = {t.tag: t.value for t in ev.tlvs}
        if ev.esm_class & 0x3C == RECEIPT:
            await self._receipt(ev, tlvs)
            return
        body = ev.short_message or tlvs.get(smpp34.TLV_MESSAGE_PAYLOAD, b"")
        part = None
        if ev.esm_class & UDHI:
            part, body = parse_udh(body)
        elif smpp34.TLV_SAR_MSG_REF_NUM in tlvs:
            part = Part(int.from_bytes(tlvs[smpp34.TLV_SAR_MSG_REF_NUM], "big"),
                        tlvs.get(smpp34.TLV_SAR_TOTAL_SEGMENTS, b"\x01")[0],
                        tlvs.get(smpp34.TLV_SAR_SEGMENT_SEQNUM, b"\x01")[0], body)
        if part is not None:
            whole = self._reassembler.add(ev.source_addr, part, time.monotonic())
            if whole is None:
                return
            body = whole
        try:
            phone = normalise_phone(_e164(ev.source_addr))
        except InvalidEvaluation:
            log.warning("smpp MO from an address that is not a phone number; dropped")
            return
        await self._on_inbound(InboundSms(
            phone=phone, text=segments.decode(body, ev.data_coding),
            received_at=datetime.now(timezone.utc), to=ev.destination_addr))

    async def _receipt(self, ev, tlvs: dict[int, bytes]) -> None:
        text = ev.short_message.decode("latin-1")
        raw_id = tlvs.get(smpp34.TLV_RECEIPTED_MESSAGE_ID)
        if raw_id:
            carrier_id = raw_id.rstrip(b"\x00").decode("latin-1")
        else:
            found = _RECEIPT_ID.search(text)
            carrier_id = found.group(1) if found else ""
        if smpp34.TLV_MESSAGE_STATE in tlvs:
            state = MESSAGE_STATES.get(tlvs[smpp34.TLV_MESSAGE_STATE][0], DeliveryState.UNKNOWN)
        else:
            stat = _RECEIPT_STAT.search(text)
            state = state_from_text(stat.group(1)) if stat else DeliveryState.UNKNOWN
        if carrier_id:
            await self._on_receipt(DeliveryReceipt(carrier_id, state,
                                                   at=datetime.now(timezone.utc)))


async def _bounded(awaitable, timeout: float):
    """Like asyncio.wait_for, but does not wait for a cancelled core future to settle."""
    future = asyncio.ensure_future(awaitable)
    done, _ = await asyncio.wait({future}, timeout=timeout)
    if not done:
        future.cancel()
        raise asyncio.TimeoutError()
    return future.result()


def _e164(address: str) -> str:
    """SMSCs send 8613800138000, +8613800138000 or 13800138000."""
    if address.startswith("+"):
        return address
    if address.startswith("86") and len(address) == 13:
        return "+" + address
    return address
