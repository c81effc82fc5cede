"""`errand doctor`: checks what a task needs on this machine and says how to fix each gap."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from shared import paths
from shared.settings import Settings
from shared.wiring import Deps


def _check_home(settings: Settings, deps: Deps) -> str:
    paths.ensure_home(settings.home)
    with tempfile.NamedTemporaryFile(dir=settings.home):
        pass
    mode = settings.home.stat().st_mode & 0o777
    if mode & 0o077:
        raise RuntimeError(f"{settings.home} is mode {mode:o}; run chmod 700 {settings.home}")
    return f"{settings.home} is writable and private (mode {mode:o})"


def _check_bwrap(settings: Settings, deps: Deps) -> str:
    if not shutil.which("bwrap"):
        raise RuntimeError("bubblewrap is missing: sudo apt-get install -y bubblewrap")
    with tempfile.TemporaryDirectory() as ws:
        result = deps.sandbox().run(Path(ws), "echo sandbox-ok", timeout_s=30)
    if "sandbox-ok" not in result.output:
        raise RuntimeError(f"bubblewrap could not run a command: {result.output[-300:]}")
    return f"bubblewrap runs commands ({result.duration_s * 1000:.0f} ms)"


def _check_limits(settings: Settings, deps: Deps) -> str:
    from shared.adapters.bwrap_sandbox import BwrapSandbox

    probe = BwrapSandbox(require_limits=False)
    missing = probe.limits_unavailable
    if missing:
        reasons = "; ".join(f"{name}: {why}" for name, why in missing.items())
        raise RuntimeError(
            f"sandbox limits unavailable ({reasons}); run as root on a host with the memory, "
            "pids and cpu cgroup controllers (v1 or delegated v2)"
        )
    return "cgroup limits: " + ", ".join(probe.limits_active)


def _check_workspace(settings: Settings, deps: Deps) -> str:
    volumes = deps.volumes
    if volumes.backend == "loop":
        return f"workspace quota: loop-mounted ext4, {volumes.size_mb} MB per task"
    why = "; ".join(f"{k}: {v}" for k, v in volumes.unavailable.items())
    if volumes.backend == "tmpfs":
        return (
            f"workspace quota: tmpfs (RAM-backed, {volumes.size_mb} MB per task); "
            f"loop unavailable: {why}"
        )
    raise RuntimeError(f"no workspace disk quota possible: {why}")


def _check_speech(settings: Settings, deps: Deps) -> str:
    speech = deps.speech.synthesize("Errand is ready.")
    return f"{settings.speech} voice works ({speech.duration_s:.1f} s of audio)"


def _check_github(settings: Settings, deps: Deps) -> str:
    """Optional: only a configured App is checked, by authenticating as it."""
    from shared.github.doctor import check

    return check(settings, deps.github_app)


CHECKS: list[tuple[str, Callable[[Settings, Deps], str]]] = [
    ("home", _check_home),
    ("sandbox", _check_bwrap),
    ("limits", _check_limits),
    ("disk", _check_workspace),
    ("speech", _check_speech),
    ("github", _check_github),
]


def run_doctor(settings: Settings, live: bool = False) -> int:
    from shared.doctor_model import check_model

    deps = Deps(settings)
    failures = 0
    checks = [*CHECKS, ("model", lambda s, d: check_model(s, d, live))]
    for name, check in checks:
        try:
            print(f"ok    {name:<8} {check(settings, deps)}")
        except Exception as exc:
            failures += 1
            print(f"FIX   {name:<8} {exc}")
    return 1 if failures else 0
