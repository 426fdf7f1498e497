"""Fixtures for the review-tool tests: small flow files written to a temp dir."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

TINY_VOICE = """
spec_version: 2
id: tiny-voice
type: voice
languages: [zh, en]
nodes:
  - id: greet
    type: play
    prompt:
      zh: {text: 您好，这是录音。, audio: greet.zh.wav}
      en: {text: "Hello, this is speech.", audio: greet.en.wav}
    next: ask
  - id: ask
    type: question
    mode: grade
    prompt:
      zh: "非常满意请按{key_very_satisfied}，满意请按{key_satisfied}，\\
        基本满意请按{key_basically_satisfied}，不满意请按{key_dissatisfied}，\\
        非常不满意请按{key_very_dissatisfied}。"
      en: >-
        Very satisfied {key_very_satisfied}, satisfied {key_satisfied}, basically satisfied
        {key_basically_satisfied}, dissatisfied {key_dissatisfied}, very dissatisfied
        {key_very_dissatisfied}.
    next: confirm
    exhausted: bye
  - id: confirm
    type: confirm
    prompt:
      zh: "您选择了{grade_name}，工号{staff_id}。确认请按1，重选请按2。"
      en: "You chose {grade_name}. Press 1 or 2."
    change: ask
    next: bye
    exhausted: bye
  - id: bye
    type: end
    prompt: {zh: 再见。, en: Goodbye.}
"""


@pytest.fixture
def flow_dir(tmp_path) -> Path:
    """A directory holding tiny_voice.yaml (no recorded audio yet)."""
    d = tmp_path / "flows"
    d.mkdir()
    (d / "tiny_voice.yaml").write_text(TINY_VOICE, encoding="utf-8")
    return d


def make_tone_wav(path: Path, rate: int, channels: int, seconds: float = 0.5) -> Path:
    """A recorded prompt stand-in: a sine tone made by sox."""
    subprocess.run(["sox", "-n", "-r", str(rate), "-c", str(channels), "-b", "16",
                    str(path), "synth", str(seconds), "sine", "440"], check=True)
    return path
