#!/usr/bin/env bash
# Idempotent set-up for a fresh Debian 12 machine: system packages, then the Python venv.
# Fast the second time: apt runs only for missing packages, pip only when pyproject changed.
set -euo pipefail
cd "$(dirname "$0")/.."

# podman, debootstrap and runc build and run the job image in the container-jobs test
APT_PACKAGES=(git bubblewrap slirp4netns espeak-ng uidmap iproute2 procps util-linux e2fsprogs
  podman debootstrap runc)
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ requirements.lock -nt "$stamp" ]; then
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -c requirements.lock -e '.[dev]'
  touch "$stamp"
fi

# Each area's own set-up (node packages, browsers, emulators, tool venvs) lives in
# scripts/setup.d/NN-name.sh: idempotent, quick the second time, run in name order.
for part in scripts/setup.d/*.sh; do
  [ -e "$part" ] || continue
  bash "$part"
done
