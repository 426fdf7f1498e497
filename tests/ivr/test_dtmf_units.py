"""The Goertzel detector on sox-made tones and espeak speech; the key-press deduper."""

from __future__ import annotations

import subprocess
import wave

import pytest

from adapters.dtmf_inband import InbandDtmfDetector
from ivr.dtmf import KeyPressDeduper
from ivr.media import DtmfSignal
from tests.ivr.audio import dtmf_wav


def frames(path):
    with wave.open(str(path)) as w:
        data = w.readframes(w.getnframes())
    return [data[i:i + 320] for i in range(0, len(data), 320)]


def detect(path) -> str:
    det = InbandDtmfDetector()
    return "".join(d for f in frames(path) for d in det.feed(f))


def test_every_key_is_detected_once(tmp_path):
    keys = "0123456789*#ABCD"
    plan = []
    for k in keys:
        plan += [(k, 0.08), ("", 0.06)]
    assert detect(dtmf_wav(tmp_path / "all.wav", plan)) == keys


def test_long_press_is_one_digit_and_a_40ms_tone_counts(tmp_path):
    path = dtmf_wav(tmp_path / "p.wav", [("5", 1.5), ("", 0.1), ("5", 0.045), ("", 0.1)])
    assert detect(path) == "55"


def test_quiet_but_valid_tones_are_detected(tmp_path):
    assert detect(dtmf_wav(tmp_path / "q.wav", [("9", 0.1), ("", 0.1)], gain_db=-30)) == "9"


@pytest.mark.parametrize("lang,text", [
    ("cmn", "您好，请对本次服务进行评价，非常满意请按一，满意请按二，不满意请按四"),
    ("en", "Thank you for calling. Please rate this call. Very satisfied, press one."),
])
def test_speech_is_not_taken_for_keys(tmp_path, lang, text):
    raw, wav = tmp_path / "s.wav", tmp_path / "s8.wav"
    subprocess.run(["espeak-ng", "-v", lang, "-w", str(raw), text], check=True)
    subprocess.run(["sox", str(raw), "-r", "8000", "-c", "1", "-b", "16", str(wav)], check=True)
    assert detect(wav) == ""


def sig(digit, method, at, whole=True, end=False):
    return DtmfSignal(digit, method, at, whole, end)


def presses(signals):
    d = KeyPressDeduper()
    return [(p.digit, p.method) for s in signals if (p := d.observe(s))]


def test_rfc2833_updates_and_repeated_ends_are_one_press():
    train = [sig("1", "rfc2833", 0.0, False)]
    train += [sig("1", "rfc2833", 0.02 * i, False) for i in range(1, 6)]
    train += [sig("1", "rfc2833", 0.12, False, True)] * 3
    assert presses(train) == [("1", "rfc2833")]


def test_same_key_pressed_twice_by_rfc2833_is_two_presses():
    train = [sig("1", "rfc2833", 0.0, False), sig("1", "rfc2833", 0.06, False, True),
             sig("1", "rfc2833", 0.15, False), sig("1", "rfc2833", 0.21, False, True)]
    assert presses(train) == [("1", "rfc2833"), ("1", "rfc2833")]


def test_one_press_by_two_methods_is_one_digit_first_method_wins():
    train = [sig("4", "rfc2833", 0.0, False), sig("4", "info", 0.01),
             sig("4", "inband", 0.05), sig("4", "rfc2833", 0.1, False, True)]
    assert presses(train) == [("4", "rfc2833")]


def test_fast_info_presses_of_one_key_all_count():
    assert presses([sig("5", "info", 0.0), sig("5", "info", 0.12)]) == [("5", "info")] * 2


def test_other_method_after_the_window_is_a_new_press():
    assert presses([sig("3", "info", 0.0), sig("3", "inband", 0.5)]) == [
        ("3", "info"), ("3", "inband")]
