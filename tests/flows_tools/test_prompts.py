"""Prompt audio: espeak-ng + sox for real, the cache, recorded overrides, hcp prompts."""

from __future__ import annotations

import re
import wave
from pathlib import Path

import pytest

from adapters.tts import PromptCache, TtsError, synthesize, wav_for_play, wav_format
from flows.effects import Play
from flows.loader import load_flow, resolve, shipped_paths
from flows.prompt_texts import spoken_texts
from gateway.cli import main
from ratings.grades import Grade

from .conftest import make_tone_wav

GOLDEN = Path(__file__).parent.parent / "flows" / "golden"


def frames(path) -> int:
    with wave.open(str(path)) as w:
        return w.getnframes()


@pytest.mark.parametrize("rate", [8000, 16000])
def test_synthesised_wav_is_16_bit_mono_pcm_at_the_rate(tmp_path, rate):
    for lang, text in (("zh", "感谢您的来电，再见。"), ("yue", "多谢你嘅来电，拜拜。"),
                       ("en", "Thank you for calling. Goodbye.")):
        wav = PromptCache(tmp_path, rate).synthetic(text, lang)
        assert wav.rendered and wav.source == "synthetic"
        assert wav_format(wav.path) == (rate, 1, 2)
        assert frames(wav.path) > rate * 0.5  # at least half a second of speech
        assert wav.path.is_relative_to(tmp_path / "tts" / str(rate))


def test_cache_key_is_text_voice_and_rate(tmp_path):
    c8, c16 = PromptCache(tmp_path, 8000), PromptCache(tmp_path, 16000)
    paths = {c8.synthetic_path("再见", "zh"), c8.synthetic_path("再见", "yue"),
             c8.synthetic_path("再见。", "zh"), c16.synthetic_path("再见", "zh")}
    assert len(paths) == 4
    assert c8.synthetic_path("再见", "zh") == PromptCache(tmp_path, 8000).synthetic_path(
        "再见", "cmn")  # zh speaks with the cmn voice


def test_second_run_renders_nothing(tmp_path, flow_dir):
    flow = load_flow(flow_dir / "tiny_voice.yaml")
    cache = PromptCache(tmp_path / "cache", 8000)
    first = [cache.prompt(s.text, s.lang, s.audio, flow.base_dir)
             for s in spoken_texts(flow) if s.renderable]
    assert first and all(w.rendered for w in first)
    mtimes = {w.path: w.path.stat().st_mtime_ns for w in first}
    again = [cache.prompt(s.text, s.lang, s.audio, flow.base_dir)
             for s in spoken_texts(flow) if s.renderable]
    assert not any(w.rendered for w in again)
    assert {w.path: w.path.stat().st_mtime_ns for w in again} == mtimes


def test_recorded_file_beside_the_flow_wins(tmp_path, flow_dir):
    flow = load_flow(flow_dir / "tiny_voice.yaml")
    greet = [s for s in spoken_texts(flow) if s.prompt_id == "greet.prompt"]
    cache = PromptCache(tmp_path / "cache", 8000)
    # no recording yet: speech
    assert {cache.prompt(s.text, s.lang, s.audio, flow.base_dir).source for s in greet} == {
        "synthetic"}
    # a 44.1 kHz stereo recording is converted once; an 8 kHz mono one is used in place
    make_tone_wav(flow_dir / "greet.zh.wav", 44100, 2)
    make_tone_wav(flow_dir / "greet.en.wav", 8000, 1)
    by_lang = {s.lang: cache.prompt(s.text, s.lang, s.audio, flow.base_dir) for s in greet}
    assert by_lang["zh"].source == by_lang["en"].source == "recorded"
    assert by_lang["zh"].rendered and wav_format(by_lang["zh"].path) == (8000, 1, 2)
    assert by_lang["zh"].path.is_relative_to(tmp_path / "cache" / "recorded")
    assert abs(frames(by_lang["zh"].path) - 4000) < 100  # the tone, not speech
    assert by_lang["en"].path == flow_dir / "greet.en.wav" and not by_lang["en"].rendered
    again = cache.prompt(greet[0].text, greet[0].lang, greet[0].audio, flow.base_dir)
    assert not again.rendered


def test_re_recording_takes_effect(tmp_path, flow_dir):
    cache = PromptCache(tmp_path / "cache", 16000)
    src = make_tone_wav(flow_dir / "greet.zh.wav", 44100, 1, seconds=0.5)
    first = cache.prompt("x", "zh", "greet.zh.wav", flow_dir)
    make_tone_wav(src, 44100, 1, seconds=1.0)
    second = cache.prompt("x", "zh", "greet.zh.wav", flow_dir)
    assert first.path != second.path and second.rendered
    assert frames(second.path) > frames(first.path)


