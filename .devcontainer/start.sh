#!/usr/bin/env bash
# Codespaces start-up: the Google Cloud emulators, then `errand up` on the cloud adapters.
# The environment they use is kept in $ERRAND_HOME/cloud.env: `. $ERRAND_HOME/cloud.env` in a
# terminal makes the errand CLI talk to the same store, queue and bucket.
set -euo pipefail
cd "$(dirname "$0")/.."
home=${ERRAND_HOME:-$HOME/.errand}
mkdir -p "$home"
errand=.venv/bin/errand

nohup "$errand" emulators > "$home/cloud.env" 2> "$home/emulators.log" &
for _ in $(seq 120); do
  grep -q '^# ready$' "$home/cloud.env" 2>/dev/null && break
  sleep 0.5
done
if ! grep -q '^# ready$' "$home/cloud.env"; then
  echo "errand emulators did not start; see $home/emulators.log" >&2
  exit 1
fi
# shellcheck disable=SC1091
. "$home/cloud.env"
nohup "$errand" up --port 8080 > "$home/up.log" 2>&1 &
echo "Errand is starting on http://127.0.0.1:8080 (logs: $home/up.log, $home/emulators.log)"
echo "In a terminal: . $home/cloud.env, then e.g. errand demo"
