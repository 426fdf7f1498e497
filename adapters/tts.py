"""Prompt audio: espeak-ng speech for prompt texts, a recorded WAV where the flow has one.

Theory of operation. A prompt is spoken from one of two sources:

* recorded — the prompt's ``audio`` field names a WAV relative to the flow file
  (the flow format's own naming, see docs/flows.md). When that file exists it
  wins over synthesis. A file already at the wanted rate, mono, 16-bit is used
  in place; any other is converted once into the cache (keyed by path, size and
  mtime, so re-recording a prompt takes effect on the next call).
* synthetic — ``espeak-ng -v <voice> -s <words per minute>`` (cmn, yue, en)
  writes 22.05 kHz, which sox turns into 8 or 16 kHz, 16-bit, mono PCM. The
  speech rate is per voice (``SPEEDS``): espeak-ng's default 175 speaks Mandarin
  at about 2.2 syllables/s, half a natural pace, so the five-grade question took
  ~30 s; cmn runs at 240 (about 3.6 syllables/s, still slower than a news
  reader), Cantonese keeps 175 (already ~3.9/s), English 185. The cache key is a
  hash of engine, voice, speed, rate and the exact text, so a changed text or
  speed is a new file and an unchanged one is never rendered twice (across
  processes too: files appear by atomic rename).

Cache layout under ``<data>/prompts/``: ``tts/<rate>/<hash>.wav`` and
``recorded/<rate>/<hash>.wav``. The IVR asks ``wav_for_play`` for the file of a
``Play`` effect; ``hcp prompts render`` fills the same cache ahead of calls.
Blocking (subprocess): call it from a thread in asyncio code.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import uuid
import wave
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

ENGINE = "espeak-ng"
VOICES = {"zh": "cmn", "cmn": "cmn", "yue": "yue", "en": "en"}
RATES = (8000, 16000)
# espeak-ng -s (words per minute) per voice; measured on the shipped hotline
# prompts so the five-grade question stays near 10-12 s (docs/flows.md, "Time to rate")
SPEEDS = {"cmn": 240, "yue": 175, "en": 185}
DEFAULT_SPEED = 175  # espeak-ng's own default
SYNTHETIC, RECORDED = "synthetic", "recorded"


class TtsError(RuntimeError):
    """espeak-ng or sox failed, or is missing."""


def voice_for(lang: str | None) -> str:
    return VOICES.get(lang or "zh", "cmn")


def speed_for(voice: str, speeds: dict[str, int] | None = None) -> int:
    return (speeds or SPEEDS).get(voice, DEFAULT_SPEED)


def wav_format(path: str | Path) -> tuple[int, int, int]:
    """(frame rate, channels, sample width in bytes) of a WAV file."""
    with wave.open(str(path)) as w:
        return w.getframerate(), w.getnchannels(), w.getsampwidth()


def _is_pcm(path: Path, rate: int) -> bool:
    try:
        return wav_format(path) == (rate, 1, 2)
    except (wave.Error, EOFError, OSError):
        return False


def _check_rate(rate: int) -> None:
    if rate not in RATES:
        raise ValueError(f"rate must be one of {RATES}, not {rate}")


def _run(argv: list[str], **kwargs) -> None:
    try:
        subprocess.run(argv, check=True, capture_output=True, **kwargs)
    except FileNotFoundError as exc:
        raise TtsError(f"{argv[0]} is not installed (scripts/install-deps)") from exc
    except subprocess.CalledProcessError as exc:
        err = exc.stderr.decode(errors="replace").strip() if exc.stderr else ""
        raise TtsError(f"{argv[0]} failed ({exc.returncode}): {err[:200]}") from exc


def _tmp_beside(dst: Path) -> Path:
    return dst.with_name(f".{dst.stem}.{os.getpid()}.{uuid.uuid4().hex[:8]}.wav")


def convert(src: Path, dst: Path, rate: int) -> None:
    """Any WAV sox reads → ``rate`` Hz, mono, 16-bit signed PCM, atomically."""
    _check_rate(rate)
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_beside(dst)
    try:
        # -G: guard against clipping when resampling espeak's full-scale output
        _run(["sox", "-G", str(src), "-r", str(rate), "-c", "1", "-b", "16",
              "-e", "signed-integer", str(tmp)])
        tmp.replace(dst)
    finally:
        tmp.unlink(missing_ok=True)


@lru_cache(maxsize=1)
def installed_voices() -> frozenset[str]:
    """Names ``-v`` accepts: languages (cmn, en-gb …) and voice files (yue, en …)."""
    try:
        out = subprocess.run([ENGINE, "--voices"], check=True, capture_output=True,
                             text=True).stdout
    except (FileNotFoundError, subprocess.CalledProcessError) as exc:
        raise TtsError(f"{ENGINE} is not usable (scripts/install-deps): {exc}") from exc
    rows = [line.split() for line in out.splitlines()[1:] if len(line.split()) >= 5]
    return frozenset([r[1] for r in rows] + [r[4].rsplit("/", 1)[-1] for r in rows])


def synthesize(text: str, voice: str, rate: int, dst: Path, speed: int | None = None) -> None:
    """Speak ``text`` with espeak-ng into ``dst`` (rate Hz, mono, 16-bit) at
    ``speed`` words per minute (default: the voice's ``SPEEDS`` entry)."""
    _check_rate(rate)
    if voice not in installed_voices():  # espeak-ng would silently speak its default voice
        raise TtsError(f"{ENGINE} has no voice {voice!r}")
    dst.parent.mkdir(parents=True, exist_ok=True)
    raw = _tmp_beside(dst).with_suffix(".espeak.wav")
    try:
        # The text goes on stdin: no argv length limit, no option parsing of a leading "-".
        _run([ENGINE, "-v", voice, "-s", str(speed or speed_for(voice)), "-w", str(raw),
              "--stdin"], input=text.encode())
        convert(raw, dst, rate)
    finally:
        raw.unlink(missing_ok=True)


def synthetic_key(text: str, voice: str, rate: int, speed: int | None = None) -> str:
    speed = speed or speed_for(voice)
    return hashlib.sha256(f"{ENGINE}\0{voice}\0{speed}\0{rate}\0{text}".encode()
                          ).hexdigest()[:24]


@dataclass(frozen=True)
class PromptWav:
    path: Path
    source: str          # synthetic | recorded
    rendered: bool       # False: found in the cache (or used in place)


class PromptCache:
    """The prompt audio cache in ``<data>/prompts`` for one sample rate."""

    def __init__(self, cache_dir: str | Path, rate: int = 8000,
                 speeds: dict[str, int] | None = None):
        _check_rate(rate)
        self.cache_dir = Path(cache_dir)
        self.rate = rate
        self.speeds = {**SPEEDS, **(speeds or {})}  # voice → words per minute

    @classmethod
    def in_data_dir(cls, data_dir: str | Path, rate: int = 8000) -> PromptCache:
        return cls(Path(data_dir) / "prompts", rate)

    def synthetic_path(self, text: str, lang: str | None) -> Path:
        voice = voice_for(lang)
        key = synthetic_key(text, voice, self.rate, speed_for(voice, self.speeds))
        return self.cache_dir / "tts" / str(self.rate) / f"{key}.wav"

    def synthetic(self, text: str, lang: str | None) -> PromptWav:
        dst = self.synthetic_path(text, lang)
        if dst.exists():
            return PromptWav(dst, SYNTHETIC, False)
        voice = voice_for(lang)
        synthesize(text, voice, self.rate, dst, speed_for(voice, self.speeds))
        return PromptWav(dst, SYNTHETIC, True)

    def recorded_source(self, audio: str | None, flow_dir: str | Path | None) -> Path | None:
        """The recorded WAV a prompt names, if it exists."""
        if not audio:
            return None
        src = Path(audio)
        if not src.is_absolute():
            if flow_dir is None:
                return None
            src = Path(flow_dir) / src
        return src if src.is_file() else None

    def recorded(self, src: Path) -> PromptWav:
        if _is_pcm(src, self.rate):
            return PromptWav(src, RECORDED, False)
        stat = src.stat()
        key = hashlib.sha256(f"{src.resolve()}\0{stat.st_size}\0{stat.st_mtime_ns}\0"
                             f"{self.rate}".encode()).hexdigest()[:24]
        dst = self.cache_dir / "recorded" / str(self.rate) / f"{key}.wav"
        if dst.exists():
            return PromptWav(dst, RECORDED, False)
        convert(src, dst, self.rate)
        return PromptWav(dst, RECORDED, True)

    def prompt(self, text: str, lang: str | None, audio: str | None = None,
               flow_dir: str | Path | None = None) -> PromptWav:
        """The WAV for one prompt: the recorded file when present, else speech."""
        src = self.recorded_source(audio, flow_dir)
        if src is not None:
            return self.recorded(src)
        return self.synthetic(text, lang)


def wav_for_play(play, data_dir: str | Path, flow_dir: str | Path | None,
                 rate: int = 8000, default_lang: str = "zh") -> Path:
    """The WAV to play for a ``flows.effects.Play`` (prompt id, lang, text, audio).

    The IVR's entry point: ``flow_dir`` is ``Flow.base_dir`` of the running flow.
    """
    cache = PromptCache.in_data_dir(data_dir, rate)
    return cache.prompt(play.text, play.lang or default_lang, play.audio, flow_dir).path
