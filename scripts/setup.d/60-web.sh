#!/usr/bin/env bash
# The web app (web/): node packages and the production build, plus Chromium for the browser
# tests. Quick the second time: `npm ci` runs only when the lockfile changed and the build only
# when a source did (a stamp keyed on a hash of web/'s sources and the lockfile).
set -euo pipefail
cd "$(dirname "$0")/../.."

if ! command -v node >/dev/null || ! node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a==20&&b>=19)?0:1)'; then
  echo "setup (web): the web app needs Node.js >= 20.19 with npm (found: $(node --version 2>/dev/null || echo none))" >&2
  exit 1
fi
missing=()
for pkg in chromium fonts-liberation; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup (web): installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

cd web
lock_hash=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -d node_modules ] || [ "$(cat node_modules/.errand-lock 2>/dev/null)" != "$lock_hash" ]; then
  echo "setup (web): npm ci"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$lock_hash" > node_modules/.errand-lock
fi

# everything the build reads; dist/ and node_modules/ are outputs
src_hash=$( { git ls-files -co --exclude-standard -- . ':!:dist' ':!:node_modules' ':!:test-artifacts' 2>/dev/null \
  || find . -path ./node_modules -prune -o -path ./dist -prune -o -type f -print; } \
  | LC_ALL=C sort | xargs -d '\n' sha256sum | sha256sum | cut -d' ' -f1)
if [ ! -f dist/index.html ] || [ "$(cat dist/.errand-build 2>/dev/null)" != "$src_hash" ]; then
  echo "setup (web): npm run build"
  npm run build --silent
  echo "$src_hash" > dist/.errand-build
fi
