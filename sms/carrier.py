"""The one interface every SMS carrier adapter implements.

Outbound: ``await carrier.send(OutboundSms) -> SubmitResult`` or one of three
typed errors, which tell the caller what to do next:

  Throttled       the carrier said "slow down"; nothing was accepted. Retry later.
  TransientError  network or carrier trouble; retry with backoff. (Over SMPP a
                  lost response means "maybe accepted": adapters never re-send a
                  segment the carrier acknowledged.)
  PermanentError  this message will never go (bad number, rejected template).

Inbound: the adapter calls the ``on_inbound(InboundSms)`` and
``on_receipt(DeliveryReceipt)`` callbacks given to ``start``. MO replies arrive
reassembled (one InboundSms per citizen message) and receipts carry the
carrier's message id, which ``SubmitResult.carrier_ids`` recorded.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any, Protocol

from aiohttp import web


# Where the SMS channel publishes its carrier on the gateway's HTTP app, for the
# console's rectification feedback (console/app.py reads the same key).
CARRIER_APP_KEY: web.AppKey[Any] = web.AppKey("sms.carrier", object)


class CarrierError(Exception):
    """Base of the typed send errors."""


class Throttled(CarrierError):
    def __init__(self, message: str = "throttled", retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class TransientError(CarrierError):
    """Try again later; the message may be re-sent."""


class PermanentError(CarrierError):
    """Do not retry."""


@dataclass(frozen=True)
class OutboundSms:
    id: str  # our message id (stable across retries: providers dedupe on it)
    phone: str  # E.164; never logged
    text: str
    template: str | None = None  # provider template code, for templated HTTP APIs
    params: dict[str, str] = field(default_factory=dict)  # template parameters


@dataclass(frozen=True)
class SubmitResult:
    carrier_id: str  # the carrier's id for the message (first segment over SMPP)
    carrier_ids: tuple[str, ...] = ()  # every segment's id, for receipt matching
    segments: int = 1

    def all_ids(self) -> tuple[str, ...]:
        return self.carrier_ids or (self.carrier_id,)


class DeliveryState(str, Enum):
    DELIVERED = "delivered"
    FAILED = "failed"
    EXPIRED = "expired"
    UNKNOWN = "unknown"  # a receipt whose state we cannot read


@dataclass(frozen=True)
class DeliveryReceipt:
    carrier_id: str
    state: DeliveryState
    error: str = ""
    at: datetime | None = None


@dataclass(frozen=True)
class InboundSms:
    phone: str  # E.164 of the citizen
    text: str
    received_at: datetime
    carrier_id: str = ""  # id the carrier gave the MO, if any
    to: str = ""  # our number / service code it was sent to


InboundHandler = Callable[[InboundSms], Awaitable[None]]
ReceiptHandler = Callable[[DeliveryReceipt], Awaitable[None]]


class Carrier(Protocol):
    name: str

    async def start(self, on_inbound: InboundHandler, on_receipt: ReceiptHandler) -> None: ...

    async def send(self, message: OutboundSms) -> SubmitResult: ...

    async def stop(self) -> None: ...


# SMPP-style receipt states, shared by the adapters that read them.
_STATES = {
    "DELIVRD": DeliveryState.DELIVERED, "DELIVERED": DeliveryState.DELIVERED,
    "EXPIRED": DeliveryState.EXPIRED, "UNDELIV": DeliveryState.FAILED,
    "REJECTD": DeliveryState.FAILED, "DELETED": DeliveryState.FAILED,
    "FAILED": DeliveryState.FAILED, "UNKNOWN": DeliveryState.UNKNOWN,
}


def state_from_text(stat: str) -> DeliveryState:
    return _STATES.get(stat.strip().upper(), DeliveryState.UNKNOWN)
