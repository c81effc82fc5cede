#!/usr/bin/env bash
# mini-swe-agent 2.4.6 in its own venv, the peer that tests/bench/bench_peer.py runs side by side
# with Errand on the same stand-in model. litellm is pinned to the project's version (never
# 1.107.0). Idempotent: a stamp records what was installed.
set -euo pipefail
VENV=.venv-mini-swe-agent
PINS="mini-swe-agent==2.4.6 litellm[mcp]==1.106.2"
if [ -f "$VENV/.installed" ] && [ "$(cat "$VENV/.installed")" = "$PINS" ]; then
  exit 0
fi
rm -rf "$VENV"
if command -v uv >/dev/null 2>&1; then
  uv venv -q --python python3 "$VENV"
  # shellcheck disable=SC2086
  uv pip install -q --python "$VENV/bin/python" $PINS
else
  python3 -m venv "$VENV"
  # shellcheck disable=SC2086
  "$VENV/bin/pip" install -q $PINS
fi
echo "$PINS" > "$VENV/.installed"
echo "setup: installed $PINS in $VENV"
