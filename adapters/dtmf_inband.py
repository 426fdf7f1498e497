"""In-band DTMF: a Goertzel detector over 16-bit mono PCM frames. Pure, no IO.

Theory of operation. Each block of ``block`` samples (20 ms at 8 kHz, the size
of a conference-bridge frame) is run through eight Goertzel filters, one per
DTMF frequency. A block "shows" a digit when

* its energy is above ``min_rms`` (a quiet line is no key);
* the strongest row and the strongest column tone together hold at least
  ``min_tone_fraction`` of the block's energy (speech and noise spread theirs);
* each of the two beats the runner-up of its group by ``min_group_margin``
  (adjacent rows are only 73 Hz apart);
* the twist (row/column power ratio) is within ``max_twist``.

A key press is reported once, on key-down: when ``confirm_blocks`` consecutive
blocks show the same digit after at least ``release_blocks`` blocks without it.
So a long press is one digit and a 40 ms tone (the standard minimum) is caught.
The detector also reports each block's RMS so the channel can detect silence.
"""

from __future__ import annotations

import math
import sys
from array import array
from dataclasses import dataclass

ROWS = (697.0, 770.0, 852.0, 941.0)
COLS = (1209.0, 1336.0, 1477.0, 1633.0)
KEYS = ("123A", "456B", "789C", "*0#D")


@dataclass
class DetectorSettings:
    sample_rate: int = 8000
    block: int = 160
    min_rms: float = 60.0
    min_tone_fraction: float = 0.55
    min_group_margin: float = 4.0
    max_twist: float = 8.0
    confirm_blocks: int = 2
    release_blocks: int = 2


def pcm16_samples(data: bytes) -> array:
    """Little-endian 16-bit PCM bytes as an array of ints."""
    samples = array("h")
    samples.frombytes(data[: len(data) - len(data) % 2])
    if sys.byteorder != "little":
        samples.byteswap()
    return samples


class InbandDtmfDetector:
    def __init__(self, settings: DetectorSettings | None = None):
        self.s = settings or DetectorSettings()
        n, rate = self.s.block, self.s.sample_rate
        self._coeffs = [2.0 * math.cos(2.0 * math.pi * f / rate) for f in ROWS + COLS]
        self._n = n
        self._pending = array("h")
        self._candidate: str | None = None
        self._candidate_blocks = 0
        self._held: str | None = None
        self._absent_blocks = self.s.release_blocks
        self.last_rms = 0.0

    def feed(self, data: bytes) -> list[str]:
        """Feed PCM bytes (any length); return the digits whose key-down was seen."""
        self._pending.extend(pcm16_samples(data))
        found: list[str] = []
        while len(self._pending) >= self._n:
            block = self._pending[: self._n]
            del self._pending[: self._n]
            digit = self._block_digit(block)
            pressed = self._debounce(digit)
            if pressed:
                found.append(pressed)
        return found

    def _debounce(self, digit: str | None) -> str | None:
        if digit is None:
            self._candidate, self._candidate_blocks = None, 0
            self._absent_blocks += 1
            if self._absent_blocks >= self.s.release_blocks:
                self._held = None
            return None
        if digit == self._held:
            self._absent_blocks = 0
            return None
        if digit == self._candidate:
            self._candidate_blocks += 1
        else:
            self._candidate, self._candidate_blocks = digit, 1
        if self._candidate_blocks >= self.s.confirm_blocks and (
                self._held is None or self._absent_blocks >= self.s.release_blocks):
            self._held, self._absent_blocks = digit, 0
            self._candidate, self._candidate_blocks = None, 0
            return digit
        return None

    def _block_digit(self, block: array) -> str | None:
        n = len(block)
        energy = 0.0
        for x in block:
            energy += x * x
        self.last_rms = math.sqrt(energy / n)
        if self.last_rms < self.s.min_rms:
            return None
        powers = [_goertzel(block, c) for c in self._coeffs]
        # Normalised so that a pure sine in the block gives about 1.0.
        scale = 2.0 / (n * energy)
        rows = [p * scale for p in powers[:4]]
        cols = [p * scale for p in powers[4:]]
        r = max(range(4), key=rows.__getitem__)
        c = max(range(4), key=cols.__getitem__)
        row, col = rows[r], cols[c]
        if row + col < self.s.min_tone_fraction:
            return None
        if row <= 0 or col <= 0 or max(row / col, col / row) > self.s.max_twist:
            return None
        for group, best in ((rows, r), (cols, c)):
            runner_up = max(v for i, v in enumerate(group) if i != best)
            if group[best] < self.s.min_group_margin * runner_up:
                return None
        return KEYS[r][c]


def _goertzel(block: array, coeff: float) -> float:
    s1 = s2 = 0.0
    for x in block:
        s1, s2 = x + coeff * s1 - s2, s1
    return s1 * s1 + s2 * s2 - coeff * s1 * s2


def rms(data: bytes) -> float:
    samples = pcm16_samples(data)
    if not samples:
        return 0.0
    return math.sqrt(sum(x * x for x in samples) / len(samples))
