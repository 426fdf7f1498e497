"""What a call task needs from the SIP stack, and what the stack tells it.

The call task (``ivr.call``) depends only on this module and the flow engine's
effect/event vocabulary; ``adapters.sip_pjsua2`` implements ``CallMedia`` on a
real pjsua2 call, the unit tests on a fake. Times are ``time.monotonic()``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class DtmfSignal:
    """One DTMF observation as the stack delivered it, before de-duplication.

    ``method``: "rfc2833", "info" (application/dtmf-relay), "info-dtmf"
    (application/dtmf) or "inband". ``whole`` is true when the observation is a
    complete key press on its own (SIP INFO, in-band key-down); RFC 2833 sends a
    start, updates every ~20 ms and a (repeated) end, with ``end`` on the last.
    """

    digit: str
    method: str
    at: float
    whole: bool = True
    end: bool = False


@dataclass(frozen=True)
class CallEnded:
    """The call is over (BYE, CANCEL, error); ``reason`` is the stack's text."""

    at: float
    reason: str = ""


@dataclass(frozen=True)
class MediaReady:
    """Audio flows: prompts can be played and the caller recorded."""

    at: float


@dataclass
class IncomingInvite:
    """What the stack knows about an INVITE when it arrives."""

    call_id: str  # SIP Call-ID
    source: str  # peer address "ip:port"
    raw: str  # the whole INVITE as received (headers + SDP)
    caller_uri: str = ""  # From URI (may carry a phone number: never log it)
    extra: dict = field(default_factory=dict)


class CallMedia(Protocol):
    """Media commands for one call. All are non-blocking and safe after hang-up
    (they then do nothing)."""

    call_id: str

    def play(self, wav_path: str) -> None:
        """Start playing a WAV (8 kHz mono 16-bit), replacing any prompt playing."""

    def stop_play(self) -> None: ...

    def start_recording(self, wav_path: str) -> None: ...

    def stop_recording(self) -> None: ...

    def last_voice_at(self) -> float:
        """When the caller's audio was last above the silence threshold."""

    def hangup(self) -> None: ...
