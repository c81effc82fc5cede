"""Synthesizer contract: every engine turns ~40 words into a valid MP3 of plausible length."""

from __future__ import annotations

import itertools
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.adapters.google_speech import GoogleSpeech, split_sentences, to_ssml
from shared.adapters.speech import _VOICES, EspeakSpeech, PiperSpeech, make_speech, prewarm
from shared.captions import sentences
from shared.errors import ConfigError, InvalidInput
from shared.gcp_settings import GcpSettings
from shared.ports import Speech, Synthesizer

SUMMARY = (
    "Errand finished the task. It fixed the date parser so that empty strings raise a clear "
    "error, added two tests for the edge cases, and the whole test suite passes. The pull "
    "request is open and waiting for your review. Nothing else needs your attention today."
)

# MPEG audio header fields (ISO 11172-3 / 13818-3), Layer III only.
_BITRATES_KBPS = {
    1: [0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320],  # MPEG-1
    2: [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160],  # MPEG-2 and 2.5
}
_SAMPLE_RATES = {3: [44100, 48000, 32000], 2: [22050, 24000, 16000], 0: [11025, 12000, 8000]}


def mp3_seconds(data: bytes) -> float:
    """Walks the Layer III frames from the first byte and returns the audio length they hold;
    fails on anything that is not a clean run of frames (an ID3v2 tag may come first)."""
    pos = 0
    if data.startswith(b"ID3"):
        size = data[6:10]
        pos = 10 + (size[0] << 21 | size[1] << 14 | size[2] << 7 | size[3])
    seconds = 0.0
    frames = 0
    while pos + 4 <= len(data):
        b1, b2, b3 = data[pos + 1], data[pos + 2], data[pos + 3]
        assert data[pos] == 0xFF and b1 & 0xE0 == 0xE0, f"no frame sync at byte {pos}"
        version = (b1 >> 3) & 0b11  # 3 = MPEG-1, 2 = MPEG-2, 0 = MPEG-2.5
        assert (b1 >> 1) & 0b11 == 0b01, "not Layer III"
        rate = _SAMPLE_RATES[version][(b2 >> 2) & 0b11]
        kbps = _BITRATES_KBPS[1 if version == 3 else 2][b2 >> 4]
        padding = (b2 >> 1) & 1
        samples = 1152 if version == 3 else 576
        length = samples // 8 * kbps * 1000 // rate + padding
        assert b3 >> 6 == 0b11, "expected a mono stream"
        pos += length
        seconds += samples / rate
        frames += 1
    assert frames > 10 and pos == len(data), f"{frames} frames, trailing bytes at {pos}"
    return seconds


def assert_spoken(speech: Speech, text: str) -> None:
    assert speech.mime_type == "audio/mpeg"
    assert speech.extension == "mp3"
    assert speech.data[:3] == b"ID3" or (speech.data[0] == 0xFF and speech.data[1] & 0xE0 == 0xE0)
    assert 2.0 < speech.duration_s < 60.0
    # The frames hold the whole PCM (plus the encoder's delay and final-frame padding).
    assert speech.duration_s <= mp3_seconds(speech.data) < speech.duration_s + 0.2
    words = len(text.split())
    assert 80 < words / speech.duration_s * 60 < 300, "not a speaking rate in words per minute"


@pytest.fixture(scope="module")
def piper() -> Iterator[PiperSpeech]:
    yield PiperSpeech()


@pytest.fixture(params=["piper", "espeak", "google"])
def engine(request: pytest.FixtureRequest, piper: PiperSpeech) -> Synthesizer:
    if request.param == "google":  # the real client over REST, against the stand-in
        return GoogleSpeech(request.getfixturevalue("standin_settings"))
    return piper if request.param == "piper" else EspeakSpeech()


def test_synthesizes_a_summary_as_mp3(engine: Synthesizer) -> None:
    started = time.monotonic()
    speech = engine.synthesize(SUMMARY)
    took = time.monotonic() - started
    print(f"{type(engine).__name__}: {speech.duration_s:.1f} s of audio in {took:.2f} s")
    assert_spoken(speech, SUMMARY)


