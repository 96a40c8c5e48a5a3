#!/usr/bin/env bash
# Runs every libFuzzer target in DIR for SECONDS each, starting from seeds cut from ../shared/data.
# Seeds for target fuzz_X are described by tests/fuzz/fuzz_X.seeds, one line each:
#   <path under shared/data> lines:N   first N lines, one seed file per line
#   <path under shared/data> bytes:N   the first N bytes as one seed
#   <path under shared/data> whole     the whole file as one seed
# and any files in tests/fuzz/corpus/fuzz_X/ (small hand-written inputs). A crash fails the run.
set -euo pipefail
dir=${1:?fuzz binary dir}; secs=${2:-10}
here=$(cd "$(dirname "$0")" && pwd)
data=${TD_SHARED_DATA:-$here/../../../shared/data}
status=0
for bin in "$dir"/fuzz_*; do
  [ -x "$bin" ] || continue
  name=$(basename "$bin")
  corpus=$(mktemp -d)
  if [ -f "$here/$name.seeds" ]; then
    n=0
    while read -r path mode; do
      [ -z "$path" ] || [ "${path:0:1}" = "#" ] && continue
      src="$data/$path"
      [ -f "$src" ] || { echo "fuzz: $name: seed file $src missing" >&2; status=1; continue; }
      case "$mode" in
        lines:*) head -n "${mode#lines:}" "$src" | while IFS= read -r line; do
                   n=$((n+1)); printf '%s\n' "$line" > "$corpus/l$RANDOM$RANDOM$n"; done ;;
        bytes:*) head -c "${mode#bytes:}" "$src" > "$corpus/b$RANDOM$n" ;;
        *)       cp "$src" "$corpus/" ;;
      esac
    done < "$here/$name.seeds"
  fi
  [ -d "$here/corpus/$name" ] && cp "$here/corpus/$name"/* "$corpus/" 2>/dev/null || true
  echo "fuzz: $name for ${secs}s ($(ls "$corpus" | wc -l) seeds)"
  if ! "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=0 \
        -artifact_prefix="$dir/$name-" "$corpus" >"$dir/$name.log" 2>&1; then
    echo "fuzz: $name FAILED; last lines of $dir/$name.log:" >&2; tail -30 "$dir/$name.log" >&2; status=1
  else
    grep -E '^#[0-9]+.*(DONE|pulse)' "$dir/$name.log" | tail -1 || true
  fi
  rm -rf "$corpus"
done
exit $status
