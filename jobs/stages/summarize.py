"""summarize: the model writes a short spoken summary; Speech renders it to audio."""

from __future__ import annotations

import time

from jobs.context import StageContext
from jobs.prompts import render
from jobs.stages import check
from jobs.stages.common import describe_counts
from jobs.stages.verify import changed_files
from shared.captions import cues, webvtt
from shared.domain import Audio, EventKind, Stage, Status, TestReport
from shared.errors import StageFailed
from shared.ports import Message

MAX_WORDS = 80


def verdict(t: TestReport) -> str:
    """The test verdict in plain words; never "all tests pass" unless they did, and never a
    word of tests for a repository that has none."""
    if not t.suite_found:
        return check.describe(t)
    if t.after is None:
        return "the tests were not run after the change"
    parts = [
        f"before the change {describe_counts(t.baseline)}; after it {describe_counts(t.after)}"
    ]
    if t.after_note:
        parts.append(f"the test run {t.after_note}")
    if t.newly_failing:
        parts.append(f"{len(t.newly_failing)} tests newly fail")
    if t.newly_passing:
        parts.append(f"{len(t.newly_passing)} tests newly pass")
    if t.pre_existing:
        parts.append(f"{len(t.pre_existing)} tests failed before and still fail")
    if t.flaky:
        parts.append(f"{len(t.flaky)} tests are flaky")
    if t.disappeared:
        parts.append(f"{len(t.disappeared)} tests are no longer reported")
    clean = t.after.failed == 0 and t.after.errors == 0 and not t.after_note
    if clean and t.after.passed > 0 and not t.disappeared:
        parts.append("all tests pass")
    return "; ".join(parts)


def run(ctx: StageContext) -> None:
    task = ctx.task
    model = ctx.deps.model(task.model, Stage.SUMMARIZE.value, task=task)
    messages = [
        Message(role="system", content=render("summarize_system")),
        Message(
            role="user",
            content=render(
                "summarize_user",
                prompt=task.prompt,
                plan=task.plan.summary if task.plan else "(none)",
                files=", ".join(changed_files(task.diff)) or "(none)",
                verdict=verdict(task.tests),
            ),
        ),
    ]
    completion = model.complete(messages, [])
    ctx.record_usage(completion.usage, completion.duration_s)
    text = " ".join(completion.message.content.split())
    if not text:
        raise StageFailed("empty_summary", "the model returned an empty summary")
    words = text.split(" ")
    if len(words) > MAX_WORDS:
        text = " ".join(words[:MAX_WORDS]).rstrip(",;:") + "."
    started = time.monotonic()
    speech = ctx.deps.speech.synthesize(text)
    ctx.deps.timings.speech_s += time.monotonic() - started
    ctx.failpoint("summarize.after_speech")
    key = f"tasks/{task.id}/summary.{speech.extension}"
    ctx.deps.blobs.put(key, speech.data, speech.mime_type)
    ctx.deps.blobs.put(f"tasks/{task.id}/summary.txt", text.encode(), "text/plain")
    vtt = webvtt(cues(text, speech.duration_s, speech.sentence_durations_s))
    vtt_key = f"tasks/{task.id}/summary.vtt"
    ctx.deps.blobs.put(vtt_key, vtt.encode(), "text/vtt")
    audio = Audio(
        url=ctx.deps.blobs.url(key),
        path=ctx.deps.blobs.local_path(key),
        duration_s=round(speech.duration_s, 2),
        transcript=text,
        captions_url=ctx.deps.blobs.url(vtt_key),
        captions=speech.captions,
    )
    ctx.emit(EventKind.AUDIO_READY, audio.model_dump())
    # before the terminal status: streams close on it
    ctx.emit(EventKind.TASK_COMPLETED, {"branch": task.branch, "pr_url": task.pr_url})
    ctx.move(Status.COMPLETED, audio=audio)