def test_piper_reports_each_sentence_for_captions(piper: PiperSpeech) -> None:
    speech = piper.synthesize(SUMMARY)
    assert len(speech.sentence_durations_s) == len(sentences(SUMMARY)) == 4
    assert all(d > 0.5 for d in speech.sentence_durations_s)
    assert sum(speech.sentence_durations_s) == pytest.approx(speech.duration_s, abs=0.01)


def test_piper_voice_loaded_before_fork_speaks_in_the_child(piper: PiperSpeech) -> None:
    """What the warm job pool relies on: it loads the voice, forks, and the summarize stage in
    the child synthesizes with the inherited session (none of its threads survive fork)."""
    prewarm("piper")
    loaded = _VOICES[piper._model]
    pid = os.fork()
    if pid == 0:  # the child: exit 0 only for a valid summary from the inherited voice
        code = 1
        try:
            fresh = PiperSpeech()
            assert _VOICES[fresh._model] is loaded
            assert_spoken(fresh.synthesize(SUMMARY), SUMMARY)
            code = 0
        finally:
            os._exit(code)
    deadline = time.monotonic() + 60
    while (done := os.waitpid(pid, os.WNOHANG)) == (0, 0) and time.monotonic() < deadline:
        time.sleep(0.05)
    if done == (0, 0):
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        pytest.fail("the forked child hung synthesizing with the inherited voice")
    assert os.waitstatus_to_exitcode(done[1]) == 0


def test_empty_text_is_invalid(engine: Synthesizer) -> None:
    with pytest.raises(InvalidInput, match="no text to speak"):
        engine.synthesize("  \n ")


def test_text_that_looks_like_an_option_is_spoken(engine: Synthesizer) -> None:
    speech = engine.synthesize("--help me, this sentence starts with two dashes and is spoken.")
    assert speech.duration_s > 1.0


def test_overlong_text_is_invalid(engine: Synthesizer) -> None:
    with pytest.raises(InvalidInput, match="keep it under"):
        engine.synthesize("word " * 2000)


def test_make_speech_picks_the_named_engine() -> None:
    assert isinstance(make_speech("piper"), PiperSpeech)
    assert isinstance(make_speech(" Espeak "), EspeakSpeech)
    with pytest.raises(ConfigError, match="set ERRAND_SPEECH to piper, espeak or google"):
        make_speech("festival")


def test_missing_piper_voice_names_the_fix_and_no_fallback(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"voice file .*missing.*ERRAND_SPEECH=espeak"):
        PiperSpeech(voice=str(tmp_path / "nobody.onnx"))


def test_broken_piper_voice_fails_on_first_use(tmp_path: Path) -> None:
    model = tmp_path / "broken.onnx"
    model.write_bytes(b"not a model")
    (tmp_path / "broken.onnx.json").write_text("{}")
    voice = PiperSpeech(voice=str(model))
    with pytest.raises(ConfigError, match=r"could not load the Piper voice.*ERRAND_SPEECH=espeak"):
        voice.synthesize("hello")


def test_missing_espeak_says_how_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ConfigError, match="apt-get install espeak-ng"):
        EspeakSpeech()


def test_unknown_espeak_voice() -> None:
    with pytest.raises(ConfigError, match="voice 'xx-nope'"):
        EspeakSpeech(voice="xx-nope").synthesize("hello there")


# ---------------------------------------------------------------------------- GoogleSpeech


def test_google_captions_follow_the_sentences_in_time(standin_settings: GcpSettings) -> None:
    speech = GoogleSpeech(standin_settings).synthesize(SUMMARY)
    assert_spoken(speech, SUMMARY)
    sentences = split_sentences(SUMMARY)
    assert [c.text for c in speech.captions] == sentences
    starts = [c.start_s for c in speech.captions]
    assert starts[0] == 0.0
    assert all(a + 1.0 < b for a, b in itertools.pairwise(starts)), starts
    assert starts[-1] < speech.duration_s - 1.0


def test_google_ssml_escapes_the_text() -> None:
    ssml = to_ssml(split_sentences('Fixed <b> & "quotes". Done!'))
    assert ssml == (
        '<speak><mark name="s0"/>Fixed &lt;b&gt; &amp; "quotes". <mark name="s1"/>Done!</speak>'
    )


def test_google_voice_name_is_checked() -> None:
    with pytest.raises(ConfigError, match="ERRAND_TTS_VOICE"):
        GoogleSpeech(GcpSettings(tts_voice="joe"))
