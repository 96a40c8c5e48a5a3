#!/usr/bin/env bash
# web/build.sh: builds the dashboard into web/dist when it is missing or older than its sources.
# npm ci (npm install when there is no lock) from the npm registry, then Vite. Never fails the caller's
# build: without Node.js/npm or the registry, it says so and tickd serves a "dashboard not built" page.
# WEB_STRICT=1 makes a failure an error (CI wants to know). FORCE=1 rebuilds.
set -uo pipefail
cd "$(dirname "$0")"
strict=${WEB_STRICT:-0}
give_up() {
  echo "tickd: web dashboard not built: $*" >&2
  echo "tickd: (tickd still runs; http://HOST:PORT/ shows a 'dashboard not built' page)" >&2
  [ "$strict" = 1 ] && exit 1
  exit 0
}

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then give_up "node/npm not found (apt-get install nodejs npm)"; fi
major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
[ "$major" -ge 20 ] || give_up "Node.js $(node --version) is too old for Vite 7 (needs 20.19+)"

# Dependencies: reinstalled when the lock changed since the last install.
if [ ! -d node_modules ] || [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ] \
   || [ package.json -nt node_modules/.package-lock.json ]; then
  echo "tickd: installing the dashboard's npm packages (web/node_modules)" >&2
  # `npm install`, not `npm ci`: the lock pins every version, but the registry reachable here does not serve
  # rollup's other-platform optional packages, so no lock written here can list them and `npm ci` refuses
  # such a lock on every machine. npm install takes the locked versions and skips those optional entries.
  cmd=(npm install)
  if ! "${cmd[@]}" --no-audit --no-fund --loglevel=error >/tmp/tickd-npm.log 2>&1; then
    tail -15 /tmp/tickd-npm.log >&2
    give_up "'${cmd[*]}' failed (log: /tmp/tickd-npm.log)"
  fi
  touch node_modules/.package-lock.json
fi

# The bundle: rebuilt when any source is newer than dist/index.html.
stamp=dist/index.html
if [ "${FORCE:-0}" != 1 ] && [ -f "$stamp" ] && \
   [ -z "$(find src index.html vite.config.js package.json package-lock.json -newer "$stamp" -print -quit 2>/dev/null)" ]; then
  exit 0
fi
echo "tickd: building the dashboard (web/dist)" >&2
if ! npx --no-install vite build --logLevel warn >/tmp/tickd-vite.log 2>&1; then
  tail -20 /tmp/tickd-vite.log >&2
  give_up "vite build failed (log: /tmp/tickd-vite.log)"
fi
exit 0
