"""WebVTT captions for a spoken summary (pure).

A cue per sentence. When the synthesizer reports how long each sentence it spoke lasted (Piper
renders one chunk per sentence) and it split the text into as many sentences as we did, the cues
use those real timings; otherwise (espeak-ng reports none, or the splits disagree) each sentence
gets a share of the whole duration proportional to its number of words."""

from __future__ import annotations

import re
from collections.abc import Sequence

from shared.domain import Model

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


class Cue(Model):
    start_s: float
    end_s: float
    text: str


def sentences(text: str) -> list[str]:
    return [s for s in (part.strip() for part in _SENTENCE_END.split(text.strip())) if s]


def cues(text: str, duration_s: float, sentence_durations_s: Sequence[float] = ()) -> list[Cue]:
    parts = sentences(text)
    if not parts or duration_s <= 0:
        return []
    if len(sentence_durations_s) == len(parts):
        lengths = list(sentence_durations_s)  # the synthesizer's own timings
    else:
        lengths = [duration_s * len(p.split()) / sum(len(q.split()) for q in parts) for p in parts]
    out: list[Cue] = []
    start = 0.0
    for part, length in zip(parts, lengths, strict=True):
        end = min(duration_s, start + length)
        out.append(Cue(start_s=round(start, 3), end_s=round(end, 3), text=part))
        start = end
    return out


def _stamp(seconds: float) -> str:
    millis = round(seconds * 1000)
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}.{millis:03d}"


def webvtt(cue_list: Sequence[Cue]) -> str:
    # "-->" would end a cue's timing line early; a blank line would end the cue
    blocks = [
        f"{i}\n{_stamp(c.start_s)} --> {_stamp(c.end_s)}\n"
        + " ".join(c.text.replace("-->", "->").split())
        for i, c in enumerate(cue_list, 1)
    ]
    return "WEBVTT\n\n" + "\n\n".join(blocks) + ("\n" if blocks else "")
