"""Prompt audio for the call: the flow's recorded WAV, or its text spoken by espeak-ng.

A thin async face on ``adapters.tts.PromptCache`` (the same cache that
``hcp prompts render`` fills), at the conference bridge's 8 kHz so no frame is
resampled. Rendering runs in a thread (``asyncio.to_thread``) that never touches
pjsua2; calls asking for the same prompt at once render it once.
"""

from __future__ import annotations

import asyncio
import threading
import wave
from dataclasses import dataclass
from pathlib import Path

from adapters.tts import PromptCache

BRIDGE_RATE = 8000


@dataclass(frozen=True)
class PromptAudio:
    path: str
    seconds: float


def wav_seconds(path: str | Path) -> float:
    with wave.open(str(path)) as w:
        return w.getnframes() / float(w.getframerate())


class PromptLibrary:
    def __init__(self, cache_dir: str | Path, flow_dir: str | Path | None = None):
        self.cache = PromptCache(cache_dir, BRIDGE_RATE)
        self.flow_dir = Path(flow_dir) if flow_dir else None
        self._locks: dict[tuple, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    def _lock(self, key: tuple) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(key, threading.Lock())

    def resolve(self, text: str, lang: str, audio: str | None) -> PromptAudio:
        """Blocking: find or make the telephone WAV for a prompt."""
        with self._lock((text, lang, audio)):
            wav = self.cache.prompt(text, lang, audio, self.flow_dir)
        return PromptAudio(str(wav.path), wav_seconds(wav.path))

    async def aresolve(self, text: str, lang: str, audio: str | None) -> PromptAudio:
        return await asyncio.to_thread(self.resolve, text, lang, audio)
