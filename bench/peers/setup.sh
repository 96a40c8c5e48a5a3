#!/usr/bin/env bash
# Installs the Node peer's one dependency (ws) into bench/peers/node_modules (gitignored). Idempotent.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
[ -f "$here/node_modules/ws/package.json" ] && exit 0
command -v npm >/dev/null || { echo "bench/peers: npm not installed (Debian: nodejs npm)" >&2; exit 1; }
npm install --silent --no-audit --no-fund --prefix "$here" ws@8 >/dev/null
