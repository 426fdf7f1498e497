"""Audio helpers for the tests: DTMF tone WAVs (sox) and prompt/recording correlation."""

from __future__ import annotations

import math
import subprocess
import wave
from array import array
from pathlib import Path

from adapters.dtmf_inband import COLS, KEYS, ROWS


def tone_pair(digit: str) -> tuple[float, float]:
    for r, row in enumerate(KEYS):
        if digit in row:
            return ROWS[r], COLS[row.index(digit)]
    raise ValueError(digit)


def dtmf_wav(path: Path, plan: list[tuple[str, float]], gain_db: float = -8) -> Path:
    """A WAV (8 kHz mono 16-bit) from [(digit or "", seconds)]: "" is silence.
    Each tone is two sines mixed by sox (synth … sine f1 sine f2 remix 1,2)."""
    parts = []
    for n, (digit, seconds) in enumerate(plan):
        part = path.with_name(f"{path.stem}.part{n}.wav")
        if digit:
            low, high = tone_pair(digit)
            cmd = ["sox", "-n", "-r", "8000", "-b", "16", str(part), "synth", str(seconds),
                   "sine", str(low), "sine", str(high), "remix", "1,2", "gain", str(gain_db)]
        else:
            cmd = ["sox", "-n", "-r", "8000", "-b", "16", "-c", "1", str(part), "trim", "0",
                   str(seconds)]
        subprocess.run(cmd, check=True, capture_output=True)
        parts.append(str(part))
    subprocess.run(["sox", *parts, str(path)], check=True, capture_output=True)
    for part in parts:
        Path(part).unlink()
    return path


def read_samples(path: str | Path) -> array:
    with wave.open(str(path)) as w:
        assert (w.getframerate(), w.getsampwidth(), w.getnchannels()) == (8000, 2, 1), path
        samples = array("h")
        samples.frombytes(w.readframes(w.getnframes()))
    return samples


def envelope(samples: array, frame: int = 80) -> list[float]:
    """RMS per 10 ms: robust to G.711 and phase, cheap to correlate in Python."""
    out = []
    for i in range(0, len(samples) - frame + 1, frame):
        block = samples[i:i + frame]
        out.append(math.sqrt(sum(x * x for x in block) / frame))
    return out


def best_correlation(heard: list[float], played: list[float]) -> float:
    """Highest normalised correlation of ``played`` against any offset in ``heard``."""
    n = len(played)
    if len(heard) < n or n == 0:
        return 0.0
    mp = sum(played) / n
    pc = [x - mp for x in played]
    sp = math.sqrt(sum(x * x for x in pc)) or 1.0
    best = 0.0
    for lag in range(0, len(heard) - n + 1):
        window = heard[lag:lag + n]
        mh = sum(window) / n
        num = sum((h - mh) * p for h, p in zip(window, pc, strict=True))
        sh = math.sqrt(sum((h - mh) ** 2 for h in window)) or 1.0
        best = max(best, num / (sh * sp))
    return best
