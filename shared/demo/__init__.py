"""`errand demo`: a whole task on a bundled sample repository with the scripted model, so a new
user sees the flow without a model key. It says plainly that the model is scripted."""

from __future__ import annotations

import shutil
import subprocess
import sys
from importlib import resources
from pathlib import Path

from shared.settings import Settings

PROMPT = "Fix the failing test: add() returns the wrong result"


def make_sample_repo(dest: Path) -> Path:
    if dest.exists():
        shutil.rmtree(dest)
    (dest / "tests").mkdir(parents=True)
    files = resources.files(__package__)
    (dest / "calc.py").write_text(files.joinpath("calc.py.txt").read_text())
    (dest / "tests" / "test_calc.py").write_text(files.joinpath("test_calc.py.txt").read_text())
    (dest / "conftest.py").write_text("")  # puts the repo root on sys.path for pytest
    (dest / "requirements.txt").write_text("")
    env = {
        "GIT_CONFIG_GLOBAL": "/dev/null",
        "GIT_CONFIG_NOSYSTEM": "1",
        "HOME": str(dest),
        "GIT_AUTHOR_NAME": "Errand Demo",
        "GIT_AUTHOR_EMAIL": "demo@errand.invalid",
        "GIT_COMMITTER_NAME": "Errand Demo",
        "GIT_COMMITTER_EMAIL": "demo@errand.invalid",
        "PATH": "/usr/bin:/bin",
    }
    for cmd in (
        ["git", "init", "-q", "-b", "main"],
        ["git", "add", "-A"],
        ["git", "commit", "-q", "-m", "calculator with a bug"],
    ):
        subprocess.run(cmd, cwd=dest, env=env, check=True)
    return dest


def turns_path() -> Path:
    return Path(str(resources.files(__package__).joinpath("turns.json")))


def run_demo(settings: Settings, as_json: bool = False) -> int:
    from shared.cli import main

    repo = make_sample_repo(settings.home / "demo" / "calculator")
    print(
        "Errand demo: this run uses the SCRIPTED model (pre-recorded answers), not a real "
        "model, so you can see the whole flow without a key.",
        file=sys.stderr,
    )
    print(f"sample repository: {repo}", file=sys.stderr)
    argv = [
        "task",
        "create",
        "--repo",
        str(repo),
        "--prompt",
        PROMPT,
        "--model",
        f"scripted:{turns_path()}",
        "--auto-approve",
        "--wait",
    ]
    if as_json:
        argv.append("--json")
    code = main(argv)
    if not as_json and code == 0:
        print(
            f"\nThe change is on a new branch of the sample repository: "
            f"git -C {repo} log --all --oneline\n"
            "Now try it on your own repository: errand task create --repo PATH --prompt TEXT "
            "--model PROVIDER/MODEL --wait",
            file=sys.stderr,
        )
    return code
