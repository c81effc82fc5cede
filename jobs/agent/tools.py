"""Tool schemas offered to the model."""

from __future__ import annotations

from shared.ports import ToolSpec

BASH = ToolSpec(
    name="bash",
    description=(
        "Run a shell command in the sandboxed repository (cwd /workspace/repo, no network). "
        "Returns the exit code and output; long output is cut to its head and tail."
    ),
    parameters={
        "type": "object",
        "properties": {"command": {"type": "string", "description": "the command to run"}},
        "required": ["command"],
    },
)

FINISH = ToolSpec(
    name="finish",
    description="Call when the work is done (or cannot be done), with a short honest summary.",
    parameters={
        "type": "object",
        "properties": {"summary": {"type": "string"}},
        "required": ["summary"],
    },
)

SUBMIT_PLAN = ToolSpec(
    name="submit_plan",
    description=(
        "Submit the plan: a summary and ordered steps, each naming the files it touches "
        "(paths relative to the repository root; add the suffix ' (new)' to files the plan "
        "creates)."
    ),
    parameters={
        "type": "object",
        "properties": {
            "summary": {"type": "string"},
            "steps": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "title": {"type": "string"},
                        "details": {"type": "string"},
                        "files": {"type": "array", "items": {"type": "string"}},
                    },
                    "required": ["title"],
                },
            },
            "check_command": {
                "type": "string",
                "description": (
                    "only when the repository has no tests: a shell command that checks the "
                    "change (exit code 0 = good), run in the sandbox without network after "
                    "the change and reported as your proposal, not as the repository's tests"
                ),
            },
        },
        "required": ["summary", "steps"],
    },
)
