"""Cloud Text-to-Speech `POST /v1beta1/text:synthesize` (and `/v1/`, which has no timepoints).

Renders real speech with espeak-ng, encodes MP3 with lameenc, and answers SSML `<mark>`
timepoints the way the service does: the time in the audio at which each mark is reached.
Only the SSML the adapters send is understood: `<speak>`, `<mark name=.../>`, `<s>`, `<p>` and
`<break>` (as a pause); other elements are read as their text."""

from __future__ import annotations

import base64
import subprocess
import tempfile
import wave
import xml.etree.ElementTree as ET

import lameenc

from shared.gcp_standin.errors import invalid

_RATE = 22050  # espeak-ng's output rate
_MAX_INPUT_BYTES = 5000  # the documented limit per request


def synthesize(body: dict[str, object], timepoints: bool) -> dict[str, object]:
    source = body.get("input")
    voice = body.get("voice") or {}
    config = body.get("audioConfig") or {}
    if not isinstance(source, dict) or not isinstance(voice, dict) or not isinstance(config, dict):
        raise invalid("input, voice and audioConfig must be objects")
    encoding = config.get("audioEncoding", "")
    if encoding != "MP3":
        raise invalid(f"audioConfig.audioEncoding {encoding!r} is not supported here; use MP3")
    language = str(voice.get("languageCode", ""))
    if not language:
        raise invalid("voice.languageCode is required")
    rate = float(config.get("speakingRate") or 1.0)
    if "ssml" in source:
        segments = _ssml_segments(str(source["ssml"]))
    elif "text" in source:
        segments = [("", str(source["text"]))]
    else:
        raise invalid("input needs text or ssml")
    if sum(len(text.encode()) for _, text in segments) > _MAX_INPUT_BYTES:
        raise invalid(f"input is longer than {_MAX_INPUT_BYTES} bytes")
    pcm = bytearray()
    marks: list[dict[str, object]] = []
    for mark, text in segments:
        if mark:
            marks.append({"markName": mark, "timeSeconds": len(pcm) / 2 / _RATE})
        if text.strip():
            pcm += _espeak(text, language, rate)
    if not pcm:
        raise invalid("the input has nothing speakable in it")
    encoder = lameenc.Encoder()
    encoder.set_bit_rate(48)
    encoder.set_in_sample_rate(_RATE)
    encoder.set_channels(1)
    encoder.set_quality(5)
    audio = encoder.encode(bytes(pcm)) + encoder.flush()
    reply: dict[str, object] = {
        "audioContent": base64.b64encode(audio).decode(),
        "audioConfig": {"audioEncoding": "MP3", "sampleRateHertz": _RATE},
    }
    pointing = body.get("enableTimePointing") or []
    if timepoints and isinstance(pointing, list) and "SSML_MARK" in pointing:
        reply["timepoints"] = marks
    return reply


def _ssml_segments(ssml: str) -> list[tuple[str, str]]:
    """[(mark name or '', text spoken after it)] in document order."""
    try:
        root = ET.fromstring(ssml)
    except ET.ParseError as exc:
        raise invalid(f"Invalid SSML: {exc}") from None
    if root.tag != "speak":
        raise invalid("SSML must have <speak> as its root element")
    segments: list[tuple[str, str]] = [("", "")]

    def add(text: str | None) -> None:
        if text:
            mark, before = segments[-1]
            segments[-1] = (mark, before + text)

    def walk(node: ET.Element) -> None:
        if node.tag == "mark":
            segments.append((node.get("name", ""), ""))
        elif node.tag == "break":
            add(" , ")
        add(node.text)
        for child in node:
            walk(child)
            add(child.tail)

    walk(root)
    return [(m, t) for m, t in segments if m or t.strip()]


def _espeak(text: str, language: str, rate: float) -> bytes:
    """Text on stdin (never an argument: text starting with '-' is not an option), WAV to a
    file (streamed WAV headers carry no real length)."""
    words_per_minute = str(int(175 * rate))
    with tempfile.TemporaryDirectory(prefix="standin-tts-") as tmp:
        out = f"{tmp}/speech.wav"
        command = ["espeak-ng", "-v", language.lower(), "-s", words_per_minute, "-w", out]
        try:
            subprocess.run(
                [*command, "--stdin"],
                input=text.encode(),
                capture_output=True,
                timeout=60,
                check=True,
            )
            with wave.open(out) as wav:
                if wav.getframerate() != _RATE or wav.getnchannels() != 1:
                    raise invalid("espeak-ng returned audio in an unexpected format")
                frames: bytes = wav.readframes(wav.getnframes())
        except (OSError, subprocess.SubprocessError, wave.Error) as exc:
            raise invalid(f"voice.languageCode {language!r} cannot be rendered: {exc}") from None
    return frames
