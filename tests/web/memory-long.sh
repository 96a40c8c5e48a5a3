#!/usr/bin/env bash
# memory-long.sh: the opt-in 10-minute memory run (not part of ctest): 6 charts for 600 s, heap sampled
# every 30 s; samples in build/screenshots/memory-600s.json. TD_WEB_MEM_SECONDS overrides the length.
set -u
S=$(cd "$(dirname "$0")/../.." && pwd)
TD_SOURCE_DIR=$S TD_BUILD_DIR=${TD_BUILD_DIR:-$S/build} TD_WEB_MEM_SECONDS=${TD_WEB_MEM_SECONDS:-600} \
  exec node "$S/tests/web/memory.test.mjs"
