"""Prompt audio (espeak-ng + sox, cached, rendered once under concurrency) and the
retention of voice comments."""

from __future__ import annotations

import subprocess
import wave
from concurrent.futures import ThreadPoolExecutor
from datetime import date

from ivr.prompts import PromptLibrary
from ivr.recordings import purge_old_recordings


def fmt(path):
    with wave.open(path) as w:
        return w.getframerate(), w.getnchannels(), w.getsampwidth()


def test_text_is_rendered_to_telephone_wav_once_even_when_asked_at_once(tmp_path):
    lib = PromptLibrary(tmp_path / "cache")
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: lib.resolve("您好，请评价。", "zh", None), range(4)))
    assert len({r.path for r in results}) == 1
    assert fmt(results[0].path) == (8000, 1, 2) and results[0].seconds > 0.3
    assert [p.name for p in (tmp_path / "cache").rglob("*.wav")] == [
        results[0].path.split("/")[-1]]


def test_flow_audio_file_is_used_and_converted_when_needed(tmp_path):
    src = tmp_path / "flow" / "hello.wav"
    src.parent.mkdir()
    subprocess.run(["sox", "-n", "-r", "16000", "-c", "2", "-b", "16", str(src), "synth", "0.5",
                    "sine", "440"], check=True)
    lib = PromptLibrary(tmp_path / "cache", tmp_path / "flow")
    audio = lib.resolve("ignored text", "zh", "hello.wav")
    assert audio.path != str(src) and fmt(audio.path) == (8000, 1, 2)
    assert abs(audio.seconds - 0.5) < 0.05
    missing = lib.resolve("缺少录音时合成", "zh", "absent.wav")
    assert fmt(missing.path) == (8000, 1, 2)


def test_recordings_older_than_the_retention_are_removed(tmp_path):
    for day in ("2026-01-01", "2026-03-01", "2026-03-30", "not-a-day"):
        (tmp_path / day).mkdir()
        (tmp_path / day / "c-1.wav").write_bytes(b"RIFF")
    removed = purge_old_recordings(tmp_path, 30, today=date(2026, 4, 1))
    assert removed == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["2026-03-30", "not-a-day"]
