"""Prompt audio for the call: the flow's WAV, or the text rendered by espeak-ng.

A ``Play`` effect names a WAV relative to the flow file, or none (then its
text is synthesised). Whatever the source, the call gets an 8 kHz mono 16-bit
WAV (the conference bridge's rate, no resampling per frame), cached in the
data directory by a hash of (voice, text) or (source path, mtime). Rendering
runs in a thread (``asyncio.to_thread``); the thread never touches pjsua2.
"""

from __future__ import annotations

import asyncio
import hashlib
import subprocess
import threading
import uuid
import wave
from dataclasses import dataclass
from pathlib import Path

VOICES = {"zh": "cmn", "cmn": "cmn", "yue": "yue", "en": "en"}


@dataclass(frozen=True)
class PromptAudio:
    path: str
    seconds: float


def wav_seconds(path: str | Path) -> float:
    with wave.open(str(path)) as w:
        return w.getnframes() / float(w.getframerate())


def _is_telephone_wav(path: Path) -> bool:
    try:
        with wave.open(str(path)) as w:
            return (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (8000, 1, 2)
    except (wave.Error, EOFError):
        return False


def to_telephone_wav(src: Path, dst: Path) -> None:
    tmp = dst.with_name(f"{dst.stem}.{uuid.uuid4().hex[:8]}.tmp.wav")
    subprocess.run(["sox", str(src), "-r", "8000", "-c", "1", "-b", "16", str(tmp)],
                   check=True, capture_output=True)
    tmp.replace(dst)


def render_text(text: str, lang: str, dst: Path) -> None:
    voice = VOICES.get(lang, "cmn")
    raw = dst.with_name(f"{dst.stem}.{uuid.uuid4().hex[:8]}.espeak.wav")
    subprocess.run(["espeak-ng", "-v", voice, "-w", str(raw), text], check=True,
                   capture_output=True)
    try:
        to_telephone_wav(raw, dst)
    finally:
        raw.unlink(missing_ok=True)


class PromptLibrary:
    def __init__(self, cache_dir: str | Path, flow_dir: str | Path | None = None):
        self.cache_dir = Path(cache_dir)
        self.flow_dir = Path(flow_dir) if flow_dir else None
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    def _lock(self, dst: Path) -> threading.Lock:
        # Calls asking for the same prompt at once render it once.
        with self._locks_guard:
            return self._locks.setdefault(dst.name, threading.Lock())

    def resolve(self, text: str, lang: str, audio: str | None) -> PromptAudio:
        """Blocking: find or make the telephone WAV for a prompt."""
        if audio:
            src = Path(audio)
            if not src.is_absolute() and self.flow_dir is not None:
                src = self.flow_dir / src
            if src.exists():
                if _is_telephone_wav(src):
                    return PromptAudio(str(src), wav_seconds(src))
                key = f"file:{src.resolve()}:{src.stat().st_mtime_ns}"
                dst = self._cached(key)
                with self._lock(dst):
                    if not dst.exists():
                        to_telephone_wav(src, dst)
                return PromptAudio(str(dst), wav_seconds(dst))
        dst = self._cached(f"tts:{VOICES.get(lang, 'cmn')}:{text}")
        with self._lock(dst):
            if not dst.exists():
                render_text(text, lang, dst)
        return PromptAudio(str(dst), wav_seconds(dst))

    async def aresolve(self, text: str, lang: str, audio: str | None) -> PromptAudio:
        return await asyncio.to_thread(self.resolve, text, lang, audio)

    def _cached(self, key: str) -> Path:
        return self.cache_dir / (hashlib.sha256(key.encode()).hexdigest()[:24] + ".wav")
