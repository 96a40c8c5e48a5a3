#!/usr/bin/env bash
# test_web_dashboard.sh: the dashboard in headless Chromium against build/tickd (tests/web/dashboard.test.mjs:
# candles, live updates, panels, interval/symbol switches, layout, themes, phone width, reconnect).
# Skips (77) when node, Chromium, playwright-core (web/node_modules) or web/dist is missing.
set -u
S=${TD_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
command -v node >/dev/null || { echo "SKIP: node not found"; [ "${TD_REQUIRE_WEB:-0}" = 1 ] && exit 1; exit 77; }
exec node "$S/tests/web/dashboard.test.mjs"
