"""The environment cache with the real sandbox: a venv built by pip inside bubblewrap, saved,
restored into another task's workspace, and used there by the sandbox as prepare would.

No network: pip installs wheels made from distributions installed in the test's own
interpreter (pytest and its dependencies) plus a tiny one written here."""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import re
import zipfile
from pathlib import Path

import pytest

from shared.adapters.bwrap_sandbox import BwrapSandbox
from shared.envcache import ARCHIVE, EnvCache, cache_key, runtime_version
from shared.testsuite import VENV_DIR

PYTEST_AND_DEPS = ("pytest", "pluggy", "iniconfig", "packaging", "pygments")
INSTALL = (
    f"python3 -m venv {VENV_DIR} && {VENV_DIR}/bin/python -m pip install --no-index "
    "--disable-pip-version-check --no-input --find-links /workspace/wheels errand-tiny pytest"
)
CHECK = (
    f"{VENV_DIR}/bin/python -m pytest --version && "
    f"{VENV_DIR}/bin/python -c 'import errand_tiny; print(\"tiny\", errand_tiny.VALUE)' && "
    f"{VENV_DIR}/bin/python -m pytest -q -p no:cacheprovider"
)


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def _write_wheel(dest: Path, name: str, version: str, files: dict[str, bytes]) -> None:
    """A pure-Python wheel holding `files` (their dist-info included, RECORD written here)."""
    dist_info = f"{name}-{version}.dist-info"
    lines = [_record_line(path, data) for path, data in files.items()]
    record = "\n".join([*lines, f"{dist_info}/RECORD,,"]) + "\n"
    with zipfile.ZipFile(dest / f"{name}-{version}-py3-none-any.whl", "w") as wheel:
        for path, data in files.items():
            wheel.writestr(path, data)
        wheel.writestr(f"{dist_info}/RECORD", record)


def wheel_from_installed(project: str, dest: Path) -> None:
    """Repackages an installed pure-Python distribution as a wheel, so that pip can install it
    without a network."""
    dist = importlib.metadata.distribution(project)
    name = re.sub(r"[-_.]+", "_", dist.metadata["Name"]).lower()
    skip = {"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"}
    files = {}
    for file in dist.files or []:
        parts = file.parts
        installer_only = parts[0].endswith(".dist-info") and parts[-1] in skip
        if ".." in parts or "__pycache__" in parts or installer_only:  # scripts, caches
            continue
        files[file.as_posix()] = Path(str(file.locate())).read_bytes()
    _write_wheel(dest, name, dist.version, files)


def tiny_wheel(dest: Path) -> None:
    info = "errand_tiny-1.0.dist-info"
    _write_wheel(
        dest,
        "errand_tiny",
        "1.0",
        {
            "errand_tiny/__init__.py": b"VALUE = 42\n",
            f"{info}/METADATA": b"Metadata-Version: 2.1\nName: errand-tiny\nVersion: 1.0\n",
            f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
            b"Tag: py3-none-any\n",
        },
    )


@pytest.fixture(scope="module")
def sandbox() -> BwrapSandbox:
    return BwrapSandbox(memory_mb=1024, pids=256)


def new_workspace(root: Path) -> Path:
    (root / "repo").mkdir(parents=True)
    (root / "repo" / "test_sample.py").write_text("def test_sample():\n    assert 1 + 1 == 2\n")
    return root


def test_a_venv_built_in_the_sandbox_works_after_restore(
    tmp_path: Path, sandbox: BwrapSandbox
) -> None:
    first = new_workspace(tmp_path / "first")
    wheels = first / "wheels"
    wheels.mkdir()
    tiny_wheel(wheels)
    for project in PYTEST_AND_DEPS:
        wheel_from_installed(project, wheels)
    built = sandbox.run(first, INSTALL, cwd="/workspace/repo", timeout_s=180)
    assert built.exit_code == 0, built.output
    key = cache_key(str(tmp_path / "origin"), {}, [INSTALL], runtime_version())
    cache = EnvCache(tmp_path / "cache")
    cache.save(key, first)

    second = new_workspace(tmp_path / "second")  # no wheels here: only the cache can help
    assert cache.restore(key, second) is True
    used = sandbox.run(second, CHECK, cwd="/workspace/repo", timeout_s=120)

    assert used.exit_code == 0, used.output
    assert re.search(r"pytest \d+\.\d+", used.output), used.output
    assert "tiny 42" in used.output and "1 passed" in used.output


def test_a_corrupted_snapshot_is_rebuilt_by_installing_again(
    tmp_path: Path, sandbox: BwrapSandbox
) -> None:
    """The flow prepare follows: restore fails on a damaged entry, so it installs and saves."""
    cache = EnvCache(tmp_path / "cache")
    key = cache_key("acme/shop", {}, ["make-env"], runtime_version())
    make_env = "python3 -m venv --without-pip /workspace/env/venv"
    first = new_workspace(tmp_path / "first")
    assert sandbox.run(first, make_env, timeout_s=60).exit_code == 0
    cache.save(key, first)
    with (cache.root / key / ARCHIVE).open("r+b") as archive:
        archive.seek(2048)
        archive.write(b"\0garbage\0")

    second = new_workspace(tmp_path / "second")
    assert cache.restore(key, second) is False
    assert sandbox.run(second, make_env, timeout_s=60).exit_code == 0
    cache.save(key, second)

    third = new_workspace(tmp_path / "third")
    assert cache.restore(key, third) is True
    ran = sandbox.run(
        third, f"{VENV_DIR}/bin/python -c 'import sys; print(sys.prefix)'", timeout_s=60
    )
    assert ran.exit_code == 0 and ran.output.strip() == VENV_DIR, ran.output
