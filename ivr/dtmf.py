"""One key press = one digit, whatever the stack delivered.

The stack reports DTMF observations (``ivr.media.DtmfSignal``): RFC 2833 as a
start, updates every ~20 ms and a (thrice-sent) end; SIP INFO and in-band
key-downs as whole presses. A phone or gateway may also send one press by two
methods at once (RFC 2833 *and* INFO, or RFC 2833 with the tone left in the
audio). ``KeyPressDeduper`` turns observations into key presses:

* per method, an RFC 2833 observation of the digit being held (same digit,
  seen less than ``hold_gap_s`` ago) continues that press; after its end a new
  start of the same digit is a new press (but a repeated end packet is not);
* across methods, a press of a digit that another method already reported less
  than ``cross_window_s`` ago is the same press (the first method wins).

Humans need ~100 ms between two presses of one key (standard tone 40 ms + pause
40 ms), so the default windows (250 ms across methods) never merge two real
presses sent by one method, and only merge a cross-method double.
"""

from __future__ import annotations

from dataclasses import dataclass

from ivr.media import DtmfSignal


@dataclass(frozen=True)
class KeyPress:
    digit: str
    method: str
    at: float


@dataclass
class _Held:
    digit: str
    last_seen: float
    ended: bool


class KeyPressDeduper:
    def __init__(self, cross_window_s: float = 0.25, hold_gap_s: float = 0.25):
        self.cross_window_s = cross_window_s
        self.hold_gap_s = hold_gap_s
        self._held: dict[str, _Held] = {}  # method -> RFC 2833 press in progress
        self._recent: dict[str, tuple[str, float]] = {}  # digit -> (method, at)
        self.duplicates = 0

    def observe(self, sig: DtmfSignal) -> KeyPress | None:
        if not sig.whole and self._continues(sig):
            return None
        last = self._recent.get(sig.digit)
        if last is not None and last[0] != sig.method and sig.at - last[1] < self.cross_window_s:
            self.duplicates += 1
            return None
        self._recent[sig.digit] = (sig.method, sig.at)
        return KeyPress(sig.digit, sig.method, sig.at)

    def _continues(self, sig: DtmfSignal) -> bool:
        held = self._held.get(sig.method)
        if (held is not None and held.digit == sig.digit
                and sig.at - held.last_seen < self.hold_gap_s
                and (not held.ended or sig.end)):
            held.last_seen = sig.at
            held.ended = held.ended or sig.end
            return True
        self._held[sig.method] = _Held(sig.digit, sig.at, sig.end)
        return False