def test_wav_for_play_is_what_the_ivr_calls(tmp_path, flow_dir):
    make_tone_wav(flow_dir / "greet.zh.wav", 8000, 1)
    recorded = wav_for_play(Play("greet.prompt", "您好", "zh", "greet.zh.wav"), tmp_path,
                            flow_dir)
    assert recorded == flow_dir / "greet.zh.wav"
    spoken = wav_for_play(Play("bye.prompt", "Goodbye.", "en"), tmp_path, flow_dir)
    assert spoken.is_relative_to(tmp_path / "prompts" / "tts" / "8000")
    assert wav_format(spoken) == (8000, 1, 2)


def test_spoken_texts_fill_keys_and_expand_the_chosen_grade(flow_dir):
    flow = load_flow(flow_dir / "tiny_voice.yaml")
    texts = list(spoken_texts(flow))
    ask_zh = next(s for s in texts if s.prompt_id == "ask.prompt" and s.lang == "zh")
    assert "{" not in ask_zh.text
    for grade in Grade:
        assert f"{grade.name_zh}请按{grade.keypad}" in ask_zh.text
    confirm_en = [s for s in texts if s.prompt_id == "confirm.prompt" and s.lang == "en"]
    assert {s.variant for s in confirm_en} == {f"grade={g.id}" for g in Grade}
    confirm_zh = [s for s in texts if s.prompt_id == "confirm.prompt" and s.lang == "zh"]
    assert all(s.needs == ("staff_id",) and not s.renderable for s in confirm_zh)


def test_every_prompt_the_golden_calls_play_is_prerendered():
    """The cache is keyed by text: what prompts render makes must be what calls play."""
    flow = resolve("hotline-rating")
    known = {(s.prompt_id, s.lang, s.text) for s in spoken_texts(flow)}
    played = set()
    for path in GOLDEN.glob("hotline_*.txt"):
        for line in path.read_text(encoding="utf-8").splitlines():
            m = re.match(r"< play (\S+) \((\w+)\)(?: \[[^]]*\])?: (.*)$", line)
            if m:
                played.add(m.groups())
    assert len(played) > 18
    assert played <= known, played - known


def test_missing_espeak_voice_is_a_tts_error(tmp_path):
    with pytest.raises(TtsError):
        synthesize("hello", "no-such-voice", 8000, tmp_path / "x.wav")
    assert not list(tmp_path.iterdir())  # no half-written file left behind


def test_cli_renders_every_shipped_prompt_then_reuses_the_cache(tmp_path, capsys):
    data, out = tmp_path / "data", tmp_path / "out"
    assert main(["prompts", "render", "--data-dir", str(data), "--out", str(out)]) == 0
    report = capsys.readouterr().out
    spoken = [s for p in shipped_paths() for s in spoken_texts(load_flow(p))]
    assert spoken and all(s.renderable for s in spoken)
    assert "0 need call context" in report and "nothing spoken" in report
    wavs = sorted((out / "hotline-rating").glob("*.wav"))
    assert len(wavs) == len(spoken)
    assert all(wav_format(w) == (8000, 1, 2) and frames(w) > 0 for w in wavs)
    index = (out / "prompts.tsv").read_text(encoding="utf-8").splitlines()
    assert len(index) == len(spoken) + 1
    assert any("confirm_grade.prompt.yue.dissatisfied.wav" in row and "唔满意" in row
               for row in index)

    assert main(["prompts", "render", "--data-dir", str(data), "--flow",
                 "hotline-rating"]) == 0
    again = capsys.readouterr().out
    assert re.search(rf"{len(spoken)} texts at 8000 Hz: 0 rendered, {len(spoken)} cached",
                     again), again


def test_cli_reports_texts_left_to_call_time(tmp_path, flow_dir, capsys):
    make_tone_wav(flow_dir / "greet.zh.wav", 22050, 1)
    assert main(["prompts", "render", "--data-dir", str(tmp_path), "--rate", "16000",
                 "--flow", str(flow_dir / "tiny_voice.yaml")]) == 0
    out = capsys.readouterr().out
    assert "1 recorded, 1 need call context" in out
    assert "confirm.prompt (zh): at call time, names {staff_id}" in out
    assert "greet.prompt (en): recorded greet.en.wav not found, synthesised" in out


def test_concurrent_requests_leave_one_file_and_no_temporaries(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    cache = PromptCache(tmp_path, 8000)
    with ThreadPoolExecutor(4) as pool:
        paths = set(pool.map(lambda _: cache.synthetic("请稍候。", "zh").path, range(4)))
    assert len(paths) == 1
    assert [p.name for p in (tmp_path / "tts" / "8000").iterdir()] == [paths.pop().name]


def test_an_unreadable_recording_is_a_tts_error_without_leftovers(tmp_path, flow_dir):
    (flow_dir / "greet.zh.wav").write_bytes(b"RIFF but not really")
    cache = PromptCache(tmp_path / "cache", 8000)
    with pytest.raises(TtsError, match="sox"):
        cache.prompt("您好", "zh", "greet.zh.wav", flow_dir)
    leftovers = list((tmp_path / "cache").rglob("*")) if (tmp_path / "cache").exists() else []
    assert [p for p in leftovers if p.is_file()] == []
