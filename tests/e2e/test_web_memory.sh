#!/usr/bin/env bash
# test_web_memory.sh: bounded memory check of the dashboard (tests/web/memory.test.mjs): 6 charts for
# TD_WEB_MEM_SECONDS (default 75) against build/tickd; JS heap and DOM nodes read through the DevTools
# protocol must stay flat. The 10-minute run: tests/web/memory-long.sh.
set -u
S=${TD_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
command -v node >/dev/null || { echo "SKIP: node not found"; [ "${TD_REQUIRE_WEB:-0}" = 1 ] && exit 1; exit 77; }
exec node "$S/tests/web/memory.test.mjs"
