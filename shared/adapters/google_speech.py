"""Speech from Cloud Text-to-Speech (`google-cloud-texttospeech`, imported lazily): MP3, with a
caption per sentence timed by SSML `<mark>` timepoints (a v1beta1 feature, hence that API)."""

from __future__ import annotations

import re
import threading
from typing import Any
from xml.sax.saxutils import escape

from shared.adapters.gcp_clients import client_kwargs
from shared.domain import Caption
from shared.errors import ConfigError, ErrandError, InvalidInput
from shared.gcp_settings import GcpSettings
from shared.ports import Speech

MAX_CHARS = 5_000
_MAX_SSML_BYTES = 5_000  # the service's limit per request
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


class SpeechServiceError(ErrandError):
    code = "speech_error"
    http_status = 502


class GoogleSpeech:
    """Implements `shared.ports.Synthesizer`. `settings.tts_voice` names the voice
    (e.g. en-US-Neural2-D); its language code is the name's first two parts."""

    def __init__(self, settings: GcpSettings) -> None:
        if settings.tts_voice.count("-") < 2:
            raise ConfigError(
                f"ERRAND_TTS_VOICE={settings.tts_voice!r} is not a voice name like "
                "en-US-Neural2-D (Text-to-Speech's voice list names them all)"
            )
        self._s = settings
        self._lock = threading.Lock()
        self._client: Any = None

    def synthesize(self, text: str) -> Speech:
        sentences = split_sentences(text)
        ssml = to_ssml(sentences)
        if len(ssml.encode()) > _MAX_SSML_BYTES:
            raise InvalidInput(
                f"the text to speak is too long for one Text-to-Speech request; keep it under "
                f"{MAX_CHARS} characters (about {_MAX_SSML_BYTES} bytes with its markup)"
            )
        from google.api_core import exceptions
        from google.cloud import texttospeech_v1beta1 as tts

        language = "-".join(self._s.tts_voice.split("-")[:2])
        try:
            reply = self._tts().synthesize_speech(
                request={
                    "input": {"ssml": ssml},
                    "voice": {"language_code": language, "name": self._s.tts_voice},
                    "audio_config": {"audio_encoding": tts.AudioEncoding.MP3},
                    "enable_time_pointing": [tts.SynthesizeSpeechRequest.TimepointType.SSML_MARK],
                }
            )
        except exceptions.BadRequest as exc:
            raise InvalidInput(f"Text-to-Speech refused the text: {exc.message}") from exc
        except (exceptions.GoogleAPICallError, exceptions.RetryError, OSError) as exc:
            raise SpeechServiceError(f"Text-to-Speech failed: {exc}") from exc
        data: bytes = reply.audio_content
        captions = [
            Caption(start_s=round(point.time_seconds, 3), text=sentences[int(point.mark_name[1:])])
            for point in reply.timepoints
            if point.mark_name.startswith("s") and point.mark_name[1:].isdigit()
        ]
        return Speech(
            data=data,
            mime_type="audio/mpeg",
            extension="mp3",
            duration_s=round(mp3_duration(data), 3),
            captions=captions,
        )

    def _tts(self) -> Any:
        with self._lock:
            if self._client is None:
                from google.cloud import texttospeech_v1beta1 as tts

                self._client = tts.TextToSpeechClient(**client_kwargs(self._s))
            return self._client


def split_sentences(text: str) -> list[str]:
    text = " ".join(text.split())
    if not text:
        raise InvalidInput("there is no text to speak — give a non-empty summary")
    if len(text) > MAX_CHARS:
        raise InvalidInput(
            f"the text to speak has {len(text)} characters; keep it under {MAX_CHARS}"
        )
    return [s for s in _SENTENCE_END.split(text) if s]


def to_ssml(sentences: list[str]) -> str:
    """A mark before each sentence ("s0", "s1", ...): its timepoint is the caption's start."""
    body = " ".join(f'<mark name="s{i}"/>{escape(s)}' for i, s in enumerate(sentences))
    return f"<speak>{body}</speak>"


_BITRATES = {
    1: [0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320],
    2: [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160],
}
_RATES = {3: [44100, 48000, 32000], 2: [22050, 24000, 16000], 0: [11025, 12000, 8000]}


def mp3_duration(data: bytes) -> float:
    """Seconds of audio in an MPEG Layer III stream, from its frame headers (the service does
    not say): skips an ID3v2 tag, stops at the first byte that is not a frame."""
    pos = 0
    if data.startswith(b"ID3") and len(data) >= 10:
        size = data[6:10]
        pos = 10 + (size[0] << 21 | size[1] << 14 | size[2] << 7 | size[3])
    seconds = 0.0
    while pos + 4 <= len(data):
        b1, b2 = data[pos + 1], data[pos + 2]
        if data[pos] != 0xFF or b1 & 0xE0 != 0xE0 or (b1 >> 1) & 0b11 != 0b01:
            break
        version = (b1 >> 3) & 0b11
        index, kbps_index = (b2 >> 2) & 0b11, b2 >> 4
        if version == 1 or index == 3 or kbps_index in (0, 15):
            break
        rate = _RATES[version][index]
        kbps = _BITRATES[1 if version == 3 else 2][kbps_index]
        samples = 1152 if version == 3 else 576
        pos += samples // 8 * kbps * 1000 // rate + ((b2 >> 1) & 1)
        seconds += samples / rate
    if seconds == 0.0:
        raise SpeechServiceError("Text-to-Speech returned audio that is not MP3")
    return seconds
