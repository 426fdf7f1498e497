"""What prompt audio costs, and what the cache saves.

  cold      every spoken text of the shipped voice flows rendered into an empty
            cache (espeak-ng + sox per text) — the first call after a deploy
            without ``hcp prompts render`` pays this, one prompt at a time
  cached    the same lookups once the cache is full (hash + stat per text)
  espeak    baseline: espeak-ng alone, writing its 22.05 kHz WAV, same texts,
            same run — how much of a render is speech synthesis, how much sox

Prints per-text milliseconds and ratios against the espeak-only baseline.

    .venv/bin/python bench/prompts/prompts_bench.py [--rate 8000|16000]
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
import time
from pathlib import Path

from adapters.tts import ENGINE, PromptCache, voice_for
from flows.loader import load_flow, shipped_paths
from flows.prompt_texts import spoken_texts


def texts():
    out = []
    for path in shipped_paths():
        flow = load_flow(path)
        out += [(s.text, s.lang) for s in spoken_texts(flow) if s.renderable]
    return list(dict.fromkeys(out))  # one render per distinct (text, voice)


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=int, default=8000, choices=(8000, 16000))
    args = parser.parse_args()
    items = texts()
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.wav"
        espeak = timed(lambda: [subprocess.run([ENGINE, "-v", voice_for(lang), "-w", str(raw),
                                                "--stdin"], input=text.encode(), check=True)
                                for text, lang in items])
        cache = PromptCache(Path(tmp) / "cache", args.rate)
        cold = timed(lambda: [cache.synthetic(text, lang) for text, lang in items])
        cached = timed(lambda: [cache.synthetic(text, lang) for text, lang in items])
        seconds = sum(_duration(cache.synthetic_path(t, lang)) for t, lang in items)
    n = len(items)
    print(f"{n} distinct spoken texts of the shipped flows, {seconds:.0f} s of audio, "
          f"{args.rate} Hz")
    for name, total in (("espeak", espeak), ("cold", cold), ("cached", cached)):
        print(f"{name:<8} {total * 1000 / n:8.2f} ms/text   total {total:6.2f} s")
    print(f"ratio cold/espeak {cold / espeak:.2f} (sox + file handling on top of speech)")
    print(f"ratio cached/cold {cached / cold:.4f} (what a cache hit costs of a render)")


def _duration(path: Path) -> float:
    import wave

    with wave.open(str(path)) as w:
        return w.getnframes() / w.getframerate()


if __name__ == "__main__":
    main()
