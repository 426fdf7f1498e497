"""Concatenated SMS: the UDH that cuts a long MT, and MO reassembly. Pure; no IO.

A long message travels as parts that each start with a User Data Header
(esm_class bit 0x40): ``05 00 03 ref total seq`` (8-bit reference) or
``06 08 04 refhi reflo total seq`` (16-bit). Some SMSCs send the same facts as
SMPP TLVs instead (sar_msg_ref_num, sar_total_segments, sar_segment_seqnum).
``Reassembler`` collects parts per (sender, reference, total) and yields the
whole body once every part is in; parts of a message that never completes
are dropped after ``max_age_s``. Bodies are joined as bytes before decoding,
so a UCS-2 character split across parts survives.
"""

from __future__ import annotations

from dataclasses import dataclass, field

UDHI = 0x40  # esm_class bit: short_message starts with a UDH


def udh(ref: int, total: int, seq: int) -> bytes:
    """8-bit-reference concatenation header; ``seq`` counts from 1."""
    return bytes((0x05, 0x00, 0x03, ref & 0xFF, total, seq))


@dataclass(frozen=True)
class Part:
    ref: int
    total: int
    seq: int
    body: bytes


def parse_udh(data: bytes) -> tuple[Part | None, bytes]:
    """(concatenation info or None, body without the header)."""
    if not data:
        return None, data
    length = data[0]
    header, body = data[1:1 + length], data[1 + length:]
    i = 0
    while i + 1 < len(header):
        iei, iel = header[i], header[i + 1]
        value = header[i + 2:i + 2 + iel]
        if iei == 0x00 and iel == 3 and len(value) == 3:
            return Part(value[0], value[1], value[2], body), body
        if iei == 0x08 and iel == 4 and len(value) == 4:
            return Part((value[0] << 8) | value[1], value[2], value[3], body), body
        i += 2 + iel
    return None, body


@dataclass
class _Pending:
    first_seen: float
    parts: dict[int, bytes] = field(default_factory=dict)


class Reassembler:
    def __init__(self, max_age_s: float = 600.0):
        self.max_age_s = max_age_s
        self._pending: dict[tuple[str, int, int], _Pending] = {}

    def add(self, sender: str, part: Part, now: float) -> bytes | None:
        """The whole body when ``part`` completes its message, else None."""
        self.expire(now)
        if part.total <= 1:
            return part.body
        if not 1 <= part.seq <= part.total:
            return None
        key = (sender, part.ref, part.total)
        pending = self._pending.setdefault(key, _Pending(now))
        pending.parts[part.seq] = part.body  # a repeated part replaces, never doubles
        if len(pending.parts) < part.total:
            return None
        del self._pending[key]
        return b"".join(pending.parts[i] for i in range(1, part.total + 1))

    def expire(self, now: float) -> int:
        old = [k for k, p in self._pending.items() if now - p.first_seen > self.max_age_s]
        for key in old:
            del self._pending[key]
        return len(old)

    def __len__(self) -> int:
        return len(self._pending)
