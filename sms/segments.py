"""How many SMS segments a text costs, and how it is cut into them. Pure; no IO.

A text that fits the GSM 03.38 alphabet travels as GSM-7: 160 septets in one
segment, 153 per segment once it needs concatenation (the 6-byte UDH eats 7
septets). Characters from the extension table (``{}[]~|^€\\``) cost two septets
(escape + char) and an escape pair is never split across segments. Anything
else (every Chinese text, 【】 included) travels as UCS-2: 70 UTF-16 code units
in one segment, 67 per segment when concatenated; a surrogate pair (emoji) is
never split.
"""

from __future__ import annotations

from dataclasses import dataclass

GSM7_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = {"\f": 0x0A, "^": 0x14, "{": 0x28, "}": 0x29, "\\": 0x2F, "[": 0x3C,
                  "~": 0x3D, "]": 0x3E, "|": 0x40, "€": 0x65}
_BASIC_INDEX = {ch: i for i, ch in enumerate(GSM7_BASIC) if ch != "\x1b"}
ESCAPE = 0x1B

GSM7 = "gsm7"
UCS2 = "ucs2"
# Segment sizes in the encoding's unit (septets or UTF-16 code units).
SINGLE = {GSM7: 160, UCS2: 70}
CONCATENATED = {GSM7: 153, UCS2: 67}
DATA_CODING = {GSM7: 0x00, UCS2: 0x08}  # SMPP data_coding: SMSC default / UCS-2


@dataclass(frozen=True)
class SegmentInfo:
    encoding: str  # GSM7 or UCS2
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    segments: int
    per_segment: int  # capacity of each segment at this count

    @property
    def remaining(self) -> int:
        """Units left in the last segment before another one is needed."""
        return self.segments * self.per_segment - self.units


def is_gsm7(text: str) -> bool:
    return all(ch in _BASIC_INDEX or ch in GSM7_EXTENSION for ch in text)


def encoding_of(text: str) -> str:
    return GSM7 if is_gsm7(text) else UCS2


def _unit_lengths(text: str, encoding: str) -> list[int]:
    """Cost of each character in the encoding's units."""
    if encoding == GSM7:
        return [2 if ch in GSM7_EXTENSION else 1 for ch in text]
    return [2 if ord(ch) > 0xFFFF else 1 for ch in text]


def count(text: str) -> SegmentInfo:
    encoding = encoding_of(text)
    units = sum(_unit_lengths(text, encoding))
    if units <= SINGLE[encoding]:
        return SegmentInfo(encoding, units, 1 if units else 0, SINGLE[encoding])
    return SegmentInfo(encoding, units, len(split(text)), CONCATENATED[encoding])


def split(text: str) -> list[str]:
    """The text cut into segment-sized pieces, never inside an escape or surrogate pair."""
    encoding = encoding_of(text)
    costs = _unit_lengths(text, encoding)
    if sum(costs) <= SINGLE[encoding]:
        return [text] if text else []
    limit = CONCATENATED[encoding]
    parts: list[str] = []
    start, used = 0, 0
    for i, cost in enumerate(costs):
        if used + cost > limit:
            parts.append(text[start:i])
            start, used = i, 0
        used += cost
    parts.append(text[start:])
    return parts


def encode(text: str, encoding: str | None = None) -> bytes:
    """Bytes for the wire: unpacked GSM-7 septets (one per byte) or UTF-16BE."""
    encoding = encoding or encoding_of(text)
    if encoding == UCS2:
        return text.encode("utf-16-be")
    out = bytearray()
    for ch in text:
        if ch in GSM7_EXTENSION:
            out += bytes((ESCAPE, GSM7_EXTENSION[ch]))
        else:
            out.append(_BASIC_INDEX[ch])
    return bytes(out)


_EXT_REVERSE = {v: k for k, v in GSM7_EXTENSION.items()}


def decode(data: bytes, data_coding: int) -> str:
    """Text of an inbound message body (GSM-7 unpacked, Latin-1 or UCS-2)."""
    if data_coding == DATA_CODING[UCS2]:
        return data.decode("utf-16-be", errors="replace")
    if data_coding == 0x03:  # ISO-8859-1
        return data.decode("latin-1")
    out, escaped = [], False
    for b in data:
        if escaped:
            out.append(_EXT_REVERSE.get(b, " "))
            escaped = False
        elif b == ESCAPE:
            escaped = True
        elif b < len(GSM7_BASIC):
            out.append(GSM7_BASIC[b])
        else:
            out.append("?")
    return "".join(out)


def lint(text: str, max_segments: int = 3) -> list[str]:
    """Review notes for a reminder text: cost, signature, wording providers reject."""
    notes = []
    info = count(text)
    if info.segments > max_segments:
        notes.append(f"{info.segments} segments ({info.encoding}, {info.units} units); "
                     f"at most {max_segments}")
    if not text.startswith("【") or "】" not in text[:20]:
        notes.append("no signature 【…】 at the start (required by Chinese carriers)")
    if "问卷调查" in text:
        notes.append("'问卷调查' is rejected by some providers' template review")
    return notes
