"""The embedded default carrier: an outbox and an inbox of JSON files in the data dir.

Each MT becomes ``<data>/sms-outbox/<time>-<message id>.json`` (to, text,
segments) and is reported delivered at once. A citizen's reply is played by
writing a JSON file into ``<data>/sms-inbox/`` — ``inject(data_dir, phone, text)``
does that, from ``hcp sms inject`` in another process too; the running adapter
polls the inbox, hands each reply to ``on_inbound`` and moves the file to
``sms-inbox/done/``. Files are written to a temporary name and renamed, so a
reader never sees half a message.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

from sms import segments
from ratings.tasks import stop_task
from sms.carrier import (DeliveryReceipt, DeliveryState, InboundHandler, InboundSms,
                         OutboundSms, ReceiptHandler, SubmitResult)

log = logging.getLogger(__name__)


def _write_atomically(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
    os.replace(tmp, path)


def inject(data_dir: str | Path, phone: str, text: str, to: str = "") -> Path:
    """Play a citizen's reply: the running adapter picks it up from the inbox."""
    name = f"{time.time_ns()}-{uuid.uuid4().hex[:8]}.json"
    path = Path(data_dir) / "sms-inbox" / name
    _write_atomically(path, {"phone": phone, "text": text, "to": to,
                             "received_at": datetime.now(timezone.utc).isoformat()})
    return path


def read_outbox(data_dir: str | Path, after: str = "") -> list[dict]:
    """The outbox's messages, oldest first; with ``after`` (a file name) only newer ones.
    Each dict also has ``file``, its name, so a follower can continue from it."""
    messages = []
    for path in sorted((Path(data_dir) / "sms-outbox").glob("*.json")):
        if path.name <= after:
            continue
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        messages.append({**data, "file": path.name})
    return messages


class FileCarrier:
    name = "file"

    def __init__(self, data_dir: str | Path, poll_s: float = 0.2):
        self.outbox = Path(data_dir) / "sms-outbox"
        self.inbox = Path(data_dir) / "sms-inbox"
        self.poll_s = poll_s
        self._on_inbound: InboundHandler | None = None
        self._on_receipt: ReceiptHandler | None = None
        self._task: asyncio.Task | None = None
        self._receipts: set[asyncio.Task] = set()

    async def start(self, on_inbound: InboundHandler, on_receipt: ReceiptHandler) -> None:
        self.outbox.mkdir(parents=True, exist_ok=True)
        (self.inbox / "done").mkdir(parents=True, exist_ok=True)
        self._on_inbound, self._on_receipt = on_inbound, on_receipt
        self._task = asyncio.create_task(self._poll_inbox(), name="sms-file-inbox")

    async def send(self, message: OutboundSms) -> SubmitResult:
        info = segments.count(message.text)
        carrier_id = uuid.uuid4().hex
        path = self.outbox / f"{time.time_ns()}-{message.id}.json"
        _write_atomically(path, {
            "message_id": message.id, "carrier_id": carrier_id, "to": message.phone,
            "text": message.text, "encoding": info.encoding, "segments": info.segments,
            "sent_at": datetime.now(timezone.utc).isoformat()})
        if self._on_receipt is not None:  # a file is "delivered" the moment it exists
            receipt = DeliveryReceipt(carrier_id, DeliveryState.DELIVERED,
                                      at=datetime.now(timezone.utc))
            task = asyncio.create_task(self._on_receipt(receipt))
            self._receipts.add(task)  # keep a reference until it is done
            task.add_done_callback(self._receipts.discard)
        return SubmitResult(carrier_id, (carrier_id,), info.segments)

    def sent(self) -> list[dict]:
        """Every message in the outbox, oldest first (for tests and `hcp sms outbox`)."""
        return read_outbox(self.outbox.parent)


    async def poll_once(self) -> int:
        handled = 0
        for path in sorted(self.inbox.glob("*.json")):
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
                message = InboundSms(phone=data["phone"], text=data["text"],
                                     received_at=datetime.fromisoformat(data["received_at"]),
                                     carrier_id=path.stem, to=data.get("to", ""))
            except (ValueError, KeyError):
                log.warning("inbox file %s is not a reply; moved aside", path.name)
                path.rename(self.inbox / "done" / (path.name + ".bad"))
                continue
            try:
                await self._on_inbound(message)
            except Exception:  # e.g. the number's lock is busy: the file stays, next poll
                log.exception("inbox reply %s not handled; retried on the next poll", path.name)
                break  # keep one number's replies in order
            path.rename(self.inbox / "done" / path.name)
            handled += 1
        return handled

    async def _poll_inbox(self) -> None:
        while True:
            try:
                await self.poll_once()
            except Exception:  # the poller must outlive any one bad pass
                log.exception("sms inbox poll failed")
            await asyncio.sleep(self.poll_s)

    async def stop(self) -> None:
        await stop_task(self._task)
        self._task = None
